"""Benchmark: the vMF prior's out-of-distribution score (`penact.ood.vmf_log_density`, the mixture log-density of Eq. 6's
prior) on N penultimate activations (default N = 10^6, width d = 512, C = 1000 classes), against

- plain: the same matmul and logsumexp written directly, `torch.logsumexp(z @ W.T, 1)`, and
- energy: pytorch-ood's `EnergyBased.score` on the same logits `z @ W.T` (the matmul included, as a user computes them).

All three run over the same row chunks (--chunk rows at a time, so that no N x C logit matrix is ever held), on the same
features, interleaved rep by rep; each time is the best of --reps full passes after a warm-up on one chunk. Ratios are to `plain`, measured
in this run. The prior's score must stay within 1.5x of plain: the script exits with status 1 when it does not.
"""
import argparse, math, sys, time

import torch


def plain(z, W, rows):
    out = torch.empty(len(z))
    for i in range(0, len(z), rows): out[i:i + rows] = torch.logsumexp(z[i:i + rows] @ W.T, 1)
    return out


def energy(z, W, rows):
    from pytorch_ood.detector import EnergyBased
    out = torch.empty(len(z))
    for i in range(0, len(z), rows): out[i:i + rows] = EnergyBased.score(z[i:i + rows] @ W.T)
    return out


def prior(z, W, rows, kappa=16.):
    from penact.ood import vmf_log_density
    return vmf_log_density(z, W, kappa, max_elements=rows * len(W))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n', type=int, default=10**6, help='activations scored')
    p.add_argument('--d', type=int, default=512, help='their width')
    p.add_argument('--classes', type=int, default=1000, help='number of classes C')
    p.add_argument('--chunk', type=int, default=8192, help='rows per chunk')
    p.add_argument('--reps', type=int, default=2, help='timed repetitions (best taken) after one warm-up')
    p.add_argument('--threads', type=int, default=None, help='torch threads (default: torch\'s own choice)')
    a = p.parse_args(argv)
    for k in ('n', 'd', 'classes', 'chunk', 'reps'):
        if getattr(a, k) < 1: p.error(f"--{k} must be >= 1, got {getattr(a, k)}")
    if a.threads is not None: torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    z = torch.randn(a.n, a.d)
    W = torch.randn(a.classes, a.d) / math.sqrt(a.d)
    # the prior normalises z and the rows of W: its score on unit inputs equals kappa-scaled plain logsumexp plus constants
    from penact.ood import vmf_log_density
    from penact.vmf import log_vmf_normalizer
    zs, Wn = torch.nn.functional.normalize(z[:1000], dim=1), torch.nn.functional.normalize(W, dim=1)
    ref = torch.logsumexp(16 * zs @ Wn.T, 1) + log_vmf_normalizer(torch.tensor(16.), a.d) - math.log(a.classes)
    assert torch.allclose(vmf_log_density(z[:1000], W, 16.), ref, atol=1e-4), "the prior's score disagrees with its closed form"
    fns = dict(plain=plain, prior=prior, energy=energy)
    for f in fns.values(): f(z[:a.chunk], W, a.chunk)                      # load the code paths
    best = {k: math.inf for k in fns}
    for _ in range(a.reps):
        for k, f in fns.items():
            t = time.perf_counter(); f(z, W, a.chunk); best[k] = min(best[k], time.perf_counter() - t)
    print(f"OOD score of N={a.n:,} activations, d={a.d}, C={a.classes}, {a.chunk} rows per chunk, {torch.get_num_threads()} thread(s), best of {a.reps}")
    print(f"{'method':8s} {'seconds':>9s} {'ratio to plain':>15s}")
    for k in fns: print(f"{k:8s} {best[k]:9.2f} {best[k] / best['plain']:15.3f}")
    ok = best['prior'] <= 1.5 * best['plain']
    print(f"prior within 1.5x of plain: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == '__main__': sys.exit(main())
