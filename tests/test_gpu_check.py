"""The GPU check (bench/gpu_check.py, `make gpu-check`) as a dry run on the CPU: every stage runs with tiny sizes and
must pass, every table must be written; and a stage that fails is recorded while the others still run."""
import json, os, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / 'bench' / 'gpu_check.py'
sys.path.insert(0, str(ROOT / 'bench'))
import gpu_check  # noqa: E402


def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))


def test_dry_run_passes_every_stage(tmp_path):
    r = subprocess.run([sys.executable, str(SCRIPT), '--dry-run', '--out', str(tmp_path)], cwd=ROOT, env=_env(),
                       capture_output=True, text=True, timeout=600)
    summary = (tmp_path / 'gpu_summary.txt').read_text() if (tmp_path / 'gpu_summary.txt').exists() else r.stdout[-3000:]
    assert r.returncode == 0, f"the dry run failed:\n{summary}\n{r.stderr[-3000:]}"
    rec = json.loads((tmp_path / 'gpu_check.json').read_text())
    assert rec['dry_run'] is True
    assert [s['stage'] for s in rec['stages']] == list(gpu_check.LIMITS)
    assert all(s['status'] == 'ok' for s in rec['stages']), summary
    for name in ('env', 'tests', 'notebooks', 'sampler', 'density', 'hvae', 'ckd', 'gan', 'cli-ckd', 'cli-gan', 'summary'):
        assert (tmp_path / f'gpu_{name}.txt').read_text().strip(), f"gpu_{name}.txt is empty"
    stages = {s['stage']: s for s in rec['stages']}
    cfg = gpu_check.SIZES['dry']
    # every timing table has a finite ratio for each case, in float32 and under bf16 autocast
    sampler = stages['sampler']['data']
    assert len(sampler) == 2 * len(cfg['dims']) * len(cfg['kappas']) * len(cfg['rows'])
    assert {r['precision'] for r in sampler} == {'float32', 'bf16'}
    assert all(r['shared_over_randn'] > 0 and r['per_row_over_randn'] > 0 for r in sampler)
    assert len(stages['density']['data']) == 2 * len(cfg['dims']) * len(cfg['rows'])
    assert {(r['precision'], r['method']) for r in stages['ckd']['data']} == {(p, m) for p in ('float32', 'bf16')
                                                                              for m in ('Label', 'KD', 'CKD', 'CKD+KD')}
    assert all(r['over_label'] > 0 for r in stages['ckd']['data'])
    assert len(stages['hvae']['data']) == 2 * len(cfg['hvae_bs']) * 2 * len(cfg['hvae_dims'])
    assert len(stages['gan']['data']) == 2
    assert stages['notebooks']['notebooks'], "no notebook with #| cuda cells was found"
    assert [r['method'] for r in stages['cli-ckd']['runs']] == ['teacher', 'CKD']
    assert {'fid', 'is_mean', 'gan_test', 'gan_train'} <= set(stages['cli-gan']['metrics'])
    assert re.search(r'all 11 stages ok', summary)
    print(summary)


def test_a_failed_stage_is_recorded_and_the_rest_runs(tmp_path, monkeypatch, capsys):
    def broken(self, limit): raise RuntimeError('planted failure')
    monkeypatch.setattr(gpu_check.Check, 'tests', broken)
    monkeypatch.setenv('PYTHONPATH', _env()['PYTHONPATH'])
    rc = gpu_check.main(['--dry-run', '--out', str(tmp_path), '--stages', 'tests,density'])
    assert rc == 1
    rec = {s['stage']: s for s in json.loads((tmp_path / 'gpu_check.json').read_text())['stages']}
    assert rec['tests']['status'] == 'failed' and 'planted failure' in rec['tests']['error']
    assert rec['density']['status'] == 'ok' and (tmp_path / 'gpu_density.txt').exists()
    assert 'FAILED: tests' in (tmp_path / 'gpu_summary.txt').read_text()


def test_a_stage_over_its_limit_is_a_timeout(tmp_path, monkeypatch):
    monkeypatch.setitem(gpu_check.LIMITS, 'cli-ckd', (1, 1))
    monkeypatch.setenv('PYTHONPATH', _env()['PYTHONPATH'])
    rc = gpu_check.main(['--dry-run', '--out', str(tmp_path), '--stages', 'cli-ckd'])
    rec = json.loads((tmp_path / 'gpu_check.json').read_text())['stages'][0]
    assert rc == 1 and rec['status'] == 'timeout', rec
    assert rec['seconds'] < 10


def test_unknown_stage_is_an_error(capsys):
    try: gpu_check.main(['--dry-run', '--stages', 'sampler,nope'])
    except SystemExit as e: assert e.code == 2
    else: raise AssertionError('no error for an unknown stage')
    assert "unknown ['nope']" in capsys.readouterr().err
