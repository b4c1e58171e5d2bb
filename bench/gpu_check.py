"""The GPU check: everything penact promises on a CUDA device, in one command (`make gpu-check`), in at most 8 minutes.

Stages, each with its own time limit (inside an overall budget); a stage that fails or runs out of time is recorded
and the next one runs. Every table goes to the output folder (default results/bench/) as gpu_NAME.txt, all numbers
to gpu_check.json, and a one-screen summary to gpu_summary.txt and the terminal; the exit code is 1 if any stage failed.

  setup      the Python packages: the interpreter's own, or (an offline machine whose Python lacks fastai) the wheels in
             .whl/ (`make gpu-wheels` fills it) installed into a temporary folder
  env        device name, driver, memory, torch and CUDA versions
  tests      pytest tests/test_vmf_cuda.py; on a GPU a skipped test is a failure
  notebooks  nbdev_test --flags cuda on the notebooks that have `#| cuda` cells (found by grep)
  sampler    vMF sampling, one shared mean and one mean per row, over torch.randn of the same shape
             (d = 10, 128, 2048; kappa = 1, 10, 1000; 4,096 and 10^6 rows)
  density    vMF log_prob, forward and backward, over a diagonal Gaussian's (same d and rows)
  hvae       one HVAE training step over a Gaussian VAE's of the same MLP (batch 64 and 1,024)
  ckd        one epoch of a WRN-16-2 student (batch 64, CIFAR-sized random tensors) with CKD, KD and CKD+KD over Label
  gan        one conditional-SNGAN step (CIFAR size, batch 64) with the vMF prior latent over the Gaussian latent
  cli-ckd    `penact ckd --synthetic`: teacher, prior and a CKD student, one epoch each, end to end
  cli-gan    `penact cifar10-classifier --synthetic` then `penact gan --synthetic`: one short epoch, scored end to end

The timing stages run each case in float32 and under bf16 autocast, and every number is a ratio of two times taken
in the same process, so that it does not depend on the machine's load. With --dry-run the same code runs on the
CPU with tiny sizes (the same d, kappa and methods, few rows and steps) to prove that the script works.

Sizing: the dry run took 40 s on a 2-core CPU shared with other jobs. On one H100 the GPU run is estimated at about
3 minutes: setup 10 s (30 wheels, no compilation), env 5 s, tests 30 s (200k and 100k vMF samples in 8 settings and a
gradcheck), notebooks 20 s (02_ckd top to bottom), sampler 25 s (72 cases: at 10^6 x 2048 one float32 tensor is
8 GB, about 3 ms of HBM traffic), density 15 s, hvae 10 s, ckd 25 s (4 methods x 4 epochs of 20 steps x 2
precisions), gan 10 s, cli-ckd 20 s, cli-gan 30 s; each stage pays 3-5 s to import torch and fastai and start CUDA.
The limits below add up to 470 s, so a run that hits every limit still ends within 8 minutes.
"""
import argparse, json, os, platform, re, resource, shutil, signal, statistics, subprocess, sys, tempfile, time, traceback
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / 'bench'

# name: (seconds on a GPU, seconds in the dry run)
LIMITS = {'setup': (40, 60), 'env': (20, 30), 'tests': (70, 60), 'notebooks': (70, 90), 'sampler': (50, 30),
          'density': (35, 30), 'hvae': (30, 30), 'ckd': (45, 60), 'gan': (30, 30), 'cli-ckd': (35, 60), 'cli-gan': (45, 60)}
TIMED = ('env', 'sampler', 'density', 'hvae', 'ckd', 'gan')      # stages that run in a worker process of this script

