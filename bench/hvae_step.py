"""Benchmark: one HVAE training step against the Gaussian VAE step of the same MLP, and the fastai path against a
plain PyTorch loop, measured side by side in one run.

Table 1 (plain loop): batch 64, float32, MLP 784-256-128-d and back, Adam. For each latent dimension d and each kind
('plain' = HVAE, 'concat' = HVAE-C, 'prior' = HVAE-L with the KL to a vMF prior) the HVAE step (vMF posterior,
reparameterised sample, KL) is timed against a Gaussian VAE step of the same network (for 'concat' its decoder also
takes the one-hot label). The two are run in interleaved rounds; each time is the best round's mean step time.

Table 2 (latent path): the vMF part of that step alone (normalised mean, reparameterised sample, KL, backward)
against the Gaussian part (mean + noise * std, KL, backward).

Table 3 (fastai): `hvae_learner(...).fit` (training only: validation is skipped) against the plain loop a user
would write for the same model and data (in-memory uint8 images, a random permutation, dynamic binarisation,
`torch.optim.Adam` as it comes). The learner's optimiser is `penact.learner.TorchAdam`, PyTorch's Adam with its fused
kernel; the same plain loop with `fused=True` is timed too, so that the learner's own overhead shows beside the
optimiser's share.

Table 4 (`--epoch-table`, for planning the Table 4 grid): seconds per MNIST epoch of `hvae_learner(...).fit` for every
kind at Davidson et al.'s dimensions d (the Gaussian kind in R^d, the spherical kinds on S^d in R^(d+1)): 50,000
training images in batches of 64 with dynamic binarisation, timed over `--epoch-batches` batches after 20 warm-up
batches and scaled, plus one validation pass over 10,000 images; and the seconds to score 10,000 test images by
`evaluate` with K = 1000 (timed on `--ll-images` images and scaled). Real MNIST is read from the data root when it is
there (`$PENACT_DATA`), else random images of the same shape.
"""
import argparse, time

import torch
from torch import nn
import torch.nn.functional as F
from fastai.callback.core import Callback, CancelFitException, CancelValidException
from fastai.learner import CastToTensor

from penact.data import TensorImages, data_root, tensor_dls
from penact.hvae import HVAE, KINDS, evaluate, hvae_learner, label_frequencies, latent_width, neg_elbo
from penact.prior import VMFPrior
from penact.vmf import HypersphericalUniform, VonMisesFisher
from torch.distributions import kl_divergence


def mlp(n_in, widths):
    layers = []
    for w in widths: layers += [nn.Linear(n_in, w), nn.ReLU()]; n_in = w
    return layers


