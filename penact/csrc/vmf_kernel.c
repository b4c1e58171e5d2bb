/* penact's fused CPU kernel for the von Mises-Fisher distribution at small batches (penact/vmf.py, built on first use
   by `_build_library` and called through ctypes).

   Each entry point runs, one row at a time, the formulas that the eager tensor code in vmf.py applies to a whole
   batch, in double precision whatever the tensors' dtype; the random numbers come from torch, drawn in the same
   order as on the eager path, so that both give the same samples from the same seed:
     penact_bessel            (g, q_0) = (log I_nu(x) - nu log x, x I_nu(x) / I_{nu+1}(x)): Debye's series + recurrence
     penact_wood_{f32,f64}    Wood's rejection test over each row's proposals
     penact_reflect_{...}     the reflection of e1-centred samples onto the mean direction
     penact_reflect_back_{..} its backward pass, with d theta / d kappa by Gauss-Legendre quadrature
     penact_negent_{...}      the negative entropy and its derivative
     penact_kl_{...}          KL(vMF || vMF) and its derivatives
   The _f32 / _f64 versions read and write float or double tensors, row-major; the entropy and KL functions take a
   stride per input (1: one value per row, 0: one value for all rows). */
#include <math.h>
#include <stdint.h>

#define HALF_LOG_2PI 0.91893853320467274178

/* (g, q) of one x: Debye's expansion at the orders n = nu + m and n + 1 (coefficients c0, c1 of t^0..t^(nc-1)),
   then m steps of the recurrence q_j = 2 (nu + j + 1) + x^2 / q_(j+1) down to q_0 */
static void bessel_one(double nu, int64_t m, const double *c0, const double *c1, int64_t nc, double x,
                       double *g_out, double *q_out) {
    double n = nu + (double)m;
    double r0 = hypot(x, n), r1 = hypot(x, n + 1.0);
    double t0 = n / r0, t1 = (n + 1.0) / r1, s0 = 0.0, s1 = 0.0;
    for (int64_t j = nc - 1; j >= 0; --j) { s0 = s0 * t0 + c0[j]; s1 = s1 * t1 + c1[j]; }
    double ls0 = log(s0), ls1 = log(s1), b0 = log(r0 + n), b1 = log(r1 + n + 1.0);
    double g = r0 + ls0 - n * b0 - 0.5 * log(r0) - HALF_LOG_2PI;
    double dr = (2.0 * n + 1.0) / (r0 + r1);
    double q = exp((b1 - dr) + n * log1p((dr + 1.0) / (r0 + n)) + 0.5 * log1p(dr / r0) + (ls0 - ls1));
    if (m > 0) {
        int huge = x > 1e150;          /* x^2 would overflow: q = c + x (x / q) */
        double x2 = x * x, lsum = 0.0, prod = 1.0;
        for (int64_t j = m - 1; j >= 0; --j) {
            double c = 2.0 * (nu + (double)j + 1.0);
            q = huge ? c + x * (x / q) : c + x2 / q;
            /* the sum of log q_j as the log of their product (every q_j >= 2), taken whenever the product grows large */
            if (q > 1e100) lsum += log(q);
            else { prod *= q; if (prod > 1e200) { lsum += log(prod); prod = 1.0; } }
        }
        g += lsum + log(prod);
    }
    *g_out = g; *q_out = q;
}

/* (g, q) of `bessel_one` for n values x, into g and q (coef: the two orders' coefficients, nc each) */
void penact_bessel(double nu, int64_t m, const double *coef, int64_t nc, const double *x, int64_t n, double *g, double *q) {
    for (int64_t i = 0; i < n; ++i) bessel_one(nu, m, coef, coef + nc, nc, x[i], g + i, q + i);
}

/* Gauss-Legendre rules on [0, 1]: sizes[r] nodes each, concatenated in xs and ws */
static int64_t n_nodes(double tau, int64_t d, int dbl, const int64_t *sizes, int64_t n_sizes) {
    double per = dbl ? (d == 2 ? 12.0 : 9.0) : (d == 2 ? 10.0 : 7.0);
    double floor_ = dbl ? 64.0 : (d == 2 ? 24.0 : 16.0);
    double need = per * tau > floor_ ? per * tau : floor_;
    for (int64_t r = 0; r < n_sizes; ++r) if ((double)sizes[r] >= need) return r;
    return n_sizes - 1;
}