SIZES = {
    'gpu': dict(dims=(10, 128, 2048), kappas=(1., 10., 1000.), rows=(4096, 10**6), reps=7,
                hvae_bs=(64, 1024), hvae_dims=(10, 64), hvae_rounds=5, hvae_steps=20,
                ckd_bs=64, ckd_n=64 * 20, ckd_rounds=3, gan_bs=64, gan_ch=(256, 128), gan_rounds=3, gan_steps=5,
                cli_ckd=['--n_samples', '1000'], cli_clf=[],
                cli_gan=['--kappa', '16', '--n_steps', '4', '--n_critic', '1', '--n_eval', '500', '--n_real', '256', '--gan_train_epochs', '1',
                         '--n_gan_train', '256']),
    'dry': dict(dims=(10, 2048), kappas=(1., 1000.), rows=(8, 32), reps=1,
                hvae_bs=(8,), hvae_dims=(10,), hvae_rounds=1, hvae_steps=1,
                ckd_bs=4, ckd_n=4, ckd_rounds=1, gan_bs=4, gan_ch=(16, 16), gan_rounds=1, gan_steps=1,
                cli_ckd=['--n_samples', '20', '--bs', '4'], cli_clf=['--bs', '4', '--arch', 'wrn_16_2'],
                cli_gan=['--kappa', '16', '--n_steps', '2', '--n_critic', '1', '--n_eval', '20', '--n_real', '16', '--gan_train_epochs', '1',
                         '--n_gan_train', '16', '--bs', '4', '--g_ch', '16', '--d_ch', '16']),
}


class StageTimeout(Exception): pass


def _alarm(signum, frame): raise StageTimeout()


# ---------------------------------------------------------------------------------------------------------- worker
def _torch_env(dry):
    "(torch, device, sync, precisions): the device, a synchronising no-op on the CPU, and the two precision contexts"
    import torch
    if not dry and not torch.cuda.is_available(): raise RuntimeError("no CUDA device: run with --dry-run on a CPU")
    dev = torch.device('cpu' if dry else 'cuda')
    if dry: torch.set_num_threads(1)
    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)
    precs = {'float32': nullcontext, 'bf16': lambda: torch.autocast(dev.type, dtype=torch.bfloat16)}
    return torch, dev, sync, precs


def _free(torch):
    if torch.cuda.is_available(): torch.cuda.empty_cache()


def _oom(torch, e):
    "Whether e is an out-of-memory error (recorded in the table as OOM; the stage goes on)"
    return isinstance(e, torch.cuda.OutOfMemoryError) or 'out of memory' in str(e)


def stage_env(cfg, dry):
    torch, dev, _, _ = _torch_env(dry)
    info = dict(python=platform.python_version(), torch=torch.__version__, cuda=torch.version.cuda,
                cudnn=torch.backends.cudnn.version(), device=str(dev), cpu_count=os.cpu_count(), platform=platform.platform())
    import penact
    info['penact'] = penact.__version__
    if dev.type == 'cuda':
        p = torch.cuda.get_device_properties(0)
        info.update(device_name=p.name, memory_gib=round(p.total_memory / 2**30, 1), multiprocessors=p.multi_processor_count,
                    capability=f"{p.major}.{p.minor}", bf16=torch.cuda.is_bf16_supported())
        smi = shutil.which('nvidia-smi')
        if smi:
            r = subprocess.run([smi, '--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'],
                               capture_output=True, text=True, timeout=15)
            info['nvidia_smi'] = r.stdout.strip()
            info['driver'] = r.stdout.split(',')[1].strip() if r.returncode == 0 and ',' in r.stdout else None
    else:
        info.update(device_name=platform.processor() or platform.machine(), driver=None)
    lines = [f"{k:>16}: {v}" for k, v in info.items()]
    return '\n'.join(lines), info


