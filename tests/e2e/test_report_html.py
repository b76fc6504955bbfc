"""`quba report`: the offline interactive page, checked in a real browser (Debian's chromium via playwright).

The page recomputes QUBA, the filters, the ranks, Spearman rho and the ranking CSV in JavaScript;
these tests hold it to quba.ranking's numbers (scores bit-identical: the same repr strings).
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from quba.cli import main
from quba.ranking import correlate, rank, recommend
from quba.ranking import render
from quba.report.html import build_report_html, write_report_html
from quba.zoo.mini import catalog_rows

#: the mini zoo's classifiers: the rows of the shipped mini leaderboard
N_MINI = sum(1 for r in catalog_rows() if (r.get("task") or "classification") == "classification")

ROOT = Path(__file__).resolve().parents[2]
MINI = str(ROOT / "results" / "mini" / "leaderboard.csv")
CHROMIUM = os.environ.get("QUBA_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
PAPER_NINE = ["accuracy", "adversarial_robustness", "corruption_robustness", "ood_robustness", "calibration_error",
              "class_balance", "object_focus", "shape_bias", "parameters_m"]


def _need_browser():
    why = None
    if not Path(CHROMIUM).exists():
        why = f"no chromium at {CHROMIUM} (Debian: apt-get install -y chromium; or set QUBA_CHROMIUM)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            why = "the playwright Python package is missing (pip install -e '.[dev]')"
    if why:
        if os.environ.get("QUBA_REQUIRE_BROWSER"):
            pytest.fail(why)
        pytest.skip(why)


# --------------------------------------------------------------------------- fixtures
USER_CSV = """model,suite,architecture,pretraining_data,paradigm,accuracy,accuracy_lo,accuracy_hi,\
adversarial_robustness,corruption_robustness,ood_robustness,calibration_error,class_balance,object_focus,shape_bias,\
parameters_m
my-resnet,imagenet,CNN,ImageNet-1k,Supervised learning,0.801,0.795,0.807,0.21,0.55,0.6,0.003,0.79,0.93,0.3,25.6
my-vit,imagenet,Transformer,"Large-scale (e.g. LAION-2B, JFT-300M)",Supervised learning,0.851,0.846,0.856,0.3,0.7,\
0.75,0.0041,0.81,0.95,0.42,
my-tiny,imagenet,CNN,ImageNet-1k,Knowledge distillation,0.7,0.69,0.71,0.1,0.4,0.5,,0.76,0.9,0.25,5.0
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    user = d / "mine.csv"
    user.write_text(USER_CSV)
    mixed = ["reference", str(user), MINI]
    ref_html = write_report_html(d / "reference.html")
    mixed_html = write_report_html(d / "mixed.html", mixed, title="Mine & the paper's <models>")
    shots = tmp_path_factory.mktemp("report-screenshots")
    return {"reference": (ref_html, None), "mixed": (mixed_html, mixed), "shots": shots, "dir": d}


@pytest.fixture(scope="module")
def browser():
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM)
        yield b
        b.close()


class Page:
    """A page of the report with every network request blocked and recorded, console errors recorded."""

    def __init__(self, browser, path, hash_="", **context):
        self.url = Path(path).resolve().as_uri()
        self.context = browser.new_context(**{"viewport": {"width": 1280, "height": 800}, **context})
        self.requests, self.errors = [], []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.open(hash_)

    def _route(self, route):
        if route.request.url.split("#")[0] == self.url:
            route.continue_()
        else:
            route.abort()

    def open(self, hash_=""):
        self.page.goto(self.url + hash_)
        self.page.wait_for_selector("html[data-ready='1']", state="attached")

    def show(self, hash_: str):
        """Change the hash in place (the page re-renders on hashchange)."""
        self.page.evaluate("""h => new Promise(res => {
            if (location.hash === h || (h === '#' && !location.hash)) { res(); return; }
            window.addEventListener('hashchange', () => setTimeout(res, 0), {once: true});
            location.hash = h; })""", hash_ or "#")

    def ranking(self):
        return [tuple(r) for r in self.page.eval_on_selector_all(
            "#ranking tbody tr", "rs => rs.map(r => [r.dataset.model, r.dataset.quba, r.dataset.leaderboard])")]

    def excluded(self):
        return set(tuple(r) for r in self.page.eval_on_selector_all(
            "#not-ranked li", "ls => ls.map(l => [l.dataset.model, l.dataset.reason])"))

    def notices(self):
        return self.page.eval_on_selector_all("#notices .notice", "ns => ns.map(n => n.textContent)")

    def check_clean(self):
        """No console error and no request but the file itself."""
        assert self.errors == []
        assert [u for u in self.requests if u.split("#")[0] != self.url] == []

    def close(self):
        self.check_clean()
        self.context.close()


