"""Time `quba report`'s page in Debian's chromium: how soon the ranking is there and usable, and the plots.

    python benchmarks/report_render.py [--loads 5]

Builds the page for the paper's leaderboard + results/mini (329 ImageNet rows shown), opens it --loads
times in a fresh tab at 1280x900 (every request blocked) and prints the median and max, in milliseconds
since navigation start unless said otherwise, of:
  rows:          the ranking table with every row rendered, the controls bound (before Plotly runs);
  rows alone:    the page's own first render (ranking, table, controls), itself;
  first paint:   the browser's first contentful paint;
  Plotly starts: the page starts running Plotly's inlined 5 MB: once the first paint is reported and the
                 page has then been left alone for 0.8 s (no click or key: the benchmark does nothing);
  plots:         scatter and heatmap drawn (Plotly parsed and run, then drawn);
  longest task:  the longest main-thread task (Long Tasks API), ms: running Plotly, the one stretch in
                 which a click waits; it starts after the rows are painted (until then clicks and keys
                 are answered at once, and each one postpones Plotly);
  re-render:     a weight change (hash) -> table and plots redrawn, ms;
and, from the same loads, rows / plots (how early the table is usable, as a share of the wait for plots).

The same page with Plotly as an ordinary inline script (run while the page is parsed, as the page did
before it deferred Plotly) is loaded alternately, as the baseline of the ratios printed last: deferring
buys the usable table before Plotly, and costs the quiet wait (and, as measured on 2 loaded cores, a
longer single task: the inserted script ran slower than the parser-run one).
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

LONG_TASKS = """window.__long = [];
try { new PerformanceObserver(l => l.getEntries().forEach(e => window.__long.push([e.startTime, e.duration])))
        .observe({type: 'longtask', buffered: true}); } catch (e) {}"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loads", type=int, default=5)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from quba.report.html import write_report_html

    chromium = os.environ.get("QUBA_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    keys = ["rows", "rows alone", "first paint", "Plotly starts", "plots", "longest task", "re-render"]
    runs: dict[str, list[float]] = {k: [] for k in keys}
    eager: dict[str, list[float]] = {k: [] for k in keys}
    ratios, after_paint = [], []
    with tempfile.TemporaryDirectory() as tmp:
        page_path = write_report_html(Path(tmp) / "report.html",
                                      ["reference", str(ROOT / "results" / "mini" / "leaderboard.csv")])
        url = page_path.resolve().as_uri()
        size_mb = page_path.stat().st_size / 1e6
        eager_path = Path(tmp) / "eager.html"
        eager_path.write_text(page_path.read_text().replace('<script type="text/plain" id="plotly-js">', "<script>"))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium)
            for _ in range(args.loads):
                for which, out in ((url, runs), (eager_path.resolve().as_uri(), eager)):
                    load(browser, which, out, ratios if out is runs else [], after_paint if out is runs else [])
            browser.close()
    print(f"{args.loads} loads of {size_mb:.1f} MB (329 ImageNet rows), 1280x900:")
    for k, v in runs.items():
        print(f"  {k:<14} median {statistics.median(v):7.1f} ms   max {max(v):7.1f} ms")
    print(f"  rows / plots   median {statistics.median(ratios):.3f}")
    print(f"  longest task after the first paint in {sum(after_paint)} of {len(after_paint)} loads")
    print("against Plotly run while parsing (medians, eager / deferred):")
    for k in ("rows", "first paint", "plots", "longest task"):
        print(f"  {k:<14} {statistics.median(eager[k]):7.1f} / {statistics.median(runs[k]):7.1f} ms"
              f" = {statistics.median(eager[k]) / statistics.median(runs[k]):.2f}")


def load(browser, url, runs, ratios, after_paint) -> None:
    """One fresh load of `url` at 1280x900: its times into `runs` (the keys of the module docstring)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(LONG_TASKS)
    page = context.new_page()
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
    page.goto(url)
    page.wait_for_selector("html[data-ready='1']", state="attached")
    t = page.evaluate("""() => {
        const fcp = performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint');
        const longest = window.__long.reduce((a, b) => b[1] > a[1] ? b : a, [0, 0]);
        return [quba.renderMs, quba.firstViewMs, fcp ? fcp.startTime : NaN, quba.plotsStartMs, quba.plotsMs,
                longest[1], longest[0]]; }""")
    again = page.evaluate("""() => new Promise(res => {
        const t0 = performance.now();
        addEventListener('hashchange', () => res(performance.now() - t0), {once: true});
        location.hash = 'weights=accuracy:1,calibration_error:2'; })""")
    for k, v in zip(runs, [*t[:6], again]):
        runs[k].append(v)
    ratios.append(t[0] / t[4])
    after_paint.append(t[6] >= t[2])
    context.close()


if __name__ == "__main__":
    main()
