"""Build the docs site without Quarto: the pages that `nbdev_docs` makes, from nbdev's processed notebooks
(show_doc rendered, saved outputs and figures), rendered by smalldocs (pure Python), with MathJax bundled so that
equations typeset in an offline browser. `make docs-offline` runs it; `make docs` stays `nbdev_docs` for Quarto.
Usage: python .ci/docs.py [OUT]   (default: doc_path of settings.ini, i.e. docs/; run from the repository root)

What it fixes in the raw `nbdev_proc_nbs` + `smalldocs render _proc` route:
- `nbdev_proc_nbs` rewrites nbs/nbdev.yml and nbs/sidebar.yml (its sidebar then lists the .yml and .css files as
  pages) and tries to install Quarto: we call nbdev's processing (`proc_nbs`) directly and leave nbs/ alone;
- the sidebar is made by nbdev's own `nbdev_sidebar` from the processed notebooks, so new notebooks appear in order;
- pages get Quarto's names (nbdev's `output-file`, e.g. 00_vmf.ipynb -> vmf.html), so links such as `vmf.html` work;
- a docstring's `*` no longer breaks show_doc's `*docstring*` emphasis;
- KaTeX from a CDN is replaced by MathJax 3 (SVG output, no fonts) copied from the sphinx-mathjax-offline wheel;
- the .yml metadata files are not copied into the site, and sitemap.xml carries no file times, so a rebuild of
  unchanged notebooks gives the same bytes.
"""
import json, re, shutil, sys, tempfile
from pathlib import Path

import yaml

ROOT = Path.cwd()
MATHJAX_FILES = ['tex-svg.js', 'input/tex/extensions', 'a11y/assistive-mml.js']
KATEX_RE = re.compile(r'<link rel="stylesheet" href="https://cdn\.jsdelivr\.net/npm/katex@[^"]*/katex\.min\.css">'
                      r'\s*<script src="https://cdn\.jsdelivr\.net/npm/katex@[^"]*/katex\.min\.js" defer></script>'
                      r'\s*<script src="https://cdn\.jsdelivr\.net/npm/katex@[^"]*/auto-render\.min\.js" defer></script>')
# MathJax typesets each <span class="math inline|display"> that smalldocs writes (its text is \(..\) or \[..\]),
# span by span, rather than by scanning the page's text. An unknown macro is an error (merror, red), not silent text.
MATHJAX_CONFIG = """window.MathJax = {
  tex: {packages: {'[-]': ['noundefined']}},
  svg: {fontCache: 'local'},
  startup: {typeset: false, pageReady: () => MathJax.startup.defaultPageReady().then(async () => {
    document.head.appendChild(MathJax.svgStylesheet());
    for (const span of document.querySelectorAll('span.math')) {
      const display = span.classList.contains('display');
      span.replaceChildren(await MathJax.tex2svgPromise(span.textContent.trim().slice(2, -2), {display}));
    }
  })}
};"""
EXTERNAL_ASSET_RE = re.compile(r'<(?:script|link|img)\b[^>]*\b(?:src|href)="(?:https?:)?//[^"]*"')
# the Bootswatch theme imports its web font from a CDN; offline, the theme's fallback fonts are used instead
CSS_IMPORT_RE = re.compile(r'@import\s+url\((["\']?)(?:https?:)?//[^)]*\1\)\s*;?')
CSS_EXTERNAL_RE = re.compile(r'url\((["\']?)(?:https?:)?//')


def mathjax_dir():
    "The MathJax 3 distribution inside the sphinx-mathjax-offline package (a dev requirement)."
    import importlib.util
    spec = importlib.util.find_spec('sphinx-mathjax-offline')
    d = Path(spec.origin).parent / 'static' / 'mathjax' if spec and spec.origin else None
    if d is None or not (d / 'tex-svg.js').exists():
        sys.exit("docs: MathJax not found: install the dev requirements (`make install`, or pip install sphinx-mathjax-offline)")
    return d


def escape_docstring_emphasis(md):
    "show_doc writes a docstring as one `*docstring*` line; escape a `*` inside it so the emphasis holds."
    def fix(m):
        inner = re.sub(r'(?<!\\)\*', r'\\*', m.group(2))
        return f'{m.group(1)}*{inner}*'
    return re.sub(r'^(\s*)\*(?!\*)(.*\*.*)(?<!\*)\*[ \t]*$', fix, md, flags=re.M)


def frontmatter(nb):
    "The YAML frontmatter that nbdev's processors put in a notebook's first raw cell."
    cells = nb.get('cells', [])
    if not cells or cells[0]['cell_type'] != 'raw': return {}
    m = re.match(r'\s*---\n(.*?)\n---', ''.join(cells[0]['source']), re.S)
    return yaml.safe_load(m.group(1)) or {} if m else {}


def _fix_notebook(path):
    nb = json.loads(path.read_text())
    for cell in nb['cells']:
        for out in cell.get('outputs', []):
            md = out.get('data', {}).get('text/markdown')
            if md is not None:
                text = escape_docstring_emphasis(''.join(md))
                out['data']['text/markdown'] = text.splitlines(keepends=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False))
    return nb