@pytest.fixture(scope="module")
def ref_page(browser, files):
    p = Page(browser, files["reference"][0])
    yield p
    p.close()


@pytest.fixture(scope="module")
def mixed_page(browser, files):
    p = Page(browser, files["mixed"][0])
    yield p
    p.close()


def expected(lbs, **kw):
    r = rank(lbs, **kw)
    return [(m, repr(float(q)), lb) for m, q, lb in zip(r.ranked["model"], r.ranked["quba"], r.ranked["leaderboard"])], r


def weights_hash(w: dict) -> str:
    return "weights=" + ",".join(f"{d}:{v!r}" for d, v in w.items())


def to_hash(**kw) -> str:
    parts = []
    for k, v in kw.items():
        if isinstance(v, bool):
            v = "1" if v else "0"
        if isinstance(v, (list, tuple)):
            v = ",".join(quote(str(x), safe="") for x in v)
        parts.append(f"{k}={v}")
    return "#" + "&".join(parts)


def random_weights(rng, dims):
    while True:
        chosen = [d for d in dims if rng.random() < 0.7]
        if chosen:
            return {d: float(rng.uniform(0.05, 3.0)) for d in chosen}


# --------------------------------------------------------------------------- no browser
def test_repr_rules_documented_cases():
    """Known answers for the Python repr layout the page reproduces (checked again in the browser)."""
    assert [repr(x) for x in (1e-05, 0.0001, 1e16, 1e15, 1.5e-07, -0.0)] == \
        ["1e-05", "0.0001", "1e+16", "1000000000000000.0", "1.5e-07", "-0.0"]


def test_report_cli_writes_one_offline_file(tmp_path, capsys):
    out = tmp_path / "r.html"
    rc = main(["report", "-l", "reference", "-l", MINI, "-o", str(out), "--title", "T</script><b>"])
    assert rc == 0 and out.is_file()
    assert str(out) in capsys.readouterr().out
    text = out.read_text()
    # Self-contained: nothing to fetch, the data and Plotly inlined.
    assert not re.search(r"<(script|img|link|iframe)[^>]+(src|href)=", text, re.I)
    assert "@import" not in text and "connect-src 'none'" in text
    assert "plotly.js v" in text
    assert text.count("</script>") == 4  # data, app, Plotly, start of the plots: nothing inlined closes one early
    assert "T&lt;/script&gt;&lt;b&gt;" in text
    data = json.loads(re.search(r'<script type="application/json" id="quba-data">(.*?)</script>', text, re.S).group(1))
    assert sorted(data["suites"]) == ["imagenet", "mini"] and data["default_suite"] == "imagenet"
    img, mini = data["suites"]["imagenet"], data["suites"]["mini"]
    assert img["n"] == 326 and mini["n"] == N_MINI
    # Reference normalisation: the paper's constants for ImageNet, the leaderboard's own for mini.
    assert img["reference"]["mean"]["accuracy"] == 0.7990557251908397
    acc = np.array([x for x in mini["values"]["accuracy"] if x is not None])
    assert mini["reference"]["mean"]["accuracy"] == pytest.approx(acc.mean(), abs=1e-15)
    assert mini["reference"]["std"]["accuracy"] == pytest.approx(acc.std(ddof=1), abs=1e-15)
    assert "accuracy" in mini["bounds"] and "accuracy" not in img["bounds"]  # no all-empty intervals
    assert set(data["presets"]) >= {"paper", "trustworthy", "robustness"}


