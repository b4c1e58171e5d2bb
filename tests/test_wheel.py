"""pip install penact as a user would: `python -m build` makes an sdist and a wheel from a copy of the package files;
the wheel goes into a fresh virtual environment where pip resolves penact's requirements itself (the newest fastai
that `fastai>=2.8.7,<2.9` allows, with the fastcore it brings: not the dev pins); then penact is imported there and
the README's quick start (the shown code cells of nbs/index.ipynb) runs, outside the checkout.

Torch is not downloaded again (5.5 GB with its CUDA libraries): the distributions that torch and torchvision need,
as installed next to this interpreter, are linked into a folder that a .pth file puts on the new environment's path.
pip sees them as installed (and never uninstalls them: they lie outside its environment), and a constraint pins torch
and torchvision to those versions. Everything else is resolved against the package index, and the test checks that
the fastai it got is the newest release that penact's requirement allows, as the index lists it now.
pip's own cache stays empty on these machines (80 MB of downloads a run), so the wheels pip downloaded are kept in a
wheelhouse ($PENACT_WHEELHOUSE, default ~/.cache/penact/wheelhouse). A later run installs from it without the index
(`--no-index`) only while it holds that newest fastai; otherwise it resolves against the index again and refills it."""
import importlib.metadata as md, json, os, re, shutil, subprocess, sys, urllib.parse, urllib.request, zipfile
from concurrent.futures import ThreadPoolExecutor
from configparser import ConfigParser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

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


def _wheelhouse():
    d = Path(os.environ.get('PENACT_WHEELHOUSE') or Path.home() / '.cache' / 'penact' / 'wheelhouse')
    d.mkdir(parents=True, exist_ok=True)
    return d


def _keep_wheels(report, wheelhouse, ours):
    "Put into the wheelhouse the wheels of pip's install report (from the index, or from a local index), but ours."
    urls = [i['download_info']['url'] for i in json.loads(report.read_text())['install']]
    wanted = {u: wheelhouse / urllib.parse.unquote(u.rsplit('/', 1)[-1]) for u in urls
              if u.startswith(('https://', 'file://')) and u.endswith('.whl') and not u.endswith('/' + ours.name)}
    def fetch(item):
        url, dest = item
        if dest.exists(): return
        part = dest.with_name(dest.name + '.part')
        with urllib.request.urlopen(url, timeout=120) as r, open(part, 'wb') as f: shutil.copyfileobj(r, f)
        part.rename(dest)
    with ThreadPoolExecutor(8) as pool: list(pool.map(fetch, wanted.items()))


def _newest(py, requirement, env):
    "The newest release on the index that a requirement such as `fastai>=2.8.7,<2.9` allows."
    req = Requirement(requirement)
    out = _run([sys.executable, '-m', 'pip', '--python', str(py), 'index', 'versions', req.name], env=env)
    listed = re.search(r'^Available versions: (.*)$', out, re.M)
    assert listed, f"pip index versions {req.name} listed nothing:\n{out}"
    allowed = list(req.specifier.filter(v.strip() for v in listed.group(1).split(',')))
    assert allowed, f"no release of {req.name} on the index satisfies {req}"
    return max(allowed, key=Version)


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
    _run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], env=env)  # our pip drives it (--python)
    py = venv / 'bin' / 'python'
    site = Path(_run([str(py), '-c', "import sysconfig; print(sysconfig.get_paths()['purelib'])"], env=env).strip())
    (site / '_penact_local_torch.pth').write_text(str(_link_torch(tmp_path / 'torch-site')) + '\n')
    pins = tmp_path / 'constraints.txt'
    pins.write_text(''.join(f"{n}=={md.version(n)}\n" for n in ('torch', 'torchvision')))
    fastai_req = next(r for r in cfg['DEFAULT']['requirements'].split() if Requirement(r).name == 'fastai')
    newest = _newest(py, fastai_req, env)
    wheelhouse, report = _wheelhouse(), tmp_path / 'pip-report.json'
    install = [sys.executable, '-m', 'pip', '--python', str(py), 'install', '-q', '--no-compile', '-c', str(pins),
               '--find-links', str(wheelhouse), str(wheel)]
    offline = (any(wheelhouse.glob(f'fastai-{newest}-*.whl'))
               and subprocess.run(install + ['--no-index'], env=env, capture_output=True).returncode == 0)
    if not offline:
        _run(install + ['--report', str(report)], env=env)
        _keep_wheels(report, wheelhouse, wheel)

    probe = ("import penact, fastai, fastcore, torch, pathlib\n"
             "print(penact.__version__, fastai.__version__, fastcore.__version__, torch.__version__)\n"
             "site = pathlib.Path(r'%s')\n"
             "for m in (penact, fastai, fastcore): assert site in pathlib.Path(m.__file__).parents, m.__file__\n"
             "import fastai.vision.all\n") % site
    versions = _run([str(py), '-c', probe], env=env, cwd=tmp_path).split()
    assert versions[0] == version, f"the environment imports penact {versions[0]}, settings.ini says {version}"
    assert versions[1] == newest, f"pip installed fastai {versions[1]}, the newest that {fastai_req} allows is {newest}"
    print(f"penact {versions[0]} with fastai {versions[1]}, fastcore {versions[2]}, torch {versions[3]}")
    script = tmp_path / 'quick_start.py'
    script.write_text('\n\n'.join(_quick_start()))
    assert script.read_text().strip(), "nbs/index.ipynb shows no code: the README has no quick start"
    _run([str(py), str(script)], env=env, cwd=tmp_path)