def stage_sampler(cfg, dry):
    "vMF sampling over torch.randn(n, d): one shared mean (n samples of one distribution) and one mean per row"
    torch, dev, sync, precs = _torch_env(dry)
    sys.path.insert(0, str(BENCH))
    from vmf_sampler import timed
    from penact.vmf import VonMisesFisher
    torch.manual_seed(0)
    rows, lines = [], [f"vMF sampling on {dev} over torch.randn(n, d) of the same shape: median of {cfg['reps']} paired "
                       f"calls; randn in ms", f"{'precision':>9} {'d':>5} {'kappa':>6} {'n':>8} {'randn ms':>9} "
                       f"{'shared/randn':>13} {'per-row/randn':>14}"]
    for prec, ctx in precs.items():
        for d in cfg['dims']:
            for k in cfg['kappas']:
                for n in cfg['rows']:
                    row = dict(precision=prec, d=d, kappa=k, n=n)
                    try:
                        with ctx():
                            mu = torch.zeros(d, device=dev); mu[1] = 1
                            shared = VonMisesFisher(mu, torch.tensor(k, device=dev), validate_args=False)
                            per_row = VonMisesFisher(torch.nn.functional.normalize(torch.randn(n, d, device=dev), dim=-1),
                                                     torch.full((n,), k, device=dev), validate_args=False)
                            x = shared.sample((n,)); z = per_row.sample()
                            assert x.shape == z.shape == (n, d) and bool(torch.isfinite(x).all() and torch.isfinite(z).all())
                            del x, z
                            pairs = []
                            for _ in range(cfg['reps']):
                                tr = timed(lambda: (torch.randn(n, d, device=dev), sync()))
                                pairs.append((tr, timed(lambda: (shared.sample((n,)), sync())) / tr,
                                              timed(lambda: (per_row.sample(), sync())) / tr))
                        row.update(randn_ms=1e3 * statistics.median(p[0] for p in pairs),
                                   shared_over_randn=statistics.median(p[1] for p in pairs),
                                   per_row_over_randn=statistics.median(p[2] for p in pairs))
                        lines.append(f"{prec:>9} {d:5d} {k:6g} {n:8d} {row['randn_ms']:9.3f} {row['shared_over_randn']:12.2f}x "
                                     f"{row['per_row_over_randn']:13.2f}x")
                    except Exception as e:
                        if not _oom(torch, e): raise
                        row['error'] = 'OOM'
                        lines.append(f"{prec:>9} {d:5d} {k:6g} {n:8d} {'out of memory':>38}")
                    finally:
                        shared = per_row = None
                        _free(torch)
                    rows.append(row)
    return '\n'.join(lines), rows


def stage_density(cfg, dry):
    "vMF log_prob (random means, kappa in [1, 100]) with its backward, over a diagonal Gaussian's log_prob summed over d"
    torch, dev, sync, precs = _torch_env(dry)
    sys.path.insert(0, str(BENCH))
    from vmf_density import best
    from penact.vmf import VonMisesFisher
    from torch.distributions import Normal
    F = torch.nn.functional
    torch.manual_seed(0)
    rows, lines = [], [f"log_prob on {dev}, forward and backward to the parameters: vMF over Normal (best of {cfg['reps']})",
                       f"{'precision':>9} {'d':>5} {'n':>8} {'Normal ms':>10} {'vMF ms':>9} {'ratio':>7}"]
    for prec, ctx in precs.items():
        for d in cfg['dims']:
            for n in cfg['rows']:
                row = dict(precision=prec, d=d, n=n)
                try:
                    loc = torch.randn(n, d, device=dev, requires_grad=True)
                    raw = torch.randn(n, device=dev, requires_grad=True)
                    x = F.normalize(torch.randn(n, d, device=dev), dim=-1)
                    def vmf():
                        with ctx():
                            q = VonMisesFisher(F.normalize(loc, dim=-1), 1 + 99 * torch.sigmoid(raw), validate_args=False)
                            lp = q.log_prob(x)
                        assert lp.shape == (n,)
                        lp.sum().backward(); sync()
                    def normal():
                        with ctx():
                            lp = Normal(loc, F.softplus(raw)[:, None].expand(n, d)).log_prob(x).sum(-1)
                        lp.sum().backward(); sync()
                    tn, tv = best(normal, cfg['reps']), best(vmf, cfg['reps'])
                    assert torch.isfinite(loc.grad).all() and torch.isfinite(raw.grad).all()
                    row.update(normal_ms=1e3 * tn, vmf_ms=1e3 * tv, ratio=tv / tn)
                    lines.append(f"{prec:>9} {d:5d} {n:8d} {1e3 * tn:10.3f} {1e3 * tv:9.3f} {tv / tn:6.2f}x")
                except Exception as e:
                    if not _oom(torch, e): raise
                    row['error'] = 'OOM'
                    lines.append(f"{prec:>9} {d:5d} {n:8d} {'out of memory':>28}")
                finally:
                    loc = raw = x = None
                    _free(torch)
                rows.append(row)
    return '\n'.join(lines), rows


