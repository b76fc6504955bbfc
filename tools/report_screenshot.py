"""Regenerate the pictures of `quba report` in docs/ (the page in Debian's chromium).

    python tools/report_screenshot.py     # docs/report.png, report-plots.png, report-phone.png (< 250 KB each)

It builds the page for the paper's leaderboard and results/mini and saves palette PNGs of:
- report.png: the desktop view at 1280x900 as it opens (the ranking first), two models chosen;
- report-plots.png: the same view scrolled to the scatter (calibration error against QUBA), one
  point's hover shown;
- report-phone.png: the phone layout at 400x800, three screens side by side: the first screen (the
  ranking, with its model and QUBA columns kept at the left), the scatter with its legend below, and
  the model detail with its radar.
Needs playwright (the dev extra) and chromium (apt-get install -y chromium).
"""
from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from quba.report.html import write_report_html  # noqa: E402

HASH = "#preset=trustworthy&x=calibration_error&y=quba&sel=EVA02-b-21k,ConvNextV2-B-21k"
PHONE_HASH = "#preset=trustworthy&sel=EVA02-b-21k"


def _save(png: bytes, out: Path) -> None:
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    img.save(out, optimize=True)
    print(f"{out}: {out.stat().st_size // 1024} KB")


def _open(browser, url, width, height):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
    page.goto(url)
    page.wait_for_selector("html[data-ready='1']", state="attached")
    return page


def main() -> int:
    from PIL import Image
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("QUBA_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    docs = ROOT / "docs"
    with tempfile.TemporaryDirectory() as tmp:
        page_path = write_report_html(Path(tmp) / "report.html",
                                      ["reference", str(ROOT / "results" / "mini" / "leaderboard.csv")])
        url = page_path.resolve().as_uri()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium)
            page = _open(browser, url + HASH, 1280, 900)
            _save(page.screenshot(full_page=False), docs / "report.png")
            page.evaluate("document.getElementById('scatter-section').scrollIntoView({block: 'start'})")
            page.evaluate("""() => { const gd = document.getElementById('scatter');  // a point's hover, shown
                const c = gd.data.findIndex(t => (t.customdata || []).includes('ConvNextV2-B-21k'));
                Plotly.Fx.hover(gd, [{curveNumber: c, pointNumber: gd.data[c].customdata.indexOf('ConvNextV2-B-21k')}]); }""")
            page.wait_for_timeout(300)
            _save(page.screenshot(full_page=False), docs / "report-plots.png")
            page.close()
            page = _open(browser, url + PHONE_HASH, 400, 800)
            shots = [page.screenshot(full_page=False)]
            for section in ("#scatter-section", "#detail-section"):
                page.evaluate("s => document.querySelector(s).scrollIntoView({block: 'start'})", section)
                page.wait_for_timeout(300)
                shots.append(page.screenshot(full_page=False))
            page.close()
            browser.close()
    panels = [Image.open(io.BytesIO(s)).convert("RGB") for s in shots]
    gap = 16
    sheet = Image.new("RGB", (sum(p.width for p in panels) + gap * (len(panels) - 1), panels[0].height), "#8c959f")
    x = 0
    for p in panels:
        sheet.paste(p, (x, 0))
        x += p.width + gap
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    _save(buf.getvalue(), docs / "report-phone.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
