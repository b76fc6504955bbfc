"""Time the first render of `quba report`'s page in Debian's chromium (milliseconds, measured in the page).

    python benchmarks/report_render.py [--loads 5]

Builds the page for the paper's leaderboard + results/mini (329 ImageNet rows shown), opens it --loads
times in a fresh tab (every request blocked) and prints the median and max of:
  rows: navigation start -> the ranking table with every row rendered (before Plotly is parsed);
  rows alone: the page's own first render (ranking, table, controls);
  plots: navigation start -> scatter, heatmap drawn (includes parsing Plotly's 5 MB);
  re-render: a weight change (hash) -> table and plots redrawn.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loads", type=int, default=5)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from quba.report.html import write_report_html

    chromium = os.environ.get("QUBA_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    runs = {"rows": [], "rows alone": [], "plots": [], "re-render": []}
    with tempfile.TemporaryDirectory() as tmp:
        page_path = write_report_html(Path(tmp) / "report.html",
                                      ["reference", str(ROOT / "results" / "mini" / "leaderboard.csv")])
        url = page_path.resolve().as_uri()
        size_mb = page_path.stat().st_size / 1e6
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium)
            for _ in range(args.loads):
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
                page.goto(url)
                page.wait_for_selector("html[data-ready='1']", state="attached")
                t = page.evaluate("[quba.renderMs, quba.firstViewMs, quba.plotsMs]")
                again = page.evaluate("""() => new Promise(res => {
                    const t0 = performance.now();
                    addEventListener('hashchange', () => res(performance.now() - t0), {once: true});
                    location.hash = 'weights=accuracy:1,calibration_error:2'; })""")
                for k, v in zip(runs, [*t, again]):
                    runs[k].append(v)
                page.close()
            browser.close()
    print(f"{args.loads} loads of {size_mb:.1f} MB (329 ImageNet rows):")
    for k, v in runs.items():
        print(f"  {k:<10} median {statistics.median(v):7.1f} ms   max {max(v):7.1f} ms")


if __name__ == "__main__":
    main()