def stage_hvae(cfg, dry):
    "One HVAE training step (vMF posterior, uniform or vMF-prior KL) over a Gaussian VAE step of the same MLP, plain loop"
    torch, dev, sync, precs = _torch_env(dry)
    sys.path.insert(0, str(BENCH))
    from hvae_step import GaussianVAE, best_mean, stepper
    from penact.hvae import HVAE
    from penact.prior import VMFPrior
    rows, lines = [], [f"one training step on {dev} (MLP 784-256-128-d, Adam): HVAE over Gaussian VAE, best of "
                       f"{cfg['hvae_rounds']} rounds of {cfg['hvae_steps']} steps",
                       f"{'precision':>9} {'kind':>6} {'d':>4} {'batch':>6} {'Gaussian ms':>12} {'HVAE ms':>8} {'ratio':>7}"]
    for prec, ctx in precs.items():
        for bs in cfg['hvae_bs']:
            torch.manual_seed(0)
            x = torch.bernoulli(torch.rand(bs * 4, 1, 28, 28, device=dev))
            y = torch.randint(0, 10, (bs * 4,), device=dev)
            for kind in ('plain', 'prior'):
                for d in cfg['hvae_dims']:
                    torch.manual_seed(0)
                    prior = VMFPrior(torch.randn(10, d), 30.) if kind == 'prior' else None
                    hv, ga = HVAE(d, kind, prior=prior).to(dev), GaussianVAE(d).to(dev)
                    def timed_step(model):
                        s = stepper(model, x, y, bs)
                        def f(i):
                            with ctx(): s(i)
                            sync()
                        return f
                    tg, th = best_mean([timed_step(ga), timed_step(hv)], cfg['hvae_rounds'], cfg['hvae_steps'])
                    assert all(torch.isfinite(p).all() for p in hv.parameters())
                    rows.append(dict(precision=prec, kind=kind, d=d, batch=bs, gaussian_ms=tg, hvae_ms=th, ratio=th / tg))
                    lines.append(f"{prec:>9} {kind:>6} {d:4d} {bs:6d} {tg:12.3f} {th:8.3f} {th / tg:6.2f}x")
            _free(torch)
    return '\n'.join(lines), rows


def stage_ckd(cfg, dry):
    "A WRN-16-2 student's training epoch with each distillation method over Label (CE only), WRN-40-2 teacher"
    torch, dev, sync, precs = _torch_env(dry)
    sys.path.insert(0, str(BENCH))
    from ckd_overhead import cifar_setup, ratios_to_label, time_methods
    from fastai.callback.core import Callback
    from fastai.torch_core import set_seed

    class Autocast(Callback):
        "The forward pass and loss under autocast (bf16 needs no gradient scaling)"
        order = 10
        def before_batch(self): self.ctx = precs['bf16'](); self.ctx.__enter__()
        def after_loss(self): self.ctx.__exit__(None, None, None)

    n_steps = cfg['ckd_n'] // cfg['ckd_bs']
    rows, lines = [], [f"one epoch of {n_steps} steps on {dev}, WRN-16-2 student, WRN-40-2 teacher, batch {cfg['ckd_bs']}, "
                       f"CIFAR-sized random tensors; median of {cfg['ckd_rounds']} interleaved rounds",
                       f"{'precision':>9} {'method':>7} {'ms/step':>8} {'/ Label':>8}"]
    for prec in precs:
        set_seed(0)
        dls, student0, teacher, _ = cifar_setup(cfg['ckd_n'], cfg['ckd_bs'], dev)
        times = time_methods(dls, student0, teacher, dev, cfg['ckd_rounds'], cbs=(lambda: [Autocast()]) if prec == 'bf16' else ())
        ratio = ratios_to_label(times)
        for m, t in times.items():
            ms = 1e3 * statistics.median(t) / n_steps
            rows.append(dict(precision=prec, method=m, ms_per_step=ms, over_label=ratio[m]))
            lines.append(f"{prec:>9} {m:>7} {ms:8.2f} {ratio[m]:7.2f}x")
        _free(torch)
    return '\n'.join(lines), rows