def test_report_cli_one_suite_and_bad_input(tmp_path, capsys):
    out = tmp_path / "m.html"
    assert main(["report", "-l", "reference", "-l", MINI, "--suite", "MINI", "-o", str(out)]) == 0
    capsys.readouterr()
    assert '"default_suite":"mini"' in out.read_text() and '"imagenet":' not in out.read_text()
    for argv, msg in [
        (["-l", str(tmp_path / "nope.csv")], "not found"),
        (["--suite", "cifar"], "no rows of suite 'cifar'"),
        (["--reference", "paper", "-l", MINI], "paper's constants normalise the ImageNet suite"),
        (["-o", str(tmp_path)], "is a folder"),
    ]:
        target = tmp_path / "bad.html"
        args = ["report", *argv] + ([] if "-o" in argv else ["-o", str(target)])
        assert main(args) == 2, argv
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and msg in err, err
        assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.html"]  # nothing half-written


def test_leaderboard_report_flag(tmp_path, capsys):
    shutil.copytree(ROOT / "results" / "mini" / "records", tmp_path / "mini" / "records")
    rc = main(["leaderboard", "--suite", "mini", "--records-only", "--report", "--output", str(tmp_path)])
    assert rc == 0
    page = tmp_path / "mini" / "report.html"
    assert f"interactive report: {page}" in capsys.readouterr().out
    data = json.loads(re.search(r'id="quba-data">(.*?)</script>', page.read_text(), re.S).group(1))
    assert list(data["suites"]) == ["mini"] and data["suites"]["mini"]["n"] == N_MINI


# --------------------------------------------------------------------------- in the browser
def test_python_repr_in_the_browser(ref_page):
    rng = np.random.default_rng(1)
    xs = [0.0, -0.0, 1.0, -2.5, 0.1, 1 / 3, 1e-05, 1e-4, 0.00012345, 1.5e-7, 1e15, 1e16, 1.2345678901234567e16,
          1e21, 1e22, 1e100, 5e-324, 1.7976931348623157e308, 123456789.0, 2.0 ** 53, 9.999999999999999e-5]
    xs += list(rng.standard_normal(1500) * 10.0 ** rng.uniform(-25, 25, 1500))
    got = ref_page.page.evaluate("xs => xs.map(window.quba.pyRepr)", xs)
    assert got == [repr(float(x)) for x in xs]


@pytest.mark.slow
@pytest.mark.parametrize("which", ["reference", "mixed"])
def test_presets_and_random_weights_equal_quba_rank(browser, files, which):
    """3 presets and 20 seeded random weight vectors: the page's order and scores are quba.rank's
    (scores bit-identical: the page's data-quba is Python's repr of the same float)."""
    path, lbs = files[which]
    page = Page(browser, path)
    suites = ["imagenet"] + (["mini"] if which == "mixed" else [])
    rng = np.random.default_rng(13)
    for suite in suites:
        pre = "" if suite == "imagenet" else f"suite={suite}&"
        dims = PAPER_NINE
        cases = [({"preset": p}, f"#{pre}preset={p}") for p in ("paper", "trustworthy", "robustness")]
        for _ in range(20 if suite == "imagenet" else 5):
            w = random_weights(rng, dims)
            cases.append(({"weights": w}, f"#{pre}{weights_hash(w)}"))
        for kw, h in cases:
            page.show(h)
            want, _ = expected(lbs, suite=suite, **kw)
            got = page.ranking()
            assert [g[0] for g in got] == [w_[0] for w_ in want], h
            assert all(abs(float(g[1]) - float(w_[1])) <= 1e-9 for g, w_ in zip(got, want)), h
            assert got == want, h  # exactly: same float, same repr, same leaderboard
            assert page.notices() == [], h
    page.close()


