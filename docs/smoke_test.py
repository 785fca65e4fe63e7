"""Browser smoke test of the built documentation (``make docs-smoke``).

Opens the built front page and one executed gallery page in headless Chromium and
checks that they render with their images:

1. the DOM after JavaScript holds the page title and the expected content, and
   MathJax typeset the page's math;
2. every ``<img>`` of the page was decoded by the browser (``naturalWidth > 0``,
   read by a script injected into a temporary copy of the page) and the gallery page
   shows at least one figure produced by executing its example;
3. every local image the page references is a non-empty PNG/SVG file;
4. a screenshot of each page is not blank (pixel standard deviation and number of
   distinct colours above a floor).

Usage: ``python docs/smoke_test.py [docs/_build/html]``; exits non-zero on failure.
Screenshots are kept in ``docs/_build/smoke/`` for a look by eye.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

PAGES = {
    # page: (text the rendered DOM must contain, minimum number of example figures)
    "index.html": ("pgjets", 1),
    "auto_examples/plot_03_top_tagging.html": ("Top vs QCD", 1),
}
FIGURE = re.compile(r"sphx_glr_plot_\w+_\d{3}\.png")
PROBE = """<script>
window.addEventListener("load", function () {
  setTimeout(function () {
    var imgs = Array.prototype.slice.call(document.images).map(function (i) {
      return {src: i.currentSrc || i.src, w: i.naturalWidth, h: i.naturalHeight, done: i.complete};
    });
    document.body.setAttribute("data-smoke", JSON.stringify(imgs));
  }, 200);
});
</script>
"""
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class SmokeError(AssertionError):
    """A page did not render as expected."""


def browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    raise SmokeError(f"no headless browser found (tried {', '.join(BROWSERS)}); "
                     "install Debian's chromium: apt-get install -y chromium")


def run_browser(exe: str, profile: str, *args: str) -> str:
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--hide-scrollbars", "--allow-file-access-from-files", f"--user-data-dir={profile}",
           "--virtual-time-budget=10000", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise SmokeError(f"{' '.join(cmd[:2])} ... failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return proc.stdout


def image_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG (from its IHDR chunk) or (1, 1) for a non-empty SVG."""
    data = path.read_bytes()
    if path.suffix.lower() == ".svg":
        if b"<svg" not in data:
            raise SmokeError(f"{path} is not an SVG file")
        return 1, 1
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise SmokeError(f"{path} is not a PNG file")
    return struct.unpack(">II", data[16:24])


def check_screenshot(path: Path) -> tuple[float, int]:
    from PIL import Image, ImageStat

    with Image.open(path) as im:
        rgb = im.convert("RGB")
        std = sum(ImageStat.Stat(rgb).stddev) / 3
        colours = len(rgb.getcolors(maxcolors=1 << 20) or [])
    if std < 10 or colours < 50:
        raise SmokeError(f"screenshot {path} looks blank (pixel std {std:.1f}, {colours} colours)")
    return std, colours


def check_page(exe: str, root: Path, page: str, text: str, min_figures: int, shots: Path) -> str:
    html_path = root / page
    if not html_path.is_file():
        raise SmokeError(f"{html_path} was not built")
    html = html_path.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as profile:
        # 1-2: the rendered DOM, with the decoded size of every image.
        probe_path = html_path.with_name(f"_smoke_{html_path.name}")
        probe_path.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
        try:
            dom = run_browser(exe, profile, "--dump-dom", probe_path.as_uri())
        finally:
            probe_path.unlink()
        # 4: a screenshot of the real page.
        shot = shots / (page.replace("/", "_").replace(".html", ".png"))
        run_browser(exe, profile, "--window-size=1280,1400", f"--screenshot={shot}", html_path.as_uri())
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    if not title or "pgjets" not in title.group(1):
        raise SmokeError(f"{page}: no pgjets title in the rendered DOM")
    if text not in dom:
        raise SmokeError(f"{page}: the rendered DOM lacks {text!r}")
    if 'class="math' in html and not re.search(r"mjx-chtml|mjx-container|MathJax_CHTML", dom):
        raise SmokeError(f"{page}: its math was not typeset (MathJax did not load; "
                         "offline builds need Debian's libjs-mathjax)")
    match = re.search(r'data-smoke="([^"]*)"', dom)
    if not match:
        raise SmokeError(f"{page}: the image probe did not run (no data-smoke attribute)")
    images = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    if not images:
        raise SmokeError(f"{page}: no <img> element rendered")
    broken = [i["src"] for i in images if not i["done"] or i["w"] == 0 or i["h"] == 0]
    if broken:
        raise SmokeError(f"{page}: images the browser could not decode: {broken}")
    figures = [i for i in images if FIGURE.search(i["src"])]
    if len(figures) < min_figures:
        raise SmokeError(f"{page}: {len(figures)} example figures rendered, expected >= {min_figures}")
    # 3: the files behind the local images.
    for img in images:
        url = urlparse(img["src"])
        if url.scheme != "file":
            continue
        local = Path(unquote(url.path))
        if not local.is_file() or local.stat().st_size == 0:
            raise SmokeError(f"{page}: image file {local} is missing or empty")
        width, height = image_size(local)
        if width == 0 or height == 0:
            raise SmokeError(f"{page}: image file {local} has no pixels")
    std, colours = check_screenshot(shot)
    return (f"{page}: title {title.group(1).strip()!r}, {len(images)} images decoded "
            f"({len(figures)} example figures), screenshot {shot} (pixel std {std:.0f}, {colours} colours)")


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "docs/_build/html").resolve()
    shots = root.parent / "smoke"
    shots.mkdir(parents=True, exist_ok=True)
    exe = browser()
    failures = 0
    for page, (text, min_figures) in PAGES.items():
        try:
            print("ok  ", check_page(exe, root, page, text, min_figures, shots))
        except (SmokeError, subprocess.TimeoutExpired) as err:
            failures += 1
            print("FAIL", err)
    print(f"docs smoke test: {len(PAGES) - failures} of {len(PAGES)} pages passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