def stage_gan(cfg, dry):
    "One discriminator and one generator step of the CIFAR conditional SNGAN: vMF prior latent over Gaussian latent"
    torch, dev, sync, precs = _torch_env(dry)
    sys.path.insert(0, str(BENCH))
    from gan_step import step_time
    from penact.gan import CGANTrainer, GaussianLatent, PriorLatent, sngan32
    from penact.prior import VMFPrior
    g_ch, d_ch = cfg['gan_ch']
    bs = cfg['gan_bs']
    rows, lines = [], [f"one D and one G step on {dev}, sngan32 (g_ch {g_ch}, d_ch {d_ch}), batch {bs}, hinge loss, Adam: "
                       f"vMF-prior latent over Gaussian latent, best of {cfg['gan_rounds']} rounds of {cfg['gan_steps']} steps",
                       f"{'precision':>9} {'Gaussian ms':>12} {'vMF ms':>8} {'ratio':>7}"]
    x, y = torch.rand(bs, 3, 32, 32, device=dev), torch.randint(0, 10, (bs,), device=dev)
    for prec, ctx in precs.items():
        trs = {}
        for name in ('gaussian', 'vmf'):
            torch.manual_seed(0)
            G, D = sngan32(latent_dim=128, n_classes=10, g_ch=g_ch, d_ch=d_ch)
            lat = (GaussianLatent(128) if name == 'gaussian' else
                   PriorLatent(VMFPrior.from_linear(torch.nn.Linear(128, 10), 16., 8.)))
            trs[name] = CGANTrainer(G, D, lat, n_critic=1, device=dev)
        best = {k: float('inf') for k in trs}
        with ctx():
            for tr in trs.values(): step_time(tr, x, y, 1)                   # warm-up
            for _ in range(cfg['gan_rounds']):
                for k, tr in trs.items(): best[k] = min(best[k], step_time(tr, x, y, cfg['gan_steps']))
        assert all(torch.isfinite(p).all() for tr in trs.values() for p in tr.gen.parameters())
        rows.append(dict(precision=prec, gaussian_ms=1e3 * best['gaussian'], vmf_ms=1e3 * best['vmf'], ratio=best['vmf'] / best['gaussian']))
        lines.append(f"{prec:>9} {1e3 * best['gaussian']:12.2f} {1e3 * best['vmf']:8.2f} {best['vmf'] / best['gaussian']:6.2f}x")
        trs = None
        _free(torch)
    return '\n'.join(lines), rows


def worker(names, out, dry):
    "Run the timing stages `names` in this process, each under its own alarm; write each one's table and record"
    sys.path.insert(0, str(ROOT))
    cfg = SIZES['dry' if dry else 'gpu']
    signal.signal(signal.SIGALRM, _alarm)
    for name in names:
        t0 = time.perf_counter()
        rec = dict(stage=name)
        signal.alarm(LIMITS[name][dry])
        try:
            table, data = globals()['stage_' + name](cfg, dry)
            rec.update(status='ok', data=data)
            (out / f'gpu_{name}.txt').write_text(table + '\n')
        except StageTimeout: rec.update(status='timeout', error=f"over its limit of {LIMITS[name][dry]} s")
        except Exception as e:
            rec.update(status='failed', error=f"{type(e).__name__}: {e}")
            (out / f'gpu_{name}.txt').write_text(traceback.format_exc())
        finally: signal.alarm(0)
        rec['seconds'] = time.perf_counter() - t0
        (out / f'.stage_{name}.json').write_text(json.dumps(rec))