FILTER_CASES = [
    {"architecture": ["transformer"]},
    {"paradigm": ["supervised"]},
    {"pretraining_data": ["21k"]},
    {"max_params": 50},
    {"name": ["vit*", "*resnet*"]},
    {"renormalise": True},
    {"exclude_missing": True},
    {"preset": "robustness", "max_params": 50, "architecture": ["transformer"]},
    {"architecture": ["cnn", "B-cos"], "renormalise": True, "max_params": 30, "preset": "size-agnostic"},
    {"paradigm": ["self", "adversarial"], "pretraining_data": ["imagenet-1k"], "name": ["*[0-9]*"]},
]


@pytest.mark.parametrize("case", FILTER_CASES, ids=lambda c: ",".join(c))
def test_filters_and_renormalise_give_the_cli_candidate_sets(ref_page, case):
    ref_page.show(to_hash(**case))
    want, r = expected(None, **case)
    assert ref_page.ranking() == want
    assert ref_page.excluded() == set(zip(r.excluded["model"], r.excluded["reason"]))
    assert ref_page.notices() == []


def test_filters_on_a_mini_suite_and_user_rows(mixed_page, files):
    lbs = files["mixed"][1]
    for case in ({"suite": "mini", "architecture": ["cnn"], "renormalise": True},
                 {"suite": "imagenet", "max_params": 30, "name": ["my-*", "ResNet*"]},
                 {"suite": "imagenet", "preset": "trustworthy", "pretraining_data": ["large"]}):
        mixed_page.show(to_hash(**case))
        want, r = expected(lbs, **case)
        assert mixed_page.ranking() == want
        assert mixed_page.excluded() == set(zip(r.excluded["model"], r.excluded["reason"]))
    # The user's rows stand out in the table.
    mixed_page.show("#preset=trustworthy&name=my-*,resnet50")
    classes = mixed_page.page.eval_on_selector_all("#ranking tbody tr", "rs => rs.map(r => [r.dataset.model, r.className])")
    assert {m for m, c in classes if "user" in c} == {"my-resnet", "my-vit"}
    assert all("user" not in c for m, c in classes if not m.startswith("my-"))
    # In the mini suite (one leaderboard) nothing is singled out.
    mixed_page.show("#suite=mini")
    classes = mixed_page.page.eval_on_selector_all("#ranking tbody tr", "rs => rs.map(r => r.className)")
    assert len(classes) == N_MINI and not any("user" in c for c in classes)


def test_prefer_buttons_semantics_equal_recommend(ref_page):
    ref_page.show("#prefer=calibration_error,shape_bias:2&max_params=50")
    rec = recommend(prefer=["calibration_error", "shape_bias=2"], max_params=50, samples=1)
    want = [(m, repr(float(q)), lb) for m, q, lb in zip(rec.ranking.ranked["model"], rec.ranking.ranked["quba"],
                                                        rec.ranking.ranked["leaderboard"])]
    assert ref_page.ranking() == want
    # The model detail lists strengths and weaknesses as `quba recommend` does.
    pick = rec.picks[0]
    ref_page.show("#prefer=calibration_error,shape_bias:2&max_params=50&sel=" + quote(pick.model, safe=""))
    card = ref_page.page.locator(f".model-card[data-model='{pick.model}']")
    strong = card.locator(".strengths").inner_text()
    weak = card.locator(".weaknesses").inner_text()
    assert strong == (", ".join(f"{render.title(d)} {z:+.2f}" for d, z in pick.strengths) or "none at 1 sd")
    assert weak == (", ".join(f"{render.title(d)} {z:+.2f}" for d, z in pick.weaknesses) or "none at 1 sd")


