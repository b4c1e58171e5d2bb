"""Benchmark: log_prob and KL of the vMF, forward and backward, against the same for a diagonal Gaussian, in one run.

For a batch of n posteriors (random means, concentrations in [1, 100]; float32, CPU by default) and one sample
each: `log_prob` of the sample plus the KL to the uniform distribution on the sphere, then `backward` to the
parameters; the baseline is torch's `Normal` with `log_prob` summed over d plus the KL to N(0, I). Times are the best
of several interleaved rounds. Prints the ratios.
"""
import argparse, math, time

import torch
from torch.distributions import Normal, kl_divergence

from penact.vmf import VonMisesFisher, HypersphericalUniform


def best(f, reps):
    f()
    b = math.inf
    for _ in range(reps):
        t = time.perf_counter(); f(); b = min(b, time.perf_counter() - t)
    return b


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--batches', type=int, nargs='+', default=[64, 4096])
    ap.add_argument('--dims', type=int, nargs='+', default=[10, 128])
    ap.add_argument('--reps', type=int, default=30)
    ap.add_argument('--threads', type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU, float32; time in us; ratio = vMF / Normal")
    print(f"{'n':>6} {'d':>5} {'pass':>9} {'Normal':>9} {'vMF':>9} {'ratio':>7}")
    for n in args.batches:
        for d in args.dims:
            loc = torch.randn(n, d, requires_grad=True)
            raw = torch.randn(n, requires_grad=True)
            x = torch.nn.functional.normalize(torch.randn(n, d), dim=-1)
            unif = HypersphericalUniform(d, (n,))
            std = Normal(torch.zeros(n, d), torch.ones(n, d))

            def vmf_fwd():
                q = VonMisesFisher(torch.nn.functional.normalize(loc, dim=-1), 1 + 99 * torch.sigmoid(raw), validate_args=False)
                return (q.log_prob(x) + kl_divergence(q, unif)).sum()

            def normal_fwd():
                q = Normal(loc, torch.nn.functional.softplus(raw)[:, None].expand(n, d))
                return (q.log_prob(x).sum(-1) + kl_divergence(q, std).sum(-1)).sum()

            for name, vf, nf in [('forward', vmf_fwd, normal_fwd),
                                 ('fwd+bwd', lambda: vmf_fwd().backward(), lambda: normal_fwd().backward())]:
                tn = tv = math.inf
                for _ in range(3):
                    tn = min(tn, best(nf, args.reps // 3 + 1))
                    tv = min(tv, best(vf, args.reps // 3 + 1))
                print(f"{n:6d} {d:5d} {name:>9} {tn * 1e6:9.1f} {tv * 1e6:9.1f} {tv / tn:6.2f}x")


if __name__ == '__main__':
    main()
