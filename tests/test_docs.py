"""The docs site as a reader sees it: docs/ served on localhost and every page loaded in headless Chromium (Debian's
chromium and chromium-driver, which .ci/run installs), plus a check that docs/ is what `make docs-offline` makes now.
Screenshots of the home page and the vMF page go to $DOCS_SCREENSHOTS (default: a pytest temporary folder); their
paths are printed."""
import functools, http.server, json, os, re, shutil, socket, subprocess, sys, threading, urllib.error, urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / 'docs'
NBS = ROOT / 'nbs'
IMAGE_MIMES = ('image/png', 'image/jpeg', 'image/gif')
sys.path.insert(0, str(ROOT / '.ci'))
from docs import escape_docstring_emphasis  # noqa: E402


def _page_of(nb_path):
    "The page nbdev (and Quarto) names after a notebook, e.g. 00_vmf.ipynb -> vmf.html."
    from nbdev.frontmatter import _nbpath2html
    return _nbpath2html(nb_path.relative_to(NBS)).as_posix()


def _notebooks():
    "The notebooks in the sidebar's order: by folder, the folder's index first, then by name (as nbdev_sidebar)."
    nbs = [p for p in NBS.rglob('*.ipynb') if not any(part.startswith(('_', '.')) for part in p.relative_to(NBS).parts)]
    return sorted(nbs, key=lambda p: (p.parent.relative_to(NBS).parts, not p.name.startswith('index.'), p.name))


def _shown(cell):
    return not re.search(r'^#\|\s*(hide|include:\s*false)\b', ''.join(cell['source']), re.M)


def _expected(nb_path):
    "What a notebook promises its page: how many figures (saved image outputs) and whether it has equations."
    nb = json.loads(nb_path.read_text())
    cells = [c for c in nb['cells'] if _shown(c)]
    figures = sum(any(m in o.get('data', {}) for m in IMAGE_MIMES) for c in cells for o in c.get('outputs', []))
    math = any(re.search(r'\$[^$\s][^$]*\$', ''.join(c['source'])) for c in cells if c['cell_type'] == 'markdown')
    return figures, math


def test_docstring_stars_keep_the_emphasis():
    test = escape_docstring_emphasis
    assert test('*shape (*batch, d) of x**2*') == r'*shape (\*batch, d) of x\*\*2*'
    assert test('*plain docstring*') == '*plain docstring*'
    assert test('**bold** line') == '**bold** line'
    assert test('*already \\* escaped*') == '*already \\* escaped*'


def test_docs_is_up_to_date(tmp_path):
    "docs/ must be what `make docs-offline` builds from nbs/ now (same pages, same bytes)."
    work = tmp_path / 'repo'
    work.mkdir()
    shutil.copy(ROOT / 'settings.ini', work / 'settings.ini')
    shutil.copytree(ROOT / 'nbs', work / 'nbs', ignore=shutil.ignore_patterns('.ipynb_checkpoints', '_proc'))
    shutil.copytree(ROOT / '.ci', work / '.ci', ignore=shutil.ignore_patterns('__pycache__'))
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    r = subprocess.run([sys.executable, '.ci/docs.py', 'site'], cwd=work, env=env, capture_output=True, text=True)
    assert r.returncode == 0, f"the docs build failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    fresh = work / 'site'

    def files(d): return {p.relative_to(d).as_posix() for p in d.rglob('*') if p.is_file() and p.name != '.gitkeep'}
    ours, new = files(DOCS), files(fresh)
    assert ours == new, (f"docs/ is stale (only in docs/: {sorted(ours - new)}; missing: {sorted(new - ours)}): "
                         "run `make docs-offline` and commit docs/")
    differ = [f for f in sorted(new) if (DOCS / f).read_bytes() != (fresh / f).read_bytes()]
    assert not differ, f"docs/ is stale for {differ}: run `make docs-offline` and commit docs/"


def test_every_notebook_has_a_page_in_the_sidebar():
    pages = [_page_of(nb) for nb in _notebooks()]
    home = (DOCS / 'index.html').read_text()
    nav = re.search(r'<nav[^>]*id="quarto-sidebar".*?</nav>', home, re.S)
    assert nav, "docs/index.html has no sidebar (nav#quarto-sidebar)"
    hrefs = re.findall(r'href="([^"#]+\.html)"', nav.group(0))
    for page in pages:
        assert (DOCS / page).exists(), f"no page {page} in docs/: run `make docs-offline`"
    listed = [h for h in hrefs if h in pages]
    assert listed == pages, f"the sidebar lists {listed}, the notebooks make {pages} (in this order)"


# ---------------------------------------------------------------- the browser

def _chromium():
    "Debian's chromium and its driver, or a skip (a failure under CI, whose .ci/run installs them)."
    browser = shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')
    driver = shutil.which('chromedriver')
    if browser and driver: return browser, driver
    why = "Debian's chromium and chromium-driver are not installed (apt-get install -y chromium chromium-driver)"
    if os.environ.get('CI'): pytest.fail(why + "; .ci/run should have installed them")
    pytest.skip(why)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        "A browser that drops a connection it no longer needs is not an error of the site."
        if not isinstance(sys.exc_info()[1], ConnectionError): super().handle_error(request, client_address)


@pytest.fixture(scope='module')
def site():
    "docs/ served on 127.0.0.1, on a free port, from a thread."
    handler = functools.partial(_Quiet, directory=str(DOCS))
    server = _Server(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    chromium, chromedriver = _chromium()
    os.environ.setdefault('SE_OFFLINE', 'true')  # never let Selenium Manager look for a browser to download
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync',
                 '--disable-dev-shm-usage', '--window-size=1200,1000',
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=opts)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


