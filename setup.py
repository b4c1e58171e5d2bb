"""Packaging for penact, driven by settings.ini the nbdev 2 way (without pkg_resources)."""
from configparser import ConfigParser
import shlex

import setuptools

cfg_all = ConfigParser(delimiters=['='])
cfg_all.read('settings.ini')
cfg = cfg_all['DEFAULT']

expected = ('version description keywords author author_email license status min_python git_url '
            'lib_name user copyright').split()
missing = [k for k in expected if k not in cfg]
if missing: raise ValueError(f"settings.ini is missing: {missing}")

licenses = {'apache2': 'Apache-2.0', 'mit': 'MIT'}  # SPDX expressions
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable',
            '6 - Mature', '7 - Inactive']
py_versions = '3.10 3.11 3.12 3.13'.split()

lic = licenses.get(cfg['license'].lower(), cfg['license'])
min_python = cfg['min_python']
def _ver(v): return tuple(int(p) for p in v.split('.'))
requirements = shlex.split(cfg.get('requirements', ''))
# the extras: `pip install penact[gan]` (GAN metrics), `penact[ood]` (OOD detection), `penact[distributed]` (fastai's
# distrib_ctx on several GPUs); `dev` has gan and ood and the tools
extras = {name: shlex.split(cfg.get(f'{name}_requirements', '')) for name in ('gan', 'ood', 'distributed')}
extras['dev'] = list(dict.fromkeys(shlex.split(cfg.get('dev_requirements', '')) + extras['gan'] + extras['ood']))
console_scripts = [s for s in cfg.get('console_scripts', '').strip().splitlines() if s.strip()]

with open('README.md', encoding='utf-8') as f: long_description = f.read()

setuptools.setup(
    name=cfg['lib_name'],
    license=lic,
    classifiers=[
        'Development Status :: ' + statuses[int(cfg['status'])],
        'Intended Audience :: ' + cfg.get('audience', 'Developers').title(),
        'Natural Language :: ' + cfg.get('language', 'English').title(),
    ] + ['Programming Language :: Python :: ' + v for v in py_versions if _ver(v) >= _ver(min_python)],
    url=cfg['git_url'],
    packages=setuptools.find_packages(include=['penact', 'penact.*']),
    include_package_data=True,
    install_requires=requirements,
    extras_require=extras,
    dependency_links=cfg.get('dep_links', '').split(),
    python_requires='>=' + min_python,
    long_description=long_description,
    long_description_content_type='text/markdown',
    zip_safe=False,
    entry_points={'console_scripts': console_scripts, 'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
    version=cfg['version'],
    description=cfg['description'],
    keywords=cfg['keywords'],
    author=cfg['author'],
    author_email=cfg['author_email'],
)