# ---------------------------------------------------------------------------------------------------------- driver
class Check:
    "The stages in order, within an overall budget; the records of all of them"
    def __init__(self, out, dry, budget):
        self.out, self.dry, self.deadline = out, dry, time.perf_counter() + budget
        self.records, self.env = [], dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(ROOT)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]), PYTHONUNBUFFERED='1',
            PYTHONWARNINGS='ignore::FutureWarning')
        if dry: self.env.update(CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1')
        self.cfg = SIZES['dry' if dry else 'gpu']
        self.tmp = Path(tempfile.mkdtemp(prefix='penact-gpu-check-'))

    def limit(self, *names):
        "Seconds allowed to these stages: their limits, within what is left of the budget"
        return max(1., min(sum(LIMITS[n][self.dry] for n in names), self.deadline - time.perf_counter()))

    def run(self, cmd, limit, log, cwd=ROOT):
        "Run cmd; its output is appended to log; (returncode or None on timeout, output)"
        try:
            r = subprocess.run(cmd, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=limit)
            text, rc = r.stdout + r.stderr, r.returncode
        except subprocess.TimeoutExpired as e:
            text, rc = (e.stdout or b'').decode(errors='replace') if isinstance(e.stdout, bytes) else (e.stdout or ''), None
        with open(log, 'a') as f: f.write(f"$ {' '.join(map(str, cmd))}\n{text}\n(exit {rc if rc is not None else 'timeout'})\n\n")
        return rc, text

    def stage(self, name, fn):
        t0, c0 = time.perf_counter(), _cpu()
        rec = dict(stage=name)
        try:
            status, info = fn(self.limit(name))
            rec.update(status=status, **info)
        except Exception as e: rec.update(status='failed', error=f"{type(e).__name__}: {e}")
        rec.update(seconds=time.perf_counter() - t0, cpu_seconds=_cpu() - c0)
        self.records.append(rec)
        print(f"  {name:10s} {rec['status']:8s} {rec['seconds']:6.1f} s  {rec.get('error', rec.get('note', ''))}"[:150], flush=True)

    # -- stages run as commands
    def setup(self, limit):
        probe = [sys.executable, '-c', 'import fastai, nbdev, execnb, penact.vmf']
        if subprocess.run(probe, env=self.env, capture_output=True, cwd=ROOT).returncode == 0:
            return 'ok', dict(note=f"{sys.executable} has every package")
        wheels = sorted((ROOT / '.whl').glob('*.whl'))
        if not wheels: return 'failed', dict(error=f"{sys.executable} lacks fastai/nbdev/execnb and .whl/ holds no wheels (make gpu-wheels)")
        site = self.tmp / 'site'
        rc, text = self.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-index', '--no-deps', '--no-compile',
                             '--no-cache-dir', '--target', str(site)] + [str(w) for w in wheels], limit, self.out / 'gpu_setup.txt')
        if rc != 0: return 'failed', dict(error=f"pip install of {len(wheels)} wheels from .whl/ failed (gpu_setup.txt)")
        self.env['PYTHONPATH'] += os.pathsep + str(site)            # only what the interpreter lacks: nothing is shadowed
        if subprocess.run(probe, env=self.env, capture_output=True, cwd=ROOT).returncode != 0:
            return 'failed', dict(error="fastai, nbdev or execnb still do not import after installing .whl/")
        return 'ok', dict(note=f"{len(wheels)} wheels from .whl/ into {site}")

    def tests(self, limit):
        log = self.out / 'gpu_tests.txt'
        log.write_text('')
        rc, text = self.run([sys.executable, '-m', 'pytest', 'tests/test_vmf_cuda.py', '-q', '-rs', '-p', 'no:cacheprovider'], limit, log)
        counts = {k: int(v) for v, k in re.findall(r'(\d+) (passed|failed|skipped|errors?)', text)}
        info = dict(counts=counts, note=', '.join(f"{v} {k}" for k, v in counts.items()))
        if rc is None: return 'timeout', info | dict(error=f"over its limit of {limit:.0f} s")
        if rc != 0: return 'failed', info | dict(error=f"pytest exit {rc}: {info['note']}")
        if not self.dry and counts.get('skipped'): return 'failed', info | dict(error=f"{counts['skipped']} CUDA tests skipped on a GPU")
        return 'ok', info

    def notebooks(self, limit):
        log = self.out / 'gpu_notebooks.txt'
        log.write_text('')
        nbs = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / 'nbs').glob('*.ipynb')
                     if re.search(r'"#\|\s*cuda\b', p.read_text()))
        if not nbs: return 'failed', dict(error="no notebook in nbs/ has a #| cuda cell")
        flags = '' if self.dry else 'cuda'                        # on the CPU the cuda cells cannot run: the rest of each does
        bad, end = [], time.perf_counter() + limit
        for nb in nbs:
            # nbdev_test as a function (its console script may not be installed): it exits 1 when a cell fails
            call = f"from nbdev.test import nbdev_test; nbdev_test(path={nb!r}, flags={flags!r}, n_workers=1)"
            rc, text = self.run([sys.executable, '-c', call], max(1., end - time.perf_counter()), log)
            if rc != 0 or 'Success.' not in text: bad.append(f"{nb} ({'timeout' if rc is None else f'exit {rc}'})")
        info = dict(notebooks=nbs, note=f"{len(nbs)} notebook(s) with cuda cells: {', '.join(nbs)}")
        return ('failed', info | dict(error='; '.join(bad))) if bad else ('ok', info)

    def _penact(self, args, limit, log):
        return self.run([sys.executable, '-c', 'import sys; from penact.cli import main; sys.exit(main())', *args], limit, log)

    def cli_ckd(self, limit):
        log, d = self.out / 'gpu_cli-ckd.txt', self.tmp / 'ckd'
        log.write_text('')
        t0 = time.perf_counter()
        rc, _ = self._penact(['ckd', '--synthetic', '--part', 'one', '--method', 'CKD', '--epochs', '1',
                              '--teacher', str(d / 'teacher.pth'), '--out', str(d / 'ckd.json'), *self.cfg['cli_ckd']], limit, log)
        if rc != 0: return ('timeout' if rc is None else 'failed'), dict(error=f"penact ckd {'timed out' if rc is None else f'exit {rc}'} (gpu_cli-ckd.txt)")
        runs = json.loads((d / 'ckd.json').read_text())['runs']
        assert [r['method'] for r in runs] == ['teacher', 'CKD'], f"penact ckd recorded {[r['method'] for r in runs]}"
        with open(log, 'a') as f: f.write(json.dumps(runs, indent=1) + '\n')
        return 'ok', dict(runs=runs, note=f"teacher and CKD student, one epoch each, {time.perf_counter() - t0:.0f} s")

    def cli_gan(self, limit):
        log, d = self.out / 'gpu_cli-gan.txt', self.tmp / 'gan'
        log.write_text('')
        t0 = time.perf_counter()
        rc, _ = self._penact(['cifar10-classifier', '--synthetic', '--epochs', '1', '--classifier', str(d / 'clf.pth'),
                              *self.cfg['cli_clf']], limit, log)
        if rc != 0: return ('timeout' if rc is None else 'failed'), dict(error=f"penact cifar10-classifier {'timed out' if rc is None else f'exit {rc}'}")
        rc, _ = self._penact(['gan', '--out', str(d / 'gan.json'), '--runs', str(d / 'run'), '--classifier', str(d / 'clf.pth'), '--features', 'classifier', '--synthetic',
                              '--save_every', '0', *self.cfg['cli_gan']], max(1., limit - (time.perf_counter() - t0)), log)
        if rc != 0: return ('timeout' if rc is None else 'failed'), dict(error=f"penact gan {'timed out' if rc is None else f'exit {rc}'} (gpu_cli-gan.txt)")
        metrics = json.loads((d / 'gan.json').read_text())['runs'][-1]
        with open(log, 'a') as f: f.write(json.dumps(metrics, indent=1) + '\n')
        return 'ok', dict(metrics=metrics, note=f"classifier, GAN, IS/FID/GAN-test/GAN-train, {time.perf_counter() - t0:.0f} s")

    # -- stages run in a worker process
    def timed(self, names):
        "Run timing stages in one worker process (each its own stage limit); a crash or timeout fails what is left"
        limit = self.limit(*names)
        cmd = [sys.executable, str(Path(__file__).resolve()), '--worker', ','.join(names), '--out', str(self.out)]
        if self.dry: cmd.append('--dry-run')
        t0, c0 = time.perf_counter(), _cpu()
        rc, text = self.run(cmd, limit + 5, self.tmp / 'worker.log')
        cpu = (_cpu() - c0) / len(names)                             # the worker's CPU time, shared out
        for name in names:
            f = self.out / f'.stage_{name}.json'
            if f.exists():
                rec = json.loads(f.read_text()); f.unlink()
            else:
                why = 'timeout' if rc is None else 'failed'
                rec = dict(stage=name, status=why, seconds=time.perf_counter() - t0,
                           error=f"the worker {'ran out of time' if rc is None else f'ended with exit {rc}'}: {text[-300:]}")
            rec.setdefault('note', _headline(name, rec.get('data')))
            rec['cpu_seconds'] = cpu
            self.records.append(rec)
            print(f"  {name:10s} {rec['status']:8s} {rec['seconds']:6.1f} s  {rec.get('error') or rec['note']}"[:150], flush=True)


