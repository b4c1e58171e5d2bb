"""Benchmark: time and peak memory of `VMFPrior.class_targets`, the class-target matrix of SPEC Eq. 7.

For each case (C classes, width d, M samples per class): a random head whose rows have norm about 1
(W = randn(C, d) / sqrt(d), bias 0), kappa = 16 and radius r = 80 (the paper's CKD norm; SPEC §2) and tau = 4 (the
paper's CKD temperature; SPEC §3) unless told otherwise. Each case runs in a fresh process, so that its peak memory is
its own: on the CPU the peak resident set (getrusage's ru_maxrss) minus the resident set just before the call; on a
GPU torch.cuda.max_memory_allocated minus the memory allocated before the call. The time is the best of --reps calls
after the measured one. The table also gives the chunk size that `max_elements` implies and the size of one chunk's
samples and logits, the memory the chunking is meant to bound.
"""
import argparse, json, math, os, resource, subprocess, sys, time

import torch
from torch import nn


def rss_bytes():
    "The resident set of this process now (Linux), else None"
    try:
        with open('/proc/self/statm') as f: return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError): return None


def maxrss_bytes():
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r if sys.platform == 'darwin' else r * 1024


def one(C, d, M, kappa, radius, tau, device, reps, max_elements):
    from penact.prior import VMFPrior
    torch.manual_seed(0)
    head = nn.Linear(d, C).to(device)
    with torch.no_grad():
        head.weight.copy_(torch.randn(C, d, device=device) / math.sqrt(d))
        head.bias.zero_()
    prior = VMFPrior.from_linear(head, kappa, radius)
    kw = dict(n_samples=M, tau=tau) | ({} if max_elements is None else dict(max_elements=max_elements))
    VMFPrior.from_linear(nn.Linear(d, 2).to(device), kappa, radius).class_targets(n_samples=2)     # load the code paths
    if device.type == 'cuda':
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else: base, peak_before = rss_bytes(), maxrss_bytes()
    t = time.perf_counter()
    P = prior.class_targets(**kw)
    if device.type == 'cuda': torch.cuda.synchronize()
    first = time.perf_counter() - t
    if device.type == 'cuda': peak = torch.cuda.max_memory_allocated() - base
    else:
        after = maxrss_bytes()
        peak = after - (base if base is not None else peak_before)
        if after <= peak_before: peak = None                                        # the call never raised the peak
    best = first
    for _ in range(reps):
        t = time.perf_counter(); prior.class_targets(**kw)
        if device.type == 'cuda': torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    assert torch.allclose(P.sum(1), torch.ones(C, device=device, dtype=P.dtype), atol=1e-4)
    me = kw.get('max_elements', 2**24)
    rows = min(C, max(1, me // (M * max(d, C))))
    return dict(C=C, d=d, M=M, seconds=best, first_seconds=first, peak_mib=None if peak is None else peak / 2**20,
                chunk_rows=rows, chunk_mib=rows * M * (d + C) * 4 / 2**20, device=str(device), threads=torch.get_num_threads())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--cases', nargs='+', default=['100,128,1000', '1000,2048,100'], help='C,d,M triples')
    ap.add_argument('--kappa', type=float, default=16.)
    ap.add_argument('--radius', type=float, default=80.)
    ap.add_argument('--tau', type=float, default=4.)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--reps', type=int, default=2, help='timed calls after the measured one')
    ap.add_argument('--max-elements', type=int, default=None, help="class_targets' max_elements (default: its own default)")
    ap.add_argument('--json', default=None, help='also write the rows to this file')
    ap.add_argument('--one', default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        C, d, M = map(int, a.one.split(','))
        print(json.dumps(one(C, d, M, a.kappa, a.radius, a.tau, torch.device(a.device), a.reps, a.max_elements)))
        return
    rows = []
    for case in a.cases:
        cmd = [sys.executable, __file__, '--one', case, '--kappa', str(a.kappa), '--radius', str(a.radius), '--tau', str(a.tau),
               '--device', a.device, '--reps', str(a.reps)] + ([] if a.max_elements is None else ['--max-elements', str(a.max_elements)])
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    print(f"class_targets: kappa={a.kappa:g}, radius={a.radius:g}, tau={a.tau:g}, device={a.device}, "
          f"torch threads={rows[0]['threads']}, torch {torch.__version__}")
    print(f"{'C':>6} {'d':>6} {'M':>6} {'time s':>9} {'first s':>9} {'peak MiB':>9} {'chunk rows':>11} {'chunk MiB':>10}")
    for r in rows:
        peak = '-' if r['peak_mib'] is None else f"{r['peak_mib']:.0f}"
        print(f"{r['C']:>6} {r['d']:>6} {r['M']:>6} {r['seconds']:>9.2f} {r['first_seconds']:>9.2f} {peak:>9} {r['chunk_rows']:>11} {r['chunk_mib']:>10.0f}")
    if a.json:
        with open(a.json, 'w') as f: json.dump(rows, f, indent=1)


if __name__ == '__main__':
    main()