def test_the_documented_links(ref_page):
    ref_page.show("#preset=trustworthy&max_params=50")
    assert ref_page.ranking() == expected(None, preset="trustworthy", max_params=50)[0]
    ref_page.show("#weights=accuracy:1,calibration_error:2&x=accuracy&y=quba")
    assert ref_page.ranking() == expected(None, weights="accuracy=1,calibration_error=2")[0]
    assert ref_page.page.input_value("#x") == "accuracy" and ref_page.page.input_value("#y") == "quba"
    ref_page.show("#weights=acc:1/3,ece=2")  # aliases, fractions and '=' work as on the command line
    assert ref_page.ranking() == expected(None, weights="acc=1/3,ece=2")[0]
    assert ref_page.notices() == []


def test_bad_hash_values_give_notices_not_a_blank_page(ref_page):
    ref_page.show("#foo=1&preset=nope&weights=accuracy:x,bogus:1&max_params=-3&x=nonsense&architecture=zzz&sort=zz"
                  "&renormalise=maybe")
    notes = " | ".join(ref_page.notices())
    for bit in ("unknown setting 'foo'", "unknown preset 'nope'", "accuracy:x", "bogus", "max_params '-3'",
                "x axis", "no architecture matches 'zzz'", "sort", "renormalise=maybe"):
        assert bit in notes, bit
    want, _ = expected(None)  # everything bad ignored: the default view
    assert ref_page.ranking() == want
    ref_page.show("#weights=accuracy:0")  # all weights zero: a notice and the default preset
    assert any("paper preset instead" in n for n in ref_page.notices())
    assert len(ref_page.ranking()) == len(want)
    ref_page.show("#weights=interpretability:1,accuracy:1")  # the CLI refuses; the page drops it and says so
    assert any("interpretability is weighted but the leaderboard has no values" in n for n in ref_page.notices())
    assert ref_page.ranking() == expected(None, weights="accuracy=1")[0]
    ref_page.show("#name=nothing-like-this*")
    assert ref_page.ranking() == [] and any("no model is left" in n for n in ref_page.notices())


def test_spearman_heatmap_equals_quba_correlate(ref_page):
    for kw in ({}, {"paradigm": ["supervised"], "max_params": 60}, {"oriented": True, "architecture": ["cnn"]}):
        ref_page.show(to_hash(**kw) if kw else "#")
        got = ref_page.page.evaluate("window.quba.correlation()")
        want = correlate(**kw)
        assert len(got) == len(want)
        for g, w in zip(got, want.itertuples()):
            assert (g["dim_a"], g["dim_b"], g["n"]) == (w.dim_a, w.dim_b, w.n)
            if math.isnan(w.rho):
                assert g["rho"] is None or math.isnan(g["rho"])
                continue
            assert g["rho"] == pytest.approx(w.rho, abs=1e-9)
            assert g["p_value"] == pytest.approx(w.p_value, rel=1e-6, abs=1e-300)


def test_csv_download_equals_quba_rank_csv(ref_page, files):
    for kw in ({"preset": "trustworthy"}, {"renormalise": True, "max_params": 80, "architecture": ["vision"]}):
        ref_page.show(to_hash(**kw))
        assert ref_page.page.evaluate("window.quba.csv()") == render.ranking_csv(rank(**kw))
    # The real button, once.
    with ref_page.page.expect_download() as dl:
        ref_page.page.click("#download")
    saved = files["dir"] / "download.csv"
    dl.value.save_as(saved)
    assert saved.read_text() == render.ranking_csv(rank(**kw))


