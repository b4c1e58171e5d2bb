"""The vMF on a CUDA device gives what it gives on the CPU: the normaliser and mean resultant length to float64
precision, samples with the right law, and the same gradients. Skipped where no CUDA device is present."""
import math

import pytest
import torch
from torch.distributions import kl_divergence

from penact.vmf import (VonMisesFisher, HypersphericalUniform, log_vmf_normalizer, mean_resultant_length,
                        _Reparam, _sample_wv, _householder)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')


@cuda
def test_normalizer_matches_cpu():
    k = torch.tensor([0., 1e-6, 0.5, 3., 40., 700., 1e4, 1e5], dtype=torch.float64)
    for d in (2, 3, 10, 64, 640, 4096):
        for f in (log_vmf_normalizer, mean_resultant_length):
            cpu, gpu = f(k, d), f(k.cuda(), d)
            assert gpu.device.type == 'cuda'
            torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-10, atol=1e-12)   # the accuracy asked of both against mpmath


@cuda
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('d', [2, 3, 10, 128])
def test_samples_and_gradients(dtype, d):
    torch.manual_seed(0)
    dev = 'cuda'
    for k in (0.5, 10., 300.):
        mu = torch.nn.functional.normalize(torch.randn(d, dtype=dtype, device=dev), dim=0)
        kappa = torch.tensor(k, dtype=dtype, device=dev)
        x = VonMisesFisher(mu, kappa).sample((200_000,))
        assert x.device.type == 'cuda' and x.dtype == dtype and torch.isfinite(x).all()
        torch.testing.assert_close(torch.linalg.vector_norm(x, dim=-1), torch.ones(len(x), dtype=dtype, device=dev),
                                   rtol=0, atol=1e-5 if dtype == torch.float32 else 1e-12)
        w = (x @ mu).double()
        a = mean_resultant_length(torch.tensor(k, dtype=torch.float64), d).item()
        assert abs(w.mean().item() - a) < 5 * w.std().item() / math.sqrt(len(w)) + 1e-6
        # per row: one sample from each of n distributions, and the kappa gradient E[d(mu^T x)/dkappa] = A_d'(kappa)
        n = 100_000
        locs = torch.nn.functional.normalize(torch.randn(n, d, dtype=dtype, device=dev), dim=-1)
        kk = torch.full((n,), k, dtype=dtype, device=dev, requires_grad=True)
        z = VonMisesFisher(locs, kk).rsample()
        g, = torch.autograd.grad((z * locs).sum(), kk)
        k64 = torch.tensor(k, dtype=torch.float64, requires_grad=True)
        da, = torch.autograd.grad(mean_resultant_length(k64, d), k64)
        assert abs(g.double().mean().item() - da.item()) < 5 * g.double().std().item() / math.sqrt(n) + 1e-5


@cuda
def test_reparam_loc_gradient_and_kl():
    torch.manual_seed(0)
    for B, S, d in [(5, 3, 4), (6, 1, 10)]:
        loc = torch.nn.functional.normalize(torch.randn(B, d, dtype=torch.float64, device='cuda'), dim=-1)
        kappa = torch.rand(B * S, dtype=torch.float64, device='cuda') * 10
        w, sig, normals, gnorm = _sample_wv(kappa, d, torch.float64)
        f = lambda l: _Reparam.apply(l, kappa, w, sig, normals, gnorm, None, d, (B, S, d))
        assert torch.autograd.gradcheck(f, (loc.clone().requires_grad_(),))
    k = torch.tensor([0.3, 5., 80.], dtype=torch.float64)
    mu = torch.nn.functional.normalize(torch.randn(3, 10, dtype=torch.float64), dim=-1)
    cpu = kl_divergence(VonMisesFisher(mu, k), HypersphericalUniform(10, (3,), dtype=torch.float64))
    gpu = kl_divergence(VonMisesFisher(mu.cuda(), k.cuda()), HypersphericalUniform(10, (3,), dtype=torch.float64, device='cuda'))
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-12, atol=1e-12)


def _reduced_precision(dtype, dev):
    "float16/bfloat16 on `dev` against float64: the functions' values, the samples' law and tail, log_prob"
    torch.manual_seed(0)
    eps = {torch.float16: 2. ** -11, torch.bfloat16: 2. ** -8}[dtype]
    for d in (2, 3, 128, 4096):
        mu = torch.eye(d, dtype=dtype, device=dev)[0]
        for k in (1., 100., 2e4):
            kh = torch.tensor(k, dtype=dtype, device=dev)
            k64 = kh.double().cpu()
            for f in (log_vmf_normalizer, mean_resultant_length):
                ours, ref = f(kh, d), f(k64, d)
                assert ours.dtype == dtype and abs(ours.double().item() - ref.item()) <= eps * abs(ref.item()) + 1e-6
            p = VonMisesFisher(mu, kh)
            n = 20000
            x = p.sample((n,))
            assert x.dtype == dtype and x.device.type == dev and torch.isfinite(x).all()
            w = x.double()[:, 0].cpu()
            a = mean_resultant_length(k64, d).item()
            assert abs(w.mean().item() - a) <= 5 * w.std().item() / math.sqrt(n) + 2 * eps, (d, k)
            if d == 2 and k == 100.: assert int((1 - w > 0.25).sum()) == 0     # P(1 - w > 0.25) is about e^-25
            lp = p.log_prob(x[:500]).double().cpu()
            lp64 = VonMisesFisher(mu.double().cpu(), k64, validate_args=False).log_prob(x[:500].double().cpu())
            assert ((lp - lp64).abs() <= eps * lp64.abs().max() + 2e-7 * (1 + k) + 1e-5).all(), (d, k)
    mu = torch.eye(2, dtype=torch.bfloat16, device=dev)[0]
    lp = VonMisesFisher(mu, torch.tensor(1e7, dtype=torch.bfloat16, device=dev)).log_prob(mu).item()
    ref = VonMisesFisher(mu.double().cpu(), torch.tensor(1e7, dtype=torch.bfloat16).double()).log_prob(mu.double().cpu()).item()
    assert abs(lp - ref) <= 2 ** -8 * abs(ref), (lp, ref)    # about 7.14


@cuda
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_reduced_precision(dtype): _reduced_precision(dtype, 'cuda')


def _non_finite_concentration(dev):
    "a NaN or infinite concentration is a ValueError when sampling, with or without validation"
    for d in (2, 3, 5, 128):
        for n in (64, 5000):
            mu = torch.nn.functional.normalize(torch.randn(n, d, device=dev), dim=-1)
            for bad in (float('nan'), float('inf')):
                kappa = torch.full((n,), 10., device=dev)
                kappa[n // 2] = bad
                for validate in (False, True):
                    with pytest.raises(ValueError, match='concentration must be finite'):
                        VonMisesFisher(mu, kappa, validate_args=validate).sample()


@cuda
def test_non_finite_concentration(): _non_finite_concentration('cuda')