/* d theta / d kappa at a fixed CDF value, for one sample at angle theta (cos ct, sin st) with a = A_d(kappa) */
static double dtheta_dkappa(double theta, double ct, double st, double kappa, int64_t d, double a, int dbl,
                            const int64_t *sizes, int64_t n_sizes, const double *xs, const double *ws) {
    double m = (double)(d - 2);
    if (st < 1e-150) st = 1e-150;
    double kst = kappa * st;
    double dpsi = d > 2 ? (ct * m - kst * st) / st : -kst;
    double sign = -copysign(1.0, dpsi);
    double length = M_PI / 2 + sign * (M_PI / 2 - theta);
    double d2psi = d > 2 ? kappa * ct + m / (st * st) : kappa * ct;
    double scale = fabs(dpsi) + sqrt(fabs(d2psi));
    double h0 = 0.25 / scale;
    if (!(h0 < length)) h0 = length;
    if (h0 < 1e-300) h0 = 1e-300;
    double tau_end = log1p(length / h0);
    int64_t r = n_nodes(tau_end, d, dbl, sizes, n_sizes), off = 0;
    for (int64_t k = 0; k < r; ++k) off += sizes[k];
    double psi_theta = d > 2 ? kappa * ct + m * log(st) : kappa * ct, acc = 0.0, sh = sign * h0;
    for (int64_t j = 0; j < sizes[r]; ++j) {
        double e = exp(tau_end * xs[off + j]);            /* e^tau: the offset is h0 (e^tau - 1), du/dtau = h0 e^tau */
        double s = theta + sh * (e - 1.0), cs = cos(s), lr = kappa * cs;
        if (d > 2) { double sn = sin(s); lr += m * log(sn > 1e-300 ? sn : 1e-300); }
        lr -= psi_theta;
        if (lr > 0) lr = 0;
        acc += (cs - a) * exp(lr) * e * ws[off + j];
    }
    return acc * sh * tau_end;
}

/* Wood's sampler for rows i < n: proposal 0 from normals[i] (which also gives the row's direction), proposals 1..P-1
   from g[p, i] (d <= 16) or else from (z[p, i], r2[p, i]); the first accepted one is kept (hit[i] = 0 if none) */
#define DEFINE_WOOD(NAME, REAL)                                                                                     \
void NAME(int64_t n, int64_t d, int64_t P, const REAL *kappa, int64_t nk, const REAL *normals, const REAL *g,       \
          const REAL *z, const REAL *r2, const REAL *u, REAL *w, REAL *sig, REAL *gnorm, uint8_t *hit) {           \
    double k = (double)(d - 1);                                                                                   \
    for (int64_t i = 0; i < n; ++i) {                                                                             \
        double kap = (double)kappa[nk == 1 ? 0 : i], two = 2.0 * kap;                                             \
        double a = two + hypot(two, k), inv = 1.0 / (a + k), gam = (two * inv) * (a * inv) * 2.0;                   \
        double zeta0 = 0.0, zeta = 0.0; int ok = 0;                                                               \
        for (int64_t p = 0; p < P; ++p) {                                                                         \
            double zz, rr = 0.0;                                                                                  \
            if (p == 0 || g) {                                                                                    \
                const REAL *row = p == 0 ? normals + i * d : g + (p * n + i) * d;                                 \
                zz = row[0];                                                                                      \
                for (int64_t j = 1; j < d; ++j) rr += (double)row[j] * (double)row[j];                             \
                if (p == 0) gnorm[i] = (REAL)sqrt(rr);                                                            \
            } else { zz = z[p * n + i]; rr = r2[p * n + i]; }                                                     \
            double zt = zz / sqrt(rr + zz * zz);                                                                  \
            if (!(zt >= -1.0)) zt = -1.0; else if (zt > 1.0) zt = 1.0;                                            \
            if (p == 0) zeta0 = zt;                                                                               \
            double den = 1.0 - gam * zt;                                                                          \
            if (1.0 / den + log(den) + log((double)u[p * n + i]) / k <= 1.0) { zeta = zt; ok = 1; break; }          \
        }                                                                                                         \
        if (!ok) zeta = zeta0;                                                                                    \
        hit[i] = (uint8_t)ok;                                                                                     \
        double den = 1.0 / (1.0 - gam * zeta), one_plus = zeta + 1.0;                                             \
        w[i] = (REAL)(1.0 - one_plus * den * (inv * 2.0 * k));                                                    \
        sig[i] = (REAL)(sqrt((1.0 - zeta) * one_plus) * den * (sqrt(a) * inv * 2.0 * sqrt(k)));                   \
    }                                                                                                             \
}
DEFINE_WOOD(penact_wood_f32, float)
DEFINE_WOOD(penact_wood_f64, double)

