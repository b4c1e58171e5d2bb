"""penact/ must be exactly what nbdev_export makes of nbs/: export in a temporary copy and compare."""
import filecmp, os, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tree(p):
    return {f.relative_to(p) for f in p.rglob('*.py') if '__pycache__' not in f.parts}


def test_penact_is_the_export_of_nbs(tmp_path):
    work = tmp_path / 'repo'
    work.mkdir()
    for name in ('settings.ini', 'setup.py', 'README.md'):
        shutil.copy(ROOT / name, work / name)
    shutil.copytree(ROOT / 'nbs', work / 'nbs', ignore=shutil.ignore_patterns('.ipynb_checkpoints', '_proc'))
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    subprocess.run([str(bin_dir / 'nbdev_export')], cwd=work, env=env, check=True, capture_output=True)
    ours, fresh = ROOT / 'penact', work / 'penact'
    assert _tree(ours) == _tree(fresh), f"files differ: {sorted(map(str, _tree(ours) ^ _tree(fresh)))}"
    differ = [str(f) for f in _tree(ours) if not filecmp.cmp(ours / f, fresh / f, shallow=False)]
    assert not differ, f"penact/ is not the export of nbs/ for {differ}: run nbdev_export and commit"


def test_readme_is_made_from_index():
    sys.path.insert(0, str(ROOT / '.ci'))
    from readme import render
    assert (ROOT / 'README.md').read_text() == render(), "README.md is stale: run `make export` and commit"