@pytest.mark.slow
def test_real_controls_hash_round_trip_keyboard_and_screenshots(browser, files):
    shots = files["shots"]
    page = Page(browser, files["mixed"][0])
    pg = page.page
    pg.screenshot(path=str(shots / "default.png"))
    pg.select_option("#preset", "trustworthy")
    pg.click("#prefer button[data-dim='shape_bias']")
    pg.fill("#w-accuracy", "2")
    pg.press("#w-accuracy", "Tab")
    pg.check("#renormalise")
    pg.check("input[data-filter='architecture'][value='CNN']")
    pg.check("input[data-filter='architecture'][value='Transformer']")
    pg.fill("#max_params", "100")
    pg.press("#max_params", "Enter")
    pg.select_option("#x", "calibration_error")
    pg.select_option("#y", "quba")
    # Keyboard: focus the first two models' buttons and press Enter / Space.
    first = pg.locator("#ranking tbody tr").nth(0)
    first.locator("button").focus()
    pg.keyboard.press("Enter")
    pg.locator("#ranking tbody tr").nth(2).locator("button").focus()
    pg.keyboard.press("Space")
    pg.locator("#ranking tbody tr").nth(4).locator("td[data-dim='accuracy']").click()  # a row click: 3rd model
    assert pg.locator(".model-card").count() == 3
    pg.locator("#ranking tbody tr").nth(4).locator("td[data-dim='accuracy']").click()  # and off again
    pg.click("#ranking th button[data-sort='accuracy']")  # sort by accuracy, best first
    h = pg.evaluate("location.hash")
    assert "preset=trustworthy" in h and "weights=accuracy:2&" in h and "prefer=shape_bias" in h
    assert "renormalise=1" in h and "architecture=CNN,Transformer" in h and "max_params=100" in h
    assert "x=calibration_error" in h and "sort=-accuracy" in h and "sel=" in h

    def snapshot(page):
        pg = page.page
        return {
            "rows": page.ranking(),
            "cards": pg.eval_on_selector_all(".model-card", "cs => cs.map(c => c.dataset.model)"),
            "x": pg.input_value("#x"), "y": pg.input_value("#y"), "preset": pg.input_value("#preset"),
            "w_acc": pg.input_value("#w-accuracy"), "renorm": pg.is_checked("#renormalise"),
            "archs": pg.eval_on_selector_all("input[data-filter='architecture']:checked", "bs => bs.map(b => b.value)"),
            "pressed": pg.eval_on_selector_all("#prefer button[aria-pressed='true']", "bs => bs.map(b => b.dataset.dim)"),
            "sorted": pg.get_attribute("#ranking th[aria-sort='descending'] button", "data-sort"),
        }

    before = snapshot(page)
    assert len(before["cards"]) == 2 and before["pressed"] == ["shape_bias"] and before["sorted"] == "accuracy"
    accs = [float(v) for v in pg.eval_on_selector_all(
        "#ranking tbody tr", "rs => rs.map(r => r.querySelector('td[data-dim=accuracy]').firstChild.textContent)")]
    assert accs == sorted(accs, reverse=True)
    # The same view from the URL alone, in a fresh page.
    keep, page = page, Page(browser, files["mixed"][0], h)
    pg = page.page
    assert snapshot(page) == before
    pg.screenshot(path=str(shots / "comparison.png"), full_page=True)
    # And the numbers are quba.rank's for the same settings (sorted back to rank order).
    want, _ = expected(files["mixed"][1], suite="imagenet", preset="trustworthy",
                       weights={"accuracy": 2.0, "shape_bias": 1.5}, renormalise=True,
                       architecture=["CNN", "Transformer"], max_params=100)
    page.show(h.replace("&sort=-accuracy", ""))
    assert page.ranking() == want
    # A third model, then a fourth: at most 3 side by side.
    for k in (5, 6):
        pg.locator("#ranking tbody tr").nth(k).locator("button").click()
    assert pg.locator(".model-card").count() == 3
    assert pg.evaluate("document.getElementById('radar').data.length") == 4  # 3 models and the mean ring
    keep.close()
    page.close()
    assert (shots / "default.png").stat().st_size > 10_000 and (shots / "comparison.png").stat().st_size > 10_000
    print(f"screenshots: {shots}")


