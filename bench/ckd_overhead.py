"""Benchmark: seconds per training epoch of one student trained with Label (CE only), CKD, KD and CKD+KD.

Same student initialisation, same data, same batches, one run: the four methods are timed in interleaved rounds
(Label, CKD, KD, CKD+KD, Label, ...), each method's time is the median over rounds of the training phase of one epoch
(validation and CKD's one-off class targets excluded; the latter is timed on its own), and each ratio to Label is
the median over rounds of that round's ratio. On the CPU the clock is the process's CPU time (one thread: robust to
other jobs on a shared machine); on a GPU it is wall time with synchronisation. Prints the ratios to Label. CKD adds a gather and a C-way KL per example and no teacher forward
pass, so CKD / Label should stay near 1; KD runs the teacher on every batch.

Default: MNIST (a training subset from ../shared/data), student ConvNet(width=16, feat_dim=2), teacher
ConvNet(width=32, feat_dim=2) (untrained: the speed does not depend on its weights). `--data cifar` uses CIFAR-shaped
random tensors with WRN-16-2 / WRN-40-2 (the CIFAR-100 protocol's pair), for a GPU.
"""
import argparse, json, statistics, time
from copy import deepcopy
from pathlib import Path

import torch
from fastai.callback.core import Callback, CancelValidException
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.optimizer import SGD
from fastai.torch_core import set_seed

from penact.ckd import CKDCallback, DISTILL_METHODS, distill_cbs
from penact.data import TensorImages, mnist_dls
from penact.models.convnet import ConvNet
from penact.models.wrn import wrn_16_2, wrn_40_2


class TrainTimer(Callback):
    "Wall time of the training phase of each epoch; skips validation"
    order = 100
    def __init__(self, sync, clock): self.sync, self.clock, self.times = sync, clock, []
    def before_train(self): self.sync(); self.t0 = self.clock()
    def after_train(self): self.sync(); self.times.append(self.clock() - self.t0)
    def before_validate(self): raise CancelValidException()


def cifar_setup(n_train, bs, device):
    "CIFAR-shaped random tensors (uint8 images, 100 classes) and the CIFAR-100 protocol's pair: (dls, WRN-16-2 student, WRN-40-2 teacher, classes)"
    def ds(n, split): return TensorImages(torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8), torch.randint(0, 100, (n,)), split)
    dls = DataLoaders.from_dsets(ds(n_train, 0), ds(bs, 1), bs=bs, device=device)
    return dls, wrn_16_2(100), wrn_40_2(100).to(device), 100


def time_methods(dls, student0, teacher, device, rounds, kappa=10., radius=5., cbs=()):
    """Seconds of the training phase of one epoch for each method of `DISTILL_METHODS`, one list per method (`rounds`
    interleaved rounds after a warm-up round); `cbs()` gives extra callbacks for each learner (e.g. an autocast)"""
    dev = torch.device(device)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == 'cuda' else (lambda: None)
    clock = time.perf_counter if dev.type == 'cuda' else time.process_time
    methods = {m: (lambda l, m=m: l.add_cbs(distill_cbs(m, teacher, kappa, radius))) for m in DISTILL_METHODS}
    times = {m: [] for m in methods}
    for r in range(rounds + 1):                       # round 0 warms up and is not counted
        for m, setup in methods.items():
            timer = TrainTimer(sync, clock)
            learn = setup(Learner(dls, deepcopy(student0).to(dev), loss_func=CrossEntropyLossFlat(), opt_func=SGD, lr=0.01,
                                  cbs=[timer, *(cbs() if callable(cbs) else cbs)]))
            with learn.no_logging():
                if hasattr(learn, 'no_bar'):
                    with learn.no_bar(): learn.fit(1)
                else: learn.fit(1)
            if r: times[m].append(timer.times[0])
    return times


def ratios_to_label(times):
    "Each method's median over rounds of that round's time over Label's"
    return {m: statistics.median(a / b for a, b in zip(v, times['Label'])) for m, v in times.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', default='mnist', choices=['mnist', 'cifar'])
    ap.add_argument('--root', default=str(Path(__file__).resolve().parents[1].parent / 'shared' / 'data'), help='MNIST data root')
    ap.add_argument('--n_train', type=int, default=4096, help='training images per epoch')
    ap.add_argument('--bs', type=int, default=64)
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--json', help='also write the numbers to this file')
    args = ap.parse_args()
    dev = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == 'cuda' else (lambda: None)
    set_seed(0)
    if args.data == 'mnist':
        dls = mnist_dls(args.root, bs=args.bs, n_train=args.n_train, seed=0, device=dev)
        student0, teacher, C = ConvNet(width=16, feat_dim=2), ConvNet(width=32, feat_dim=2).to(dev), 10
    else: dls, student0, teacher, C = cifar_setup(args.n_train, args.bs, dev)
    kappa, radius = 10., 5.
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {dev}, {'wall' if dev.type == 'cuda' else 'CPU'} time, data {args.data}, "
          f"{args.n_train} images/epoch, batch {args.bs}, {args.rounds} rounds")
    times = time_methods(dls, student0, teacher, dev, args.rounds, kappa, radius)
    methods = list(times)
    t0 = time.perf_counter()
    CKDCallback(teacher.head, kappa, radius).compute_targets(dev); sync()
    t_targets = time.perf_counter() - t0
    med = {m: statistics.median(v) for m, v in times.items()}
    ratio = ratios_to_label(times)
    print(f"{'method':>8} {'s/epoch':>9} {'min':>8} {'max':>8} {'/ Label':>8}")
    for m in methods:
        print(f"{m:>8} {med[m]:9.3f} {min(times[m]):8.3f} {max(times[m]):8.3f} {ratio[m]:8.3f}")
    print(f"CKD class targets (once per fit, {C} classes, M=1000): {t_targets * 1000:.1f} ms")
    print(f"CKD / Label = {ratio['CKD']:.3f} (target <= 1.05), KD / Label = {ratio['KD']:.3f}, CKD+KD / Label = {ratio['CKD+KD']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(args=vars(args), seconds=times, median=med, ratio=ratio, targets_s=t_targets), indent=1))


if __name__ == '__main__':
    main()
