"""Regenerate docs/report.png, the README's picture of `quba report` (the page in Debian's chromium).

    python tools/report_screenshot.py            # writes docs/report.png (< 200 KB)

It builds the page for the paper's leaderboard and results/mini, opens it at
1280x800 with two models chosen for comparison and saves a palette PNG.
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


def main() -> int:
    from PIL import Image
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("QUBA_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory() as tmp:
        page_path = write_report_html(Path(tmp) / "report.html",
                                      ["reference", str(ROOT / "results" / "mini" / "leaderboard.csv")])
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
            page.goto(page_path.resolve().as_uri() + HASH)
            page.wait_for_selector("html[data-ready='1']", state="attached")
            png = page.screenshot(full_page=False)
            browser.close()
    img = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    out = ROOT / "docs" / "report.png"
    out.parent.mkdir(exist_ok=True)
    img.save(out, optimize=True)
    print(f"{out}: {out.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