def _rename_map(proc):
    "Quarto names a page by its `output-file`; so do we, by renaming the processed notebook."
    renames = {}
    for nb_path in sorted(proc.rglob('*.ipynb')):
        if any(p.startswith(('_', '.')) for p in nb_path.relative_to(proc).parts): continue
        nb = _fix_notebook(nb_path)
        out = frontmatter(nb).get('output-file')
        if not out: continue
        new = nb_path.with_name(Path(out).stem + '.ipynb')
        if new != nb_path: renames[nb_path.relative_to(proc).as_posix()] = new.relative_to(proc).as_posix()
    targets = list(renames.values())
    clash = {t for t in targets if targets.count(t) > 1 or ((proc / t).exists() and t not in renames)}
    if clash: sys.exit(f"docs: two notebooks would make the same page {sorted(clash)}: change an `output-file`")
    for old, new in renames.items(): (proc / old).rename(proc / new)
    return renames


def _rename_in_sidebar(node, renames):
    if isinstance(node, str): return renames.get(node, node)
    if isinstance(node, list): return [_rename_in_sidebar(n, renames) for n in node]
    if isinstance(node, dict): return {k: _rename_in_sidebar(v, renames) for k, v in node.items()}
    return node


def _post_process(site, mj):
    pages = sorted(site.rglob('*.html'))
    for page in pages:
        html = page.read_text()
        depth = len(page.relative_to(site).parts) - 1
        lib = '../' * depth + 'site_libs/mathjax/tex-svg.js'
        has_math = 'class="math' in html
        html, n = KATEX_RE.subn(f'<script>{MATHJAX_CONFIG}</script><script src="{lib}" defer></script>', html)
        if has_math and n != 1:
            sys.exit(f"docs: {page.name} has maths but not the KaTeX tags this script replaces (smalldocs changed?)")
        external = EXTERNAL_ASSET_RE.findall(html)
        if external: sys.exit(f"docs: {page.name} loads assets from outside the site: {external}")
        page.write_text(html)
    for css in sorted(site.rglob('*.css')):
        text = CSS_IMPORT_RE.sub('', css.read_text())
        if CSS_EXTERNAL_RE.search(text): sys.exit(f"docs: {css.relative_to(site)} loads assets from outside the site")
        css.write_text(text)
    for name in MATHJAX_FILES:
        src, dst = mj / name, site / 'site_libs' / 'mathjax' / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir(): shutil.copytree(src, dst)
        else: shutil.copy2(src, dst)
    sitemap = site / 'sitemap.xml'
    if sitemap.exists(): sitemap.write_text(re.sub(r'\n\s*<lastmod>[^<]*</lastmod>', '', sitemap.read_text()))
    return pages


def build(out=None):
    from nbdev.config import get_config
    from nbdev.quarto import _nbdev_yml, nbdev_sidebar
    from nbdev.serve import proc_nbs
    from smalldocs.site import build as sd_build

    cfg = get_config()
    out = Path(out) if out else cfg.doc_path
    mj = mathjax_dir()
    proc = cfg.config_path / '_proc'
    if proc.exists(): shutil.rmtree(proc)
    proc_nbs(cfg.nbs_path, n_workers=2, force=True)
    # nbdev.yml as nbdev_docs writes it from settings.ini, with the output inside _proc (moved to `out` below)
    vals = {k: cfg[k] for k in ['title', 'description', 'branch', 'git_url', 'doc_host', 'doc_baseurl']}
    (proc / 'nbdev.yml').write_text(_nbdev_yml.format(doc_path='_site', **vals))
    if not cfg.custom_sidebar: nbdev_sidebar.__wrapped__(path=proc, force=True)
    renames = _rename_map(proc)
    sidebar = yaml.safe_load((proc / 'sidebar.yml').read_text())
    (proc / 'sidebar.yml').write_text(yaml.dump(_rename_in_sidebar(sidebar, renames), sort_keys=False))
    site = sd_build(proc, quiet=True)
    broken = [w for w in site.warnings if 'broken link' in w]
    for w in site.warnings:  # `output-file` is what the renaming above does
        if w not in broken and not w.endswith('output-file is not read by smalldocs'): print(f"docs: smalldocs: {w}")
    if broken: sys.exit("docs: broken links:\n  " + "\n  ".join(broken))
    built = Path(site.out)
    for meta in ('nbdev.yml', 'sidebar.yml'): (built / meta).unlink(missing_ok=True)
    pages = _post_process(built, mj)
    if out.exists(): shutil.rmtree(out)
    shutil.move(str(built), str(out))
    print(f"docs: wrote {len(pages)} pages to {out}: {', '.join(p.relative_to(built).as_posix() for p in pages)}")
    return out


if __name__ == '__main__':
    build(sys.argv[1] if len(sys.argv) > 1 else None)
