"""Benchmark: one conditional-SNGAN training step (`sngan28`, one discriminator and one generator update, hinge loss,
Adam, batch 64 of 28x28 images, float32) in the channels-last memory layout against the default layout, at 16 and 32
channels, measured side by side in one run. The two layouts are run in interleaved rounds; each time is the best
round's mean step time. The ratio column is channels-last / default (below 1: channels-last is faster).
"""
import argparse, time

import torch

from penact.gan import CGANTrainer, GaussianLatent, sngan28


def trainer(ch, channels_last):
    torch.manual_seed(0)
    return CGANTrainer(*sngan28(32, g_ch=ch, d_ch=ch), GaussianLatent(32), n_critic=1, channels_last=channels_last)


def step_time(tr, x, y, steps):
    t = time.perf_counter()
    for _ in range(steps):
        tr.d_step(x, y)
        tr.g_step(len(x))
    return (time.perf_counter() - t) / steps


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--threads', type=int, default=1, help="torch's CPU threads (one: a grid runs one study per core)")
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--steps', type=int, default=4, help='steps per round')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))
    print(f"GAN step, batch 64, {a.threads} thread(s), best of {a.rounds} interleaved rounds of {a.steps} steps")
    print(f"{'channels':>8} {'default ms':>11} {'channels-last ms':>17} {'ratio':>6}")
    res = {}
    for ch in (16, 32):
        trs = {cl: trainer(ch, cl) for cl in (False, True)}
        for tr in trs.values(): step_time(tr, x, y, 1)            # warm-up
        best = {cl: float('inf') for cl in trs}
        for _ in range(a.rounds):
            for cl, tr in trs.items(): best[cl] = min(best[cl], step_time(tr, x, y, a.steps))
        res[ch] = best
        print(f"{ch:>8} {best[False] * 1e3:>11.1f} {best[True] * 1e3:>17.1f} {best[True] / best[False]:>6.2f}")
    print(f"16 channels, channels-last / 32 channels, default layout: {res[16][True] / res[32][False]:.2f}")


if __name__ == '__main__':
    main()