def _cpu():
    "CPU seconds (user and system) of this process and its finished children"
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def _headline(name, data):
    "One line of a timing stage's result for the summary"
    if not data: return ''
    if name == 'env': return f"{data.get('device_name')}, driver {data.get('driver')}, torch {data.get('torch')}"
    pick = lambda **kw: next((r for r in data if all(r.get(k) == v for k, v in kw.items()) and 'error' not in r), None)
    if name == 'sampler':
        r = max((r for r in data if r['precision'] == 'float32' and 'error' not in r), key=lambda r: (r['n'], r['d'] == 128, r['kappa'] == 10.), default=None)
        return r and f"d={r['d']} kappa={r['kappa']:g} n={r['n']}: shared {r['shared_over_randn']:.2f}x, per-row {r['per_row_over_randn']:.2f}x randn"
    if name == 'density':
        r = max((r for r in data if r['precision'] == 'float32' and 'error' not in r), key=lambda r: (r['n'], r['d'] == 128), default=None)
        return r and f"d={r['d']} n={r['n']}: vMF log_prob {r['ratio']:.2f}x Normal's"
    if name == 'hvae':
        return '; '.join(f"batch {r['batch']}: {r['ratio']:.2f}x" for r in data if r['precision'] == 'float32' and r['kind'] == 'plain'
                         and r['d'] == 10) + ' Gaussian VAE (float32, d=10)'
    if name == 'ckd':
        return ', '.join(f"{r['method']} {r['over_label']:.2f}x" for r in data if r['precision'] == 'float32' and r['method'] != 'Label') + ' Label (float32)'
    if name == 'gan':
        return ', '.join(f"{r['precision']} {r['ratio']:.2f}x" for r in data) + ' Gaussian latent'
    return ''