class GaussianVAE(nn.Module):
    "The same MLP with a Gaussian posterior and a standard normal prior (decoder also given the label if n_classes)"
    def __init__(self, d, n_classes=0):
        super().__init__()
        self.n_classes = n_classes
        self.encoder = nn.Sequential(nn.Flatten(), *mlp(784, (256, 128)))
        self.mu, self.logvar = nn.Linear(128, d), nn.Linear(128, d)
        self.decoder = nn.Sequential(*mlp(d + n_classes, (128, 256)), nn.Linear(256, 784))

    def forward(self, x, y=None):
        h = self.encoder(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        if self.n_classes: z = torch.cat([z, F.one_hot(y, self.n_classes).to(z.dtype)], -1)
        return self.decoder(z), 0.5 * (mu * mu + logvar.exp() - 1 - logvar).sum(-1)


def stepper(model, x, y, bs, fused=None):
    opt = torch.optim.Adam(model.parameters(), 1e-3, fused=fused)
    n = len(x) // bs
    def step(i):
        j = i % n
        xb, yb = x[j * bs:(j + 1) * bs], y[j * bs:(j + 1) * bs]
        out = model(xb, yb) if (isinstance(model, HVAE) and model.conditional) or getattr(model, 'n_classes', 0) else model(xb)
        loss = neg_elbo(out, xb)
        opt.zero_grad(); loss.backward(); opt.step()
    return step


def best_mean(steps, rounds, n):
    "each step function's best (over rounds) mean time in ms, rounds interleaved across the functions"
    for s in steps:
        for i in range(10): s(i)
    best = [float('inf')] * len(steps)
    for _ in range(rounds):
        for k, s in enumerate(steps):
            t = time.perf_counter()
            for i in range(n): s(i)
            best[k] = min(best[k], (time.perf_counter() - t) / n * 1e3)
    return best


def latent_path(kind, d, bs):
    "one forward and backward pass of the latent part of a VAE step, from encoder outputs to sample and KL"
    torch.manual_seed(0)
    h1, h2 = torch.randn(bs, d, requires_grad=True), torch.randn(bs, 1 if kind == 'vmf' else d, requires_grad=True)
    def step(i):
        if kind == 'vmf':
            q = VonMisesFisher(F.normalize(h1, dim=-1), F.softplus(h2).squeeze(-1) + 1, validate_args=False)
            z, kl = q.rsample(), kl_divergence(q, HypersphericalUniform(d, (bs,)))
        else:
            z = h1 + torch.randn_like(h1) * torch.exp(0.5 * h2)
            kl = 0.5 * (h1 * h1 + h2.exp() - 1 - h2).sum(-1)
        (z.sum() + kl.sum()).backward()
    return step


class NoValidation(Callback):
    def before_validate(self): raise CancelValidException()


def vae_dls(data, bs, valid='valid'):
    "training batches of grey images (binarised per step by the learner) and a validation split, in memory"
    return tensor_dls(TensorImages(*data['train']), TensorImages(*data[valid], split_idx=1), bs=bs, device='cpu')


def mnist_or_random(n_train=50_000, n_valid=10_000):
    "MNIST's first 50,000 training images and the next 10,000 (uint8, (n, 1, 28, 28)) with labels, else random ones"
    raw = data_root() / 'MNIST' / 'raw'
    try:
        imgs = torch.frombuffer(bytearray((raw / 'train-images-idx3-ubyte').read_bytes()[16:]), dtype=torch.uint8).view(-1, 1, 28, 28)
        labels = torch.frombuffer(bytearray((raw / 'train-labels-idx1-ubyte').read_bytes()[8:]), dtype=torch.uint8).long()
        src = 'MNIST'
    except OSError:
        imgs, labels, src = (torch.rand(n_train + n_valid, 1, 28, 28) * 255).to(torch.uint8), torch.randint(0, 10, (n_train + n_valid,)), 'random images'
    tr, va = slice(0, n_train), slice(n_train, n_train + n_valid)
    return dict(train=(imgs[tr], labels[tr]), valid=(imgs[va], labels[va])), src


class StopAfter(Callback):
    "times training batches warm..warm+n and then stops the fit"
    order = 100
    def __init__(self, warm, n): self.warm, self.n, self.seconds = warm, n, None
    def before_batch(self):
        if self.training and self.iter == self.warm: self.t0 = time.perf_counter()
    def after_batch(self):
        if self.training and self.iter == self.warm + self.n - 1:
            self.seconds = time.perf_counter() - self.t0
            raise CancelFitException()


def epoch_table(args):
    "Table 4: seconds per MNIST epoch (training + validation) and per scoring of 10,000 test images, per kind and d"
    bs = 64
    data, src = mnist_or_random()
    n_batches = len(data['train'][0]) // bs + (len(data['train'][0]) % bs > 0)
    print(f"\nTable 4: one MNIST epoch ({len(data['train'][0])} images from {src}, batch {bs}, dynamic binarisation), "
          f"{torch.get_num_threads()} thread(s); training timed on {args.epoch_batches} batches x {n_batches} batches per epoch;")
    print(f"log p(x) at K = 1000 on 10,000 test images (timed on {args.ll_images} images x {10_000 // args.ll_images})")
    print(f"{'kind':>9} {'d':>3} {'width':>5} {'train s':>8} {'valid s':>8} {'epoch s':>8} {'ll K=1000 s':>12}")
    p_y = label_frequencies(data['train'][1])
    rows = []
    for kind in args.table_kinds:
        for d in args.table_dims:
            torch.manual_seed(0)
            width = latent_width(kind, d)
            kw = dict(prior=VMFPrior(torch.randn(10, width), 10.)) if kind == 'prior' else {}
            dim = dict(latent_dim=d) if kind == 'gaussian' else dict(sphere_dim=d)
            learn = hvae_learner(vae_dls(data, bs), kind, **dim, **kw)
            stop = StopAfter(20, args.epoch_batches)
            with learn.no_bar(), learn.no_logging(): learn.fit(1, cbs=stop)
            train_s = stop.seconds / args.epoch_batches * n_batches
            vdl = learn.dls.valid
            with learn.no_bar(), learn.no_logging():
                t = time.perf_counter(); learn.validate(dl=vdl); valid_s = time.perf_counter() - t
            x = torch.bernoulli(data['valid'][0][:args.ll_images].float() / 255)
            t = time.perf_counter()
            evaluate(learn.model, [(x, data['valid'][1][:args.ll_images])], n_samples=1000, show_progress=False, p_y=p_y)
            ll_s = (time.perf_counter() - t) * 10_000 / args.ll_images
            rows.append((kind, d, width, train_s, valid_s, train_s + valid_s, ll_s))
            print(f"{kind:>9} {d:3d} {width:5d} {train_s:8.1f} {valid_s:8.1f} {train_s + valid_s:8.1f} {ll_s:12.0f}", flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--dims', type=int, nargs='+', default=[5, 10, 20, 64])
    ap.add_argument('--kinds', nargs='+', default=['plain', 'concat', 'prior'])
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--rounds', type=int, default=24)
    ap.add_argument('--steps', type=int, default=15, help='steps per timed round')
    ap.add_argument('--fastai-batches', type=int, default=100, help='batches per timed fastai epoch')
    ap.add_argument('--fused-adam', action='store_true', help="Table 1 with PyTorch's fused Adam in both loops")
    ap.add_argument('--epoch-table', action='store_true', help='only Table 4: seconds per MNIST epoch per kind and d (use --threads 1)')
    ap.add_argument('--table-kinds', nargs='+', default=list(KINDS))
    ap.add_argument('--table-dims', type=int, nargs='+', default=[3, 5, 10, 20], help="Davidson et al.'s d: R^d or S^d")
    ap.add_argument('--epoch-batches', type=int, default=100, help='training batches timed per configuration')
    ap.add_argument('--ll-images', type=int, default=50, help='images scored at K = 1000 per configuration')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.epoch_table:
        epoch_table(args)
        return
    torch.manual_seed(0)
    bs = 64
    x = torch.bernoulli(torch.rand(bs * 20, 1, 28, 28))
    y = torch.randint(0, 10, (bs * 20,))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU, float32, batch {bs}")
    print("\nTable 1: one training step, plain PyTorch loop (ms); ratio = HVAE / Gaussian VAE"
          + (" (both with Adam's fused kernel)" if args.fused_adam else ''))
    print(f"{'kind':>7} {'d':>4} {'Gaussian':>9} {'HVAE':>8} {'ratio':>7}")
    for kind in args.kinds:
        for d in args.dims:
            torch.manual_seed(0)
            prior = VMFPrior(torch.randn(10, d), 30.) if kind == 'prior' else None
            hv = HVAE(d, kind, prior=prior)
            ga = GaussianVAE(d, 10 if kind == 'concat' else 0)
            fused = True if args.fused_adam else None
            tg, th = best_mean([stepper(ga, x, y, bs, fused), stepper(hv, x, y, bs, fused)], args.rounds, args.steps)
            print(f"{kind:>7} {d:4d} {tg:9.2f} {th:8.2f} {th / tg:6.2f}x")

    print("\nTable 2: the latent path alone at batch 64 (us): a vMF posterior (normalised mean, rsample, KL to the uniform")
    print("distribution, backward) against a Gaussian one (mean + eps * std, KL to N(0, I), backward)")
    print(f"{'d':>4} {'Gaussian':>9} {'vMF':>8} {'ratio':>7}")
    for d in args.dims:
        tg, tv = best_mean([latent_path('gaussian', d, bs), latent_path('vmf', d, bs)], args.rounds, args.steps * 5)
        print(f"{d:4d} {tg * 1e3:9.1f} {tv * 1e3:8.1f} {tv / tg:6.2f}x")

    print("\nTable 3: one epoch of HVAE training (d = 10), fastai's Learner against a plain loop (ms per step)")
    n = bs * args.fastai_batches
    imgs = (torch.rand(n, 1, 28, 28) * 255).to(torch.uint8)
    labels = torch.randint(0, 10, (n,))
    dls = vae_dls(dict(train=(imgs, labels), valid=(imgs[:bs], labels[:bs])), bs)
    torch.manual_seed(0)
    learn = hvae_learner(dls, 'plain', 10, cbs=NoValidation())     # latent_dim=10: z on S^9
    torch.manual_seed(0)
    learn_cast = hvae_learner(dls, 'plain', 10, cbs=[NoValidation(), CastToTensor()])   # with fastai's default cast again
    def plain(**adam):
        model = HVAE(10)
        opt = torch.optim.Adam(model.parameters(), 1e-3, **adam)
        def epoch():
            perm = torch.randperm(n)
            for i in range(0, n - bs + 1, bs):
                xb = torch.bernoulli(imgs[perm[i:i + bs]].float() / 255)
                loss = neg_elbo(model(xb), xb)
                opt.zero_grad(); loss.backward(); opt.step()
        return epoch
    plain_epoch, plain_fused_epoch = plain(), plain(fused=True)

    def fastai_epoch(l):
        with l.no_bar(), l.no_logging(): l.fit(1)

    plain_epoch(); plain_fused_epoch(); fastai_epoch(learn); fastai_epoch(learn_cast)
    tp = tpf = tf = tc = float('inf')
    for _ in range(max(8, 2 * args.rounds // 3)):   # interleaved rounds, the best of each: the host's load drifts over seconds
        t = time.perf_counter(); plain_epoch(); tp = min(tp, time.perf_counter() - t)
        t = time.perf_counter(); plain_fused_epoch(); tpf = min(tpf, time.perf_counter() - t)
        t = time.perf_counter(); fastai_epoch(learn); tf = min(tf, time.perf_counter() - t)
        t = time.perf_counter(); fastai_epoch(learn_cast); tc = min(tc, time.perf_counter() - t)
    steps = n // bs
    ms = lambda t: t / steps * 1e3
    print(f"{'':>30} {'ms':>6}   {'/ plain':>7}   {'/ plain, fused Adam':>19}")
    for name, t in (('plain loop', tp), ('plain loop, fused Adam', tpf), ('hvae_learner', tf), ('hvae_learner + CastToTensor', tc)):
        print(f"{name:>30} {ms(t):6.2f}   {t / tp:6.2f}x   {t / tpf:18.2f}x")


if __name__ == '__main__':
    main()