_PAGE_REPORT = """
const done = arguments[arguments.length - 1];
// a large page under load can hand control back before it has finished parsing (MathJax's script not yet run):
// wait for its load event first, then for MathJax's typesetting
const loaded = document.readyState === 'complete' ? Promise.resolve() : new Promise(r => addEventListener('load', r, {once: true}));
loaded.then(() => (window.MathJax && MathJax.startup && MathJax.startup.promise) || Promise.resolve())
.then(() => new Promise(r => setTimeout(r, 50))).then(() => done({
  urls: [...document.querySelectorAll('[href], [src]')].map(e => e.href || e.src).filter(u => typeof u === 'string'),
  ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  images: [...document.querySelectorAll('img')].map(i => ({src: i.src.slice(0, 80), ok: i.complete && i.naturalWidth > 0})),
  math: document.querySelectorAll('span.math').length,
  typeset: document.querySelectorAll('mjx-container').length,
  errors: [...document.querySelectorAll('[data-mml-node="merror"]')].map(e => e.textContent),
  sidebar: document.querySelectorAll('#quarto-sidebar a').length,
  wide: [...document.querySelectorAll('pre')].filter(p => p.scrollWidth > p.clientWidth + 1)
          .map(p => p.textContent.split('\\n').reduce((a, b) => a.length >= b.length ? a : b).slice(0, 60)),
}), e => done({failed: String(e)}));
"""


def _visit(driver, url):
    driver.get(url)
    report = driver.execute_async_script(_PAGE_REPORT)
    assert 'failed' not in report, f"{url}: MathJax failed: {report.get('failed')}"
    # the browser's own request for /favicon.ico (no page links it) is not the site's error
    report['console'] = [e['message'] for e in driver.get_log('browser')
                         if e['level'] == 'SEVERE' and not e['message'].startswith(urllib.parse.urljoin(url, '/favicon.ico'))]
    return report


def _status(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r: return r.status
    except urllib.error.HTTPError as e: return e.code


def _screenshot(driver, path, clip=None):
    "The whole page (up to 12,000 px tall), or the `clip` of it, as a PNG."
    if clip is None:
        metrics = driver.execute_cdp_cmd('Page.getLayoutMetrics', {})
        size = metrics.get('cssContentSize') or metrics['contentSize']
        clip = {'x': 0, 'y': 0, 'width': size['width'], 'height': min(size['height'], 12000)}
    clip = dict(clip, scale=1)
    shot = driver.execute_cdp_cmd('Page.captureScreenshot', {'format': 'png', 'captureBeyondViewport': True, 'clip': clip})
    import base64
    path.write_bytes(base64.b64decode(shot['data']))
    return path


def test_every_page_in_a_browser(site, browser, tmp_path_factory, capsys):
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob('*.html'))
    assert 'index.html' in pages and 'vmf.html' in pages, f"docs/ has no home page or vMF page: {pages}"
    expected = {_page_of(nb): _expected(nb) for nb in _notebooks()}
    shots = Path(os.environ.get('DOCS_SCREENSHOTS') or tmp_path_factory.mktemp('docs-screenshots'))
    shots.mkdir(parents=True, exist_ok=True)
    problems, ids, links = [], {}, {}
    for page in pages:
        r = _visit(browser, site + page)
        ids[page] = set(r['ids'])
        problems += [f"{page}: console error: {m}" for m in r['console']]
        problems += [f"{page}: image not loaded: {i['src']}" for i in r['images'] if not i['ok']]
        problems += [f"{page}: TeX error: {e}" for e in r['errors']]
        problems += [f"{page}: a code block scrolls sideways in a 1200-pixel window: {w!r}" for w in r['wide']]
        if r['math'] != r['typeset']:
            problems.append(f"{page}: {r['math']} equations, {r['typeset']} typeset by MathJax")
        if r['sidebar'] < len(expected):
            problems.append(f"{page}: the sidebar has {r['sidebar']} links for {len(expected)} notebooks")
        figures, math = expected.get(page, (0, False))
        loaded = sum(i['ok'] for i in r['images'])
        if loaded < figures: problems.append(f"{page}: {loaded} images loaded, its notebook has {figures} figures")
        if math and not r['typeset']: problems.append(f"{page}: its notebook has equations, the page typeset none")
        for url in r['urls']:
            if url.startswith(site): links.setdefault(url, set()).add(page)
        if page in ('index.html', 'vmf.html'):
            assert r['typeset'] > 0, f"{page}: no equation typeset"
            if page == 'vmf.html': assert loaded > 0, "vmf.html: no figure loaded"
            saved = [_screenshot(browser, shots / page.replace('.html', '.png'))]
            figure = browser.execute_script(
                "const i = [...document.querySelectorAll('img')].find(i => i.naturalWidth > 0); if (!i) return null;"
                "const r = i.getBoundingClientRect();"
                "return {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height};")
            if figure:
                saved.append(_screenshot(browser, shots / page.replace('.html', '-figure.png'), figure))
            with capsys.disabled(): print(''.join(f"\nscreenshot of {page}: {p}" for p in saved))
    for url, where in sorted(links.items()):
        target, _, fragment = urllib.parse.unquote(url[len(site):]).partition('#')
        target = target or 'index.html'
        status = _status(site + target)
        if status != 200: problems.append(f"{sorted(where)}: broken link {target} (HTTP {status})")
        elif fragment and target in ids and fragment not in ids[target]:
            problems.append(f"{sorted(where)}: broken anchor {target}#{fragment}")
    assert not problems, "the site as a reader sees it:\n  " + "\n  ".join(problems)
