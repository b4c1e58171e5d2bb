"""pip install penact as a user would: `python -m build` makes an sdist and a wheel from a copy of the package files;
the wheel goes into a fresh virtual environment where pip resolves penact's requirements itself (the newest fastai
that `fastai>=2.8.7,<2.9` allows, with the fastcore it brings: not the dev pins); then penact is imported there and
the README's quick start (the shown code cells of nbs/index.ipynb) runs, outside the checkout.

Torch is not downloaded again (5.5 GB with its CUDA libraries): the distributions that torch and torchvision need,
as installed next to this interpreter, are linked into a folder that a .pth file puts on the new environment's path.
pip sees them as installed (and never uninstalls them: they lie outside its environment), and a constraint pins torch
and torchvision to those versions. Everything else comes from the package index (pip's cache makes reruns quicker)."""
import importlib.metadata as md, json, os, re, shutil, subprocess, sys, zipfile
from configparser import ConfigParser
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_FILES = ('setup.py', 'pyproject.toml', 'settings.ini', 'LICENSE', 'README.md', 'MANIFEST.in')


def _key(name): return re.sub(r'[-_.]+', '-', name).lower()


def _closure(*names):
    "The installed distributions that `names` need (with extras), by normalised name."
    seen, todo = {}, [(n, ()) for n in names]
    while todo:
        name, extras = todo.pop()
        dist = md.distribution(name)
        k = _key(dist.metadata['Name'])
        if k in seen and set(extras) <= seen[k]: continue
        seen.setdefault(k, set()).update(extras)
        for r in dist.requires or []:
            req = Requirement(r)
            if req.marker and not any(req.marker.evaluate({'extra': e}) for e in ('',) + tuple(extras)): continue
            todo.append((req.name, tuple(req.extras)))
    return sorted(seen)


def _link_torch(into):
    "Symlink the top-level files of torch's and torchvision's installed closure into `into`."
    into.mkdir()
    for name in _closure('torch', 'torchvision'):
        dist = md.distribution(name)
        for top in {f.parts[0] for f in dist.files or []}:
            if top in ('..', 'bin', '__pycache__') or top.endswith('.pth') or (into / top).exists(): continue
            src = Path(dist.locate_file(top))
            if src.exists(): (into / top).symlink_to(src)
    return into


def _quick_start():
    "The code cells of nbs/index.ipynb that the README shows."
    nb = json.loads((ROOT / 'nbs' / 'index.ipynb').read_text())
    cells = [''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'code']
    return [c for c in cells if not re.search(r'^#\|\s*(hide|eval:\s*false)\b', c, re.M)]


def _run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r.stdout


def test_wheel_installs_and_runs_the_quick_start(tmp_path):
    cfg = ConfigParser(delimiters=['='])
    cfg.read(ROOT / 'settings.ini')
    version = cfg['DEFAULT']['version']
    src = tmp_path / 'src'
    src.mkdir()
    for name in PACKAGE_FILES: shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / 'penact', src / 'penact', ignore=shutil.ignore_patterns('__pycache__'))
    # an environment without the checkout on its path, whose pip may reach the index
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PIP_NO_INDEX', 'VIRTUAL_ENV')}
    _run([sys.executable, '-m', 'build', '--outdir', str(tmp_path / 'dist'), str(src)], env=env)
    wheel = tmp_path / 'dist' / f'penact-{version}-py3-none-any.whl'
    assert wheel.exists(), f"no {wheel.name} in {sorted(p.name for p in (tmp_path / 'dist').iterdir())}"
    assert (tmp_path / 'dist' / f'penact-{version}.tar.gz').exists(), "python -m build made no sdist"
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / 'penact').rglob('*.py')}
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    assert modules <= in_wheel, f"the wheel lacks {sorted(modules - in_wheel)}"

    venv = tmp_path / 'venv'
    _run([sys.executable, '-m', 'venv', str(venv)], env=env)
    py = venv / 'bin' / 'python'
    site = Path(_run([str(py), '-c', "import sysconfig; print(sysconfig.get_paths()['purelib'])"], env=env).strip())
    (site / '_penact_local_torch.pth').write_text(str(_link_torch(tmp_path / 'torch-site')) + '\n')
    pins = tmp_path / 'constraints.txt'
    pins.write_text(''.join(f"{n}=={md.version(n)}\n" for n in ('torch', 'torchvision')))
    _run([str(py), '-m', 'pip', 'install', '-q', '-c', str(pins), str(wheel)], env=env)

    probe = ("import penact, fastai, fastcore, torch, pathlib\n"
             "print(penact.__version__, fastai.__version__, fastcore.__version__, torch.__version__)\n"
             "site = pathlib.Path(r'%s')\n"
             "for m in (penact, fastai, fastcore): assert site in pathlib.Path(m.__file__).parents, m.__file__\n"
             "import fastai.vision.all\n") % site
    versions = _run([str(py), '-c', probe], env=env, cwd=tmp_path).split()
    assert versions[0] == version, f"the environment imports penact {versions[0]}, settings.ini says {version}"
    print(f"penact {versions[0]} with fastai {versions[1]}, fastcore {versions[2]}, torch {versions[3]}")
    script = tmp_path / 'quick_start.py'
    script.write_text('\n\n'.join(_quick_start()))
    assert script.read_text().strip(), "nbs/index.ipynb shows no code: the README has no quick start"
    _run([str(py), str(script)], env=env, cwd=tmp_path)