def test_load_is_clean_and_first_render_time_recorded(browser, files):
    """No console error, no request; all 342 rows' scores in the DOM; render time recorded (not asserted:
    this machine's load varies; the README reports figures measured on a quiet machine)."""
    page = Page(browser, files["mixed"][0])
    n_rows = page.page.evaluate("window.quba.data.suites.imagenet.n")
    assert n_rows == 329
    assert len(page.ranking()) == len(expected(files["mixed"][1], suite="imagenet")[0])
    timing = page.page.evaluate("""({rows_since_navigation_ms: quba.renderMs, rows_render_ms: quba.firstViewMs,
                                     plots_since_navigation_ms: quba.plotsMs, plots_render_ms: quba.plotsRenderMs})""")
    (files["shots"] / "render_timing.json").write_text(json.dumps(timing))
    print(f"first render: {timing}")
    assert 0 < timing["rows_since_navigation_ms"] < timing["plots_since_navigation_ms"]
    page.close()


def test_narrow_window_and_dark_scheme(browser, files):
    page = Page(browser, files["reference"][0], "#sel=EVA02-b-21k", viewport={"width": 390, "height": 800},
                color_scheme="dark")
    pg = page.page
    assert pg.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    bg = pg.evaluate("getComputedStyle(document.body).backgroundColor")
    assert sum(int(x) for x in re.findall(r"\d+", bg)[:3]) < 150, bg
    # Every control has a label.
    unlabelled = pg.evaluate("""Array.from(document.querySelectorAll('input, select')).filter(e =>
        !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.id)""")
    assert unlabelled == []
    pg.screenshot(path=str(files["shots"] / "narrow_dark.png"), full_page=False)
    page.close()


def test_the_network_guard_would_catch_a_request(browser, files):
    """The clean-load checks can fail: a request from the page is blocked (CSP) and recorded."""
    page = Page(browser, files["reference"][0])
    page.page.evaluate("() => { const i = new Image(); i.src = 'http://example.invalid/x.png'; document.body.append(i); }")
    for _ in range(50):  # the CSP report / request event arrive asynchronously
        if page.errors or [u for u in page.requests if u.split("#")[0] != page.url]:
            break
        page.page.wait_for_timeout(100)
    with pytest.raises(AssertionError):
        page.check_clean()
    page.context.close()


def test_dump_dom_matches_quba_rank(files, tmp_path):
    """The acceptance one-liner: chromium --headless --dump-dom 'file:///…/report.html#preset=trustworthy'."""
    _need_browser()
    url = Path(files["reference"][0]).resolve().as_uri() + "#preset=trustworthy"
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120).stdout
    import html

    table = dom.split('<table id="ranking">', 1)[1].split("</table>", 1)[0]
    rows = [(html.unescape(m), q) for m, q in
            re.findall(r'<tr data-model="([^"]*)" data-quba="([^"]*)"', table)]
    cli = subprocess.run([sys.executable, "-m", "quba", "rank", "--preset", "trustworthy", "--format", "csv"],
                         capture_output=True, text=True, cwd=ROOT, check=True).stdout
    import csv
    import io
    want = [(r["model"], r["quba"]) for r in csv.DictReader(io.StringIO(cli))]
    assert rows == want and len(rows) > 250


def test_page_assets_are_package_data():
    """A wheel must carry the page's template, CSS and JS (quba/report/assets), not only an editable checkout."""
    import fnmatch
    import tomllib

    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["quba"]
    assets = sorted(p.relative_to(ROOT / "quba").as_posix() for p in (ROOT / "quba" / "report" / "assets").iterdir())
    assert assets == ["report/assets/report.css", "report/assets/report.html", "report/assets/report.js"]
    assert all(any(fnmatch.fnmatch(a, g) for g in globs) for a in assets)


def test_build_is_deterministic_apart_from_the_timestamp():
    a = re.sub(r'"generated":"[^"]*"', "", build_report_html())
    b = re.sub(r'"generated":"[^"]*"', "", build_report_html())
    assert a == b