def summary(check, wall):
    env = next((r.get('data') for r in check.records if r['stage'] == 'env' and r.get('data')), {}) or {}
    head = (f"penact GPU check{' (dry run, CPU)' if check.dry else ''}: {env.get('device_name', '?')}, driver {env.get('driver')}, "
            f"torch {env.get('torch', '?')} (CUDA {env.get('cuda')}), penact {env.get('penact', '?')}")
    lines = [head, f"{'stage':10s} {'status':8s} {'s':>6} {'CPU s':>6}  result"]
    for r in check.records:
        lines.append(f"{r['stage']:10s} {r['status']:8s} {r['seconds']:6.1f} {r.get('cpu_seconds', 0):6.1f}  "
                     f"{r.get('error') or r.get('note') or ''}"[:160])
    bad = [r['stage'] for r in check.records if r['status'] != 'ok']
    lines.append(f"total {wall:.0f} s ({_cpu():.0f} CPU s); " + (f"FAILED: {', '.join(bad)}" if bad else f"all {len(check.records)} stages ok")
                 + f"; tables in {check.out}/gpu_*.txt")
    return '\n'.join(lines), not bad


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=str(ROOT / 'results' / 'bench'), help='output folder of the tables (created if missing)')
    ap.add_argument('--dry-run', action='store_true', help='on the CPU, tiny sizes: proves the script works')
    ap.add_argument('--budget', type=float, default=None, help='overall seconds (default: the sum of the stage limits)')
    ap.add_argument('--stages', default=','.join(LIMITS), help='comma-separated stages to run (default: all)')
    ap.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    out = Path(a.out).resolve()
    stages = a.stages.split(',')
    unknown = [s for s in stages if s not in LIMITS]
    if unknown: ap.error(f"--stages: unknown {unknown}; choose from {', '.join(LIMITS)}")
    out.mkdir(parents=True, exist_ok=True)
    if a.worker: return worker(a.worker.split(','), out, a.dry_run)
    t0 = time.perf_counter()
    check = Check(out, a.dry_run, a.budget or sum(v[a.dry_run] for v in LIMITS.values()))
    for f in out.glob('gpu_*.txt'): f.unlink()                  # no table of an earlier run survives beside this one's
    print(f"penact GPU check{' (dry run on the CPU)' if a.dry_run else ''}: {len(stages)} stages, tables in {out}", flush=True)
    commands = {'setup': check.setup, 'tests': check.tests, 'notebooks': check.notebooks, 'cli-ckd': check.cli_ckd, 'cli-gan': check.cli_gan}
    group = []
    for i, name in enumerate(stages):
        if name in TIMED:
            group.append(name)
            # on a GPU each timing stage has a process of its own (a CUDA error spoils a process); in the dry run one does
            if not a.dry_run or i + 1 == len(stages) or stages[i + 1] not in TIMED:
                check.timed(group); group = []
        else: check.stage(name, commands[name])
    text, ok = summary(check, time.perf_counter() - t0)
    (out / 'gpu_summary.txt').write_text(text + '\n')
    (out / 'gpu_check.json').write_text(json.dumps(dict(dry_run=a.dry_run, sizes=check.cfg, limits=LIMITS, stages=check.records),
                                                   indent=1, default=str))
    shutil.rmtree(check.tmp, ignore_errors=True)
    print('\n' + text)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