/* the reflection of rows i = b S + s about loc[b] (see _Reparam) */
#define DEFINE_REFLECT(NAME, REAL)                                                                                  \
void NAME(int64_t B, int64_t S, int64_t d, const REAL *loc, const REAL *w, const REAL *sig, const REAL *nr,        \
          const REAL *gnorm, REAL *x) {                                                                           \
    for (int64_t b = 0; b < B; ++b) {                                                                             \
        const REAL *l = loc + b * d;                                                                              \
        double p = l[0], t = copysign(1.0, p), a1 = fabs(p) + 1.0;                                                \
        for (int64_t s = 0; s < S; ++s) {                                                                         \
            int64_t i = b * S + s;                                                                                \
            const REAL *v = nr + i * d;                                                                           \
            double gn = (double)gnorm[i], ig = 1.0 / (gn > 1e-30 ? gn : 1e-30), wi = w[i], si = sig[i], mm = 0.0; \
            for (int64_t j = 1; j < d; ++j) mm += (double)v[j] * (double)l[j];                                     \
            mm *= ig;                                                                                             \
            double lq = si * mm / a1, sg = si * ig, c = lq - wi;                                                  \
            REAL *xi = x + i * d;                                                                                 \
            xi[0] = (REAL)(wi * p - t * a1 * lq);                                                                 \
            for (int64_t j = 1; j < d; ++j) xi[j] = (REAL)(sg * (double)v[j] - c * (double)l[j]);                  \
        }                                                                                                         \
    }                                                                                                             \
}
DEFINE_REFLECT(penact_reflect_f32, float)
DEFINE_REFLECT(penact_reflect_f64, double)

/* the reflection's backward pass: dL/dloc (summed over each entry's S rows; g_loc may be NULL) and dL/dkappa by
   implicit reparameterisation (g_kappa may be NULL; a = A_d(kappa) per row) */
