"""Write README.md from nbs/index.ipynb without Quarto (which nbdev_readme needs): markdown cells as they are, code
cells as python blocks with their saved text outputs; cells marked `#| hide` are left out.
Usage: python .ci/readme.py [OUT]   (default README.md)"""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _directives(src):
    return {m.group(1) for m in re.finditer(r'^#\|\s*([\w-]+)', src, re.M)}


def render(nb_path=ROOT / 'nbs' / 'index.ipynb'):
    nb = json.loads(Path(nb_path).read_text())
    parts = []
    for cell in nb['cells']:
        src = ''.join(cell['source'])
        if 'hide' in _directives(src): continue
        if cell['cell_type'] == 'markdown':
            parts.append(src.strip())
            continue
        code = '\n'.join(l for l in src.splitlines() if not l.startswith('#|')).strip()
        if code: parts.append(f"```python\n{code}\n```")
        for out in cell.get('outputs', []):
            text = out.get('text') or out.get('data', {}).get('text/plain')
            if text: parts.append("```\n" + ''.join(text).rstrip() + "\n```")
    return ('<!-- Made from nbs/index.ipynb by .ci/readme.py: edit the notebook, not this file. -->\n\n'
            + '\n\n'.join(parts) + '\n')


if __name__ == '__main__':
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / 'README.md'
    out.write_text(render())
