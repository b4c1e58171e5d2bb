"""Smoke test of an installed penact, run outside the checkout (the release workflow runs it on the built wheel):
the package imports from the environment, its version is the distribution's, `penact --help` lists the commands, and
a tiny batch of vMF distributions samples points on the sphere with finite densities."""
import importlib.metadata as md, shutil, subprocess, sys, sysconfig
from pathlib import Path

import torch
import penact
from penact.vmf import VonMisesFisher

site = Path(sysconfig.get_paths()['purelib'])
assert site in Path(penact.__file__).parents, f"penact was imported from {penact.__file__}, not from the environment ({site})"
assert penact.__version__ == md.version('penact'), f"penact.__version__ {penact.__version__} != {md.version('penact')}"
exe = shutil.which('penact', path=str(Path(sys.executable).parent))
assert exe, "the penact console script is not installed"
usage = subprocess.run([exe, '--help'], capture_output=True, text=True, check=True).stdout
assert 'penact COMMAND' in usage and 'demo' in usage, usage
torch.manual_seed(0)
q = VonMisesFisher(torch.nn.functional.normalize(torch.randn(3, 5), dim=-1), torch.tensor([1., 10., 100.]))
x = q.rsample((4,))
assert x.shape == (4, 3, 5), x.shape
torch.testing.assert_close(torch.linalg.vector_norm(x, dim=-1), torch.ones(4, 3), rtol=0, atol=1e-5)
assert torch.isfinite(q.log_prob(x)).all()
print(f"penact {penact.__version__} ({penact.__file__}), torch {torch.__version__}: "
      f"vMF sample of shape {tuple(x.shape)} on the sphere, finite log_prob")