#define DEFINE_REFLECT_BACK(NAME, REAL)                                                                             \
void NAME(int64_t B, int64_t S, int64_t d, const REAL *loc, const REAL *w, const REAL *sig, const REAL *nr,        \
          const REAL *gnorm, const REAL *kappa, const double *a, const REAL *gx, REAL *g_loc, REAL *g_kappa,        \
          int dbl, const int64_t *sizes, int64_t n_sizes, const double *xs, const double *ws) {                    \
    for (int64_t b = 0; b < B; ++b) {                                                                             \
        const REAL *l = loc + b * d;                                                                              \
        double p = l[0], t = copysign(1.0, p), a1 = fabs(p) + 1.0;                                                \
        REAL *gl = g_loc ? g_loc + b * d : 0;                                                                     \
        if (gl) for (int64_t j = 0; j < d; ++j) gl[j] = 0;                                                        \
        for (int64_t s = 0; s < S; ++s) {                                                                         \
            int64_t i = b * S + s;                                                                                \
            const REAL *v = nr + i * d, *gi = gx + i * d;                                                         \
            double gn = (double)gnorm[i], ig = 1.0 / (gn > 1e-30 ? gn : 1e-30), wi = w[i], si = sig[i];           \
            double mm = 0.0, gq = 0.0, gv = 0.0;                                                                  \
            for (int64_t j = 1; j < d; ++j) {                                                                     \
                mm += (double)v[j] * (double)l[j]; gq += (double)gi[j] * (double)l[j]; gv += (double)gi[j] * (double)v[j]; \
            }                                                                                                     \
            mm *= ig;                                                                                             \
            double lq = si * mm / a1, g1 = gi[0], h = gq / a1 + t * g1;                                           \
            if (gl) {                                                                                             \
                double c = lq - wi, e = si * h * ig;                                                              \
                gl[0] += (REAL)(wi * g1 + (t * lq / a1) * gq);                                                    \
                for (int64_t j = 1; j < d; ++j) gl[j] -= (REAL)(c * (double)gi[j] + e * (double)v[j]);             \
            }                                                                                                     \
            if (g_kappa) {                                                                                        \
                double g_w = gq + g1 * p, g_s = gv * ig - mm * h;                                                 \
                double th = atan2(si, wi);                                                                        \
                double dth = dtheta_dkappa(th, wi, si, (double)kappa[i], d, a[i], dbl, sizes, n_sizes, xs, ws);   \
                g_kappa[i] = (REAL)((wi * g_s - si * g_w) * dth);                                                 \
            }                                                                                                     \
        }                                                                                                         \
    }                                                                                                             \
}
DEFINE_REFLECT_BACK(penact_reflect_back_f32, float)
DEFINE_REFLECT_BACK(penact_reflect_back_f64, double)

/* the negative entropy kappa A - g + shift and its derivative kappa (1 - A^2) - (d - 1) A, A = kappa / q; each input
   is read with its own stride (1: one value per row, 0: one value for all) */
#define DEFINE_NEGENT(NAME, REAL)                                                                                   \
void NAME(int64_t n, int64_t d, const REAL *k, int64_t sk, const double *g, int64_t sg, const double *q, int64_t sq, \
          double shift, REAL *out, REAL *dk) {                                                                    \
    for (int64_t i = 0; i < n; ++i) {                                                                             \
        double kk = (double)k[i * sk], a = kk / q[i * sq];                                                        \
        out[i] = (REAL)(kk * a - g[i * sg] + shift);                                                              \
        dk[i] = (REAL)(kk * (1.0 - a * a) - (double)(d - 1) * a);                                                 \
    }                                                                                                             \
}
DEFINE_NEGENT(penact_negent_f32, float)
DEFINE_NEGENT(penact_negent_f64, double)

/* KL(vMF(mu_p, kp) || vMF(mu_q, kq)) = gq - gp + A_p (kp - kq c), c = mu_p . mu_q, and its derivatives in kp, kq, c */
#define DEFINE_KL(NAME, REAL)                                                                                       \
void NAME(int64_t n, int64_t d, const REAL *kp, int64_t skp, const REAL *kq, int64_t skq, const REAL *c, int64_t sc, \
          const double *gp, int64_t sgp, const double *qp, int64_t sqp, const double *gq, int64_t sgq,             \
          const double *qq, int64_t sqq, REAL *out, REAL *dkp, REAL *dkq, REAL *dc) {                              \
    for (int64_t i = 0; i < n; ++i) {                                                                             \
        double p = (double)kp[i * skp], qk = (double)kq[i * skq], cc = (double)c[i * sc];                         \
        double qpi = qp[i * sqp], ap = p / qpi, diff = p - qk * cc;                                               \
        out[i] = (REAL)((gq[i * sgq] - gp[i * sgp]) + ap * diff);                                                 \
        dkp[i] = (REAL)((1.0 - ap * ap - (double)(d - 1) / qpi) * diff);                                          \
        dkq[i] = (REAL)(qk / qq[i * sqq] - ap * cc);                                                              \
        dc[i] = (REAL)(-ap * qk);                                                                                 \
    }                                                                                                             \
}
DEFINE_KL(penact_kl_f32, float)
DEFINE_KL(penact_kl_f64, double)
