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
from quba.ranking import Filters, correlate, rank, recommend
from quba.ranking import render
from quba.ranking.score import FILTER_FIELDS
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

    def __init__(self, browser, path, hash_="", init=None, **context):
        self.url = Path(path).resolve().as_uri()
        self.context = browser.new_context(**{"viewport": {"width": 1280, "height": 800}, **context})
        self.requests, self.errors = [], []
        self.context.route("**/*", self._route)
        if init:
            self.context.add_init_script(init)
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


def api(kw: dict) -> dict:
    """A page's view (its address keys) as keyword arguments of quba.ranking: the filter keys go
    into one Filters."""
    f = {k: v for k, v in kw.items() if k in FILTER_FIELDS}
    rest = {k: v for k, v in kw.items() if k not in FILTER_FIELDS}
    return {**rest, "filters": Filters(**f)} if f else rest


def expected(lbs, **kw):
    r = rank(lbs, **api(kw))
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
    assert text.count("</script>") == 3  # data, app, Plotly (as text): nothing inlined closes one early
    assert '<script type="text/plain" id="plotly-js">' in text  # run by the page after its first paint
    assert "@article{Hesse:2025:beyond_accuracy," in text  # the citation, from the authors' README
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
        (["--reference-population", "paper", "-l", MINI], "paper's constants normalise the ImageNet suite"),
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
    rec = recommend(prefer=["calibration_error", "shape_bias=2"], samples=1, filters=Filters(max_params=50))
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
        want = correlate(**api(kw))
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
        assert ref_page.page.evaluate("window.quba.csv()") == render.ranking_csv(rank(**api(kw)))
    # The real button, once.
    with ref_page.page.expect_download() as dl:
        ref_page.page.click("#download")
    saved = files["dir"] / "download.csv"
    dl.value.save_as(saved)
    assert saved.read_text() == render.ranking_csv(rank(**api(kw)))


def test_csv_download_escapes_formula_names_as_quba_rank_does(browser, tmp_path):
    # issue 23.3: the page's CSV put =HYPERLINK(...) and @... names into spreadsheets unescaped
    import pandas as pd

    lb = tmp_path / "hostile.csv"
    f = pd.read_csv(MINI)
    f.loc[:6, "model"] = ['=HYPERLINK("http://x","y")', "@SUM(1+1)x.py:build", "+1+2", "-2+3", "\tcmd",
                          "''=twice", "-5"]
    f.to_csv(lb, index=False)
    page = Page(browser, write_report_html(tmp_path / "hostile.html", [str(lb)]))
    try:
        got = page.page.evaluate("window.quba.csv()")
        assert got == render.ranking_csv(rank(str(lb)))
        rows = {r[1] for r in __import__("csv").reader(got.splitlines())}
        assert {"'=HYPERLINK(\"http://x\",\"y\")", "'@SUM(1+1)x.py:build", "'+1+2", "'-2+3", "cmd",
                "''=twice", "-5"} <= rows  # names are stripped (tab); ''=twice reads as '=twice, escaped again
    finally:
        page.close()


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


SPINNER_AT_PARSE = """document.addEventListener('DOMContentLoaded', () => {
    window.__atParse = {spinner: !!document.querySelector('#scatter .loading .spinner'),
                        rows: document.querySelectorAll('#ranking tbody tr').length,
                        plotly: typeof window.Plotly !== 'undefined'}; });"""


def test_the_table_comes_first_and_plotly_after_the_first_paint(browser, files):
    """Rows and controls are drawn and painted before Plotly runs (spinners where the plots go meanwhile);
    at 1280x900 the first ranked row is on the first screen. No console error, no request. Times are recorded,
    not asserted (benchmarks/report_render.py measures them)."""
    page = Page(browser, files["mixed"][0], init=SPINNER_AT_PARSE, viewport={"width": 1280, "height": 900})
    pg = page.page
    assert pg.evaluate("window.quba.data.suites.imagenet.n") == 329
    assert len(page.ranking()) == len(expected(files["mixed"][1], suite="imagenet")[0])
    at_parse = pg.evaluate("window.__atParse")
    assert at_parse["spinner"] and at_parse["rows"] == len(page.ranking()) and not at_parse["plotly"]
    assert pg.locator(".plot .loading").count() == 0  # gone once drawn
    timing = pg.evaluate("""({rows_since_navigation_ms: quba.renderMs, rows_render_ms: quba.firstViewMs,
        first_paint_ms: performance.getEntriesByType('paint').map(e => e.startTime)[0],
        plotly_start_ms: quba.plotsStartMs, plots_since_navigation_ms: quba.plotsMs, plots_render_ms: quba.plotsRenderMs})""")
    (files["shots"] / "render_timing.json").write_text(json.dumps(timing))
    print(f"first render: {timing}")
    # Rows before Plotly, and a frame painted before Plotly ran.
    assert 0 < timing["rows_since_navigation_ms"] < timing["plotly_start_ms"] < timing["plots_since_navigation_ms"]
    assert timing["first_paint_ms"] < timing["plotly_start_ms"]
    top = pg.evaluate("document.querySelector('#ranking tbody tr').getBoundingClientRect().bottom")
    assert top < 900
    page.close()


BUSY_USER = """window.__busy = setInterval(() => document.dispatchEvent(new KeyboardEvent('keydown')), 150);"""


def test_plotly_waits_while_the_table_is_being_used(browser, files):
    """Clicks and key presses keep Plotly (a second or more of blocked page) waiting: the table answers at once
    meanwhile; left alone for a moment, the page runs Plotly and draws the plots."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
    ctx.add_init_script(BUSY_USER)
    pg = ctx.new_page()
    pg.goto(Path(files["reference"][0]).resolve().as_uri())
    pg.wait_for_selector("#ranking tbody tr")
    pg.wait_for_timeout(2500)  # well past the first paint and the quiet wait
    assert pg.evaluate("typeof window.Plotly === 'undefined' && window.quba.plotsStartMs === undefined")
    pg.locator("#ranking tbody tr").nth(0).locator("button").click()
    pg.wait_for_selector(".model-card")
    assert pg.locator("#radar .loading .spinner").count() == 1  # its radar waits for Plotly
    pg.select_option("#preset", "trustworthy")
    assert [r[0] for r in pg.eval_on_selector_all("#ranking tbody tr", "rs => rs.map(r => [r.dataset.model])")] \
        == list(rank(preset="trustworthy").ranked["model"])
    assert pg.evaluate("window.quba.plotsStartMs === undefined")
    pg.evaluate("clearInterval(window.__busy)")  # left alone: Plotly runs, the plots come
    pg.wait_for_selector("html[data-ready='1']", state="attached")
    assert pg.evaluate("document.getElementById('radar').data.length") == 2  # the chosen model and the mean ring
    ctx.close()


def point_xy(pg, model):
    """Where the scatter draws `model`'s point, in the window's pixels (the scatter scrolled into view)."""
    pg.locator("#scatter").scroll_into_view_if_needed()
    return pg.evaluate("""m => { const gd = document.getElementById('scatter'), fl = gd._fullLayout;
        for (const t of gd.data) { const j = (t.customdata || []).indexOf(m);
          if (j >= 0) { const r = gd.getBoundingClientRect();
            return [r.left + fl.xaxis._offset + fl.xaxis.l2p(t.x[j]), r.top + fl.yaxis._offset + fl.yaxis.l2p(t.y[j])]; } }
        return null; }""", model)


def test_a_click_on_a_scatter_point_chooses_that_model(ref_page):
    pg = ref_page.page
    ref_page.show("#x=accuracy&y=quba")
    x, y = point_xy(pg, "AlexNet")  # the least accurate model: a point on its own, bottom left
    pg.mouse.click(x, y)
    pg.wait_for_selector(".model-card[data-model='AlexNet']")
    assert "sel=AlexNet" in pg.evaluate("location.hash")
    assert "selected" in pg.get_attribute("#ranking tr[data-model='AlexNet']", "class")
    size = pg.evaluate("""() => { for (const t of document.getElementById('scatter').data) {
        const j = (t.customdata || []).indexOf('AlexNet'); if (j >= 0) return t.marker.size[j]; } }""")
    assert size == 16  # drawn larger, as a chosen row's point is
    x, y = point_xy(pg, "AlexNet")  # a second click takes it out again, as on its row
    pg.mouse.click(x, y)
    pg.wait_for_function("!document.querySelector('.model-card')")
    assert "sel=" not in pg.evaluate("location.hash")


def active(pg):
    return pg.evaluate("document.activeElement.id || document.activeElement.dataset.focus || document.activeElement.tagName")


def test_focus_and_caret_survive_every_change(ref_page):
    """Enter / Tab in a weight, Space on a filter, Enter on prefer, a row and a sort button, Enter in the name
    glob: the page re-renders, and focus (and the caret) stay where the user was."""
    pg = ref_page.page
    ref_page.show("#")
    pg.click("#w-accuracy")
    pg.fill("#w-accuracy", "3")
    pg.press("#w-accuracy", "Enter")
    assert active(pg) == "w-accuracy"
    assert ref_page.ranking() == expected(None, preset="paper", weights={"accuracy": 3.0})[0]
    pg.press("#w-accuracy", "Tab")
    assert active(pg) == "w-adversarial_robustness"
    pg.keyboard.type("2")
    pg.keyboard.press("Tab")  # the change commits on leaving; focus goes on to the next weight
    assert active(pg) == "w-corruption_robustness"
    assert ref_page.ranking() == expected(None, preset="paper", weights={"accuracy": 3.0,
                                                                         "adversarial_robustness": 2.0})[0]
    box = "input[data-filter='architecture'][value='CNN']"
    pg.focus(box)
    pg.keyboard.press("Space")
    assert pg.is_checked(box) and pg.evaluate("document.activeElement.value") == "CNN"
    assert {m for m, _, _ in ref_page.ranking()} == set(rank(filters=Filters(architecture=["CNN"])).ranked["model"])
    pg.focus("#prefer button[data-dim='shape_bias']")
    pg.keyboard.press("Enter")
    assert pg.get_attribute("#prefer button[data-dim='shape_bias']", "aria-pressed") == "true"
    assert pg.evaluate("document.activeElement.dataset.dim") == "shape_bias"
    first = pg.locator("#ranking tbody tr").nth(0).locator("button")
    key = first.get_attribute("data-key")
    first.focus()
    pg.keyboard.press("Enter")  # the table is redrawn: the same model's button has focus again
    assert active(pg) == f"row:{key}" and pg.locator(".model-card").count() == 1
    pg.focus("#ranking th button[data-sort='accuracy']")
    pg.keyboard.press("Enter")
    assert active(pg) == "sort:accuracy" and "sort=-accuracy" in pg.evaluate("location.hash")
    ref_page.show("#")
    pg.click("#name")
    pg.keyboard.type("vit*")
    pg.keyboard.press("Enter")
    assert active(pg) == "name" and pg.evaluate("document.activeElement.selectionStart") == 4
    assert ref_page.ranking() == expected(None, name=["vit*"])[0]


def test_back_undoes_a_change_and_forward_redoes_it(ref_page):
    pg = ref_page.page
    ref_page.show("#preset=paper")
    pg.select_option("#preset", "trustworthy")
    pg.select_option("#preset", "robustness")
    pg.locator("#ranking tbody tr").nth(0).locator("button").click()
    pg.check("input[data-filter='architecture'][value='Transformer']")
    assert pg.locator(".model-card").count() == 1

    def after(move, check):
        move()
        pg.wait_for_function(check)

    after(pg.go_back, "!document.querySelector(\"input[data-filter='architecture'][value='Transformer']\").checked")
    assert ref_page.ranking() == expected(None, preset="robustness")[0] and pg.locator(".model-card").count() == 1
    after(pg.go_back, "!document.querySelector('.model-card')")
    after(pg.go_back, "document.getElementById('preset').value === 'trustworthy'")
    assert ref_page.ranking() == expected(None, preset="trustworthy")[0]
    after(pg.go_back, "document.getElementById('preset').value === 'paper'")
    after(pg.go_forward, "document.getElementById('preset').value === 'trustworthy'")
    assert ref_page.ranking() == expected(None, preset="trustworthy")[0]
    after(pg.go_forward, "document.getElementById('preset').value === 'robustness'")
    assert pg.evaluate("location.hash") == "#preset=robustness"
    assert ref_page.notices() == []


def box(pg, selector):
    return pg.evaluate("""s => { const e = document.querySelector(s); if (!e) return null;
        const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; }""", selector)


def overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_phone_layout_at_400px(browser, files):
    """Dark, 400 px wide: no page-wide horizontal scroll; the ranking on the first screen with the first row's
    model and QUBA in view, and in view still when the table scrolls sideways; plots at full width with the
    legend and colour bar below them; radar labels inside the plot; heatmap numbers at 10 px or more."""
    page = Page(browser, files["mixed"][0], "#sel=EVA02-b-21k", viewport={"width": 400, "height": 800},
                color_scheme="dark")
    pg = page.page
    assert pg.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    bg = pg.evaluate("getComputedStyle(document.body).backgroundColor")
    assert sum(int(x) for x in re.findall(r"\d+", bg)[:3]) < 150, bg
    assert not pg.evaluate("document.getElementById('controls').open")  # folded to one line above the ranking
    model, quba = "#ranking tbody tr .c-model button", "#ranking tbody tr .c-quba"
    m0, q0 = box(pg, model), box(pg, quba)
    assert 0 <= m0[0] and q0[2] <= 400 and q0[3] <= 800, (m0, q0)
    assert pg.inner_text(model) == "EVA02-b-21k" and pg.inner_text(quba) == "1.074"
    acc = "#ranking tbody tr td[data-dim='accuracy']"
    a0 = box(pg, acc)
    pg.evaluate("document.getElementById('table-wrap').scrollLeft = 400")
    assert box(pg, model) == m0 and box(pg, quba) == q0  # sticky...
    assert box(pg, acc)[0] < a0[0] - 300  # ...while the rest scrolls under them
    pg.screenshot(path=str(files["shots"] / "phone.png"))
    sc = pg.evaluate("""() => { const gd = document.getElementById('scatter'), s = gd._fullLayout._size,
        r = gd.getBoundingClientRect(), l = gd.querySelector('.legend').getBoundingClientRect(),
        t = gd.querySelector('.g-xtitle').getBoundingClientRect();
        return {width: r.width, plotW: s.w, plotBottom: r.top + s.t + s.h, legendTop: l.top, xtitleBottom: t.bottom}; }""")
    assert sc["width"] >= 350 and sc["plotW"] >= 280, sc
    assert sc["legendTop"] >= sc["plotBottom"] and sc["legendTop"] >= sc["xtitleBottom"], sc
    radar = box(pg, "#radar")
    ticks = pg.eval_on_selector_all("#radar .angularaxistick text", "ts => ts.map(t => { const b = t.getBoundingClientRect();"
                                    " return [b.left, b.top, b.right, b.bottom]; })")
    assert len(ticks) == 9 and all(radar[0] <= t[0] and t[2] <= radar[2] for t in ticks), (radar, ticks)
    hm = pg.evaluate("""() => { const gd = document.getElementById('heatmap'), s = gd._fullLayout._size,
        cb = gd.querySelector('.colorbar').getBoundingClientRect(), r = gd.getBoundingClientRect();
        const sizes = Array.from(gd.querySelectorAll('.heatmap-label text')).map(t => parseFloat(getComputedStyle(t).fontSize));
        return {plotW: s.w, plotBottom: r.top + s.t + s.h, cbTop: cb.top, minFont: Math.min(...sizes), n: sizes.length}; }""")
    assert hm["plotW"] >= 280 and hm["cbTop"] >= hm["plotBottom"] and hm["n"] == 81 and hm["minFont"] >= 10, hm
    # Every control has a label.
    unlabelled = pg.evaluate("""Array.from(document.querySelectorAll('input, select')).filter(e =>
        !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.id)""")
    assert unlabelled == []
    page.close()


def test_tablet_layout_at_768px(browser, files):
    page = Page(browser, files["reference"][0], viewport={"width": 768, "height": 1000})
    pg = page.page
    assert pg.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert box(pg, "#ranking tbody tr .c-quba")[3] <= 1000  # the first row on the first screen
    sc = pg.evaluate("""() => { const gd = document.getElementById('scatter'), s = gd._fullLayout._size,
        r = gd.getBoundingClientRect(), l = gd.querySelector('.legend').getBoundingClientRect();
        return {width: r.width, plotW: s.w, plotRight: r.left + s.l + s.w, legendLeft: l.left}; }""")
    assert sc["width"] >= 700 and sc["plotW"] >= 450 and sc["legendLeft"] >= sc["plotRight"], sc
    pg.screenshot(path=str(files["shots"] / "tablet.png"))
    page.close()


def test_the_mode_bar_covers_nothing(ref_page):
    """Plotly's toolbar sits in the plots' top margin: not over the legend's first entry, nor the colour bar."""
    ref_page.show("#")
    pg = ref_page.page
    mb, legend = box(pg, "#scatter .modebar"), box(pg, "#scatter .legend .traces")
    assert mb and legend and not overlap(mb, legend), (mb, legend)
    mb, cb = box(pg, "#heatmap .modebar"), box(pg, "#heatmap .colorbar")
    assert mb and cb and not overlap(mb, cb), (mb, cb)


def test_address_input_is_bounded_and_notices_grouped(ref_page):
    pg = ref_page.page
    # A 50,000-character glob: one notice, and the page works (the glob ignored: every model).
    ref_page.show("#name=" + "a*" * 25_000)
    notes = ref_page.notices()
    assert len(notes) == 1 and "longer than 256 characters" in notes[0] and "50,000 characters" in notes[0], notes
    assert ref_page.ranking() == expected(None)[0]
    pg.fill("#name", "x" * 300 + ",vit*")  # typed: the same limit, the rest still applies
    pg.press("#name", "Enter")
    assert ref_page.ranking() == expected(None, name=["vit*"])[0]
    assert any("longer than 256" in n for n in ref_page.notices())
    # A 289 KB weights value (20,000 entries): a handful of notices, not 20,000.
    huge = "weights=" + ",".join(f"bog{i:05d}:0.5" for i in range(20_000))
    assert 250_000 < len(huge) < 310_000  # the was 289 KB
    ref_page.show("#" + huge)
    notes = ref_page.notices()
    assert pg.locator("#notices .notice").count() <= 9, notes
    assert any("has 20,000 entries; read the first 64" in n for n in notes)
    assert any("'bog00000:0.5' (unknown dimension" in n and "and 59 more" in n for n in notes), notes
    assert ref_page.ranking() == expected(None)[0]  # all ignored: the default preset
    # Many different notices: 8 shown, the rest behind "more".
    ref_page.show("#" + "&".join(f"k{i}=1" for i in range(3)) + "&preset=no&max_params=-1&x=no&y=no&sort=no"
                  "&renormalise=maybe&oriented=maybe&fixed=maybe&marker=no&architecture=zz&paradigm=zz")
    assert pg.locator("#notices > .notice").count() == 8
    assert pg.locator("#notices .more-notices .notice").count() >= 3
    assert any(n.startswith("unknown setting 'k0', 'k1', 'k2' in the link") for n in ref_page.notices())
    # Too many models to compare.
    ref_page.show("#sel=" + ",".join(m for m, _, _ in expected(None)[0][:5]))
    assert pg.locator(".model-card").count() == 3 and any("kept the first 3" in n for n in ref_page.notices())


def test_globs_match_as_fnmatch_without_regular_expressions(ref_page):
    """Known answers from Python's fnmatch.fnmatchcase for random globs (classes, ranges, negation, stars),
    and a glob that would backtrack for ever as a regular expression: answered at once."""
    import fnmatch

    rng = np.random.default_rng(5)
    alphabet = list("ab-!]^[*?z\\") + ["é", "\U0001f600"]
    names = ["".join(rng.choice(list("abz-!]^[\\é"), size=rng.integers(0, 7))) for _ in range(40)] + ["", "\U0001f600a"]
    globs = ["".join(rng.choice(alphabet, size=rng.integers(0, 8))) for _ in range(300)]
    globs += ["[a-z]", "[z-a]", "[!a]", "[!]", "[]a]", "[!b-a]", "[a-c-e]", "[b-a-c]", "[a-]", "*[!-]*", "[\\]", "a*b?z"]
    cases = [(g, n) for g in globs for n in names[:12]] + [(g, n) for g in globs[:40] for n in names]
    got = ref_page.page.evaluate("cs => cs.map(([g, n]) => quba.globMatch(g, n))", cases)
    want = [fnmatch.fnmatchcase(n, g) for g, n in cases]
    bad = [(g, n, w) for (g, n), gg, w in zip(cases, got, want) if gg != w]
    assert not bad, bad[:10]
    assert sum(want) > 200
    evil = "*a" * 40 + "*b"
    ref_page.show(to_hash(name=[evil, "resnet*"]))
    assert ref_page.ranking() == expected(None, name=[evil, "resnet*"])[0]


def test_not_ranked_hints_are_true(ref_page):
    """The reason per group and what would rank them, as quba rank says: under a parameter filter the 22 models
    without a parameter count are not helped by Renormalise, and the page does not say they are."""
    from quba.ranking.score import REMEDIES

    for case in ({}, {"max_params": 50}, {"max_params": 50, "renormalise": True}, {"weights": "shape_bias:1"},
                 {"preset": "size-agnostic", "max_params": 30}):
        ref_page.show(to_hash(**case) if case else "#")
        r = rank(**api({k: (v.replace(":", "=") if k == "weights" else v) for k, v in case.items()}))
        got = ref_page.page.eval_on_selector_all(
            "#not-ranked li", "ls => ls.map(l => [l.dataset.model, l.dataset.reason, l.dataset.remedy])")
        assert sorted(map(tuple, got)) == sorted(zip(r.excluded["model"], r.excluded["reason"], r.excluded["remedy"])), case
        summary = ref_page.page.inner_text("#not-ranked-summary")
        hints = ref_page.page.eval_on_selector_all(".nr-group .hint", "hs => hs.map(h => h.textContent)")
        for remedy in set(r.excluded["remedy"]):
            assert REMEDIES[remedy]["page"] in summary and REMEDIES[remedy]["page"] in hints
        if "max_params" in case:
            assert "Renormalise to score" not in summary + " ".join(hints)
    ref_page.show("#weights=shape_bias:1")
    assert ref_page.page.is_hidden("#not-ranked-box")  # every model has a shape bias: nothing to list


def test_scatter_note_mentions_your_results_only_when_shown(mixed_page, ref_page):
    ref_page.show("#")
    assert "your results" not in ref_page.page.inner_text("#scatter-note")
    mixed_page.show("#y=shape_bias")  # all three of their rows have both values
    assert "larger outlined markers: your results (3)" in mixed_page.page.inner_text("#scatter-note")
    mixed_page.show("#y=shape_bias&name=resnet*")  # their rows filtered out: no such markers, no such note
    assert "your results" not in mixed_page.page.inner_text("#scatter-note")


def test_what_the_authors_page_shows(ref_page):
    """Hover with every value, QUBA and the paper; marker shape by paradigm, switchable; the metadata columns,
    hideable; fixed axis ranges; how to read this; the BibTeX of the paper."""
    from quba import dimensions
    from quba.ranking import load_leaderboard

    pg = ref_page.page
    lb = load_leaderboard().set_index("model")
    ref_page.show("#")
    text = pg.evaluate("""m => { for (const t of document.getElementById('scatter').data) {
        const j = (t.customdata || []).indexOf(m); if (j >= 0) return t.text[j]; } }""", "EVA02-b-21k")
    for d in PAPER_NINE:
        assert dimensions.get(d).title in text, d
    assert "QUBA +1.074" in text and "(rank 1)" in text and "0.8826" in text
    assert lb.loc["EVA02-b-21k", "paper_title"][:40] in text
    # Shape: training paradigm by default, pretraining data or none on request.
    shapes = lambda: pg.evaluate("""() => { const d = document.getElementById('scatter').data;
        const legend = {}; d.filter(t => t.legendgroup === 'shape').forEach(t => legend[t.name] = t.marker.symbol);
        const pts = {}; d.filter(t => t.legendgroup === 'arch').forEach(t => t.customdata.forEach((m, j) => {
          if (m) pts[m] = t.marker.symbol[j]; }));
        return {legend, pts, title: (d.find(t => t.legendgroup === 'shape') || {legendgrouptitle: {}}).legendgrouptitle.text}; }""")
    for marker, col in (("paradigm", "paradigm"), ("pretraining_data", "pretraining_data")):
        ref_page.show("#" + ("" if marker == "paradigm" else "marker=" + marker))
        s = shapes()
        assert set(s["legend"]) == set(lb[col].dropna())
        assert all(s["pts"][m] == s["legend"][lb.loc[m, col]] for m in s["pts"])
        assert s["title"] == {"paradigm": "training paradigm", "pretraining_data": "pretraining data"}[marker]
    ref_page.show("#marker=none")
    s = shapes()
    assert s["legend"] == {} and set(s["pts"].values()) == {"circle"}
    # The metadata columns, and the box that hides one (an address key, like every other setting).
    ref_page.show("#")
    row = pg.locator("#ranking tr[data-model='EVA02-b-21k']")
    assert [row.locator(f"td[data-meta='{c}']").inner_text().strip("●■◆▲✚✖▼⬟⬢★ ") for c in
            ("architecture", "paradigm", "pretraining_data")] == list(lb.loc["EVA02-b-21k", ["architecture",
                                                                                           "paradigm",
                                                                                           "pretraining_data"]])
    pg.uncheck("#col-paradigm")
    assert "hide=paradigm" in pg.evaluate("location.hash") and row.locator("td[data-meta='paradigm']").count() == 0
    # Fixed axes: the suite's whole range (4% spare), whatever the filters; QUBA's over every model, renormalised.
    ref_page.show("#fixed=1&x=accuracy&y=quba&architecture=cnn")
    rx, ry = pg.evaluate("(() => { const l = document.getElementById('scatter').layout; return [l.xaxis.range, l.yaxis.range]; })()")
    acc = lb["accuracy"]
    q = rank(renormalise=True).ranked["quba"]
    for got, lo, hi in ((rx, acc.min(), acc.max()), (ry, q.min(), q.max())):
        pad = (hi - lo) * 0.04
        assert got == pytest.approx([lo - pad, hi + pad], abs=1e-9)
    ref_page.show("#x=accuracy&y=quba&architecture=cnn")
    assert pg.evaluate("document.getElementById('scatter').layout.xaxis.autorange") is True
    # How to read this, and the citation exactly as the authors give it.
    assert "oriented z-scores" in pg.inner_text("#howto-section")
    from quba.paths import data_file
    assert pg.inner_text("#bibtex") == data_file("beyond_accuracy.bib").read_text().strip()
    assert "Hesse" in pg.inner_text("#bibtex") and "{TMLR}" in pg.inner_text("#bibtex")


HOSTILE_ROWS = [  # model, architecture, paper_title, accuracy, calibration_error, shape_bias
    ('<img src=x onerror="window.__pwned=1">', "<b>arch</b>", '<i onmouseover="window.__pwned=4">t</i>', 0.8, 0.004, 0.3),
    ('"><script>window.__pwned=2</script>', "CNN", "", 0.7, 0.003, 0.2),
    ("%{x} &amp; <b>bold</b>", "CNN", "", 0.75, 0.005, 0.25),
    ("'; window.__pwned=3; '", "CNN", "", 0.72, None, 0.28),
]


def test_hostile_names_render_as_text(browser, tmp_path):
    import pandas as pd

    src = tmp_path / "hostile.csv"
    frame = pd.DataFrame(HOSTILE_ROWS, columns=["model", "architecture", "paper_title", "accuracy",
                                                "calibration_error", "shape_bias"])
    frame.assign(suite="imagenet", paradigm="SL").to_csv(src, index=False)
    names = list(frame["model"])
    out = write_report_html(tmp_path / "hostile.html", [str(src)])
    page = Page(browser, out, to_hash(sel=names[:3]))
    pg = page.page
    assert pg.evaluate("window.__pwned === undefined")
    assert page.ranking() == expected([str(src)])[0]
    assert sorted(pg.eval_on_selector_all("#ranking tbody tr .c-model button", "bs => bs.map(b => b.textContent)")) \
        == sorted(m for m, _, _ in page.ranking())
    assert sorted(pg.eval_on_selector_all(".model-card h3 > span", "s => s.map(x => x.textContent)")) == sorted(names[:3])
    assert pg.eval_on_selector_all("#not-ranked li", "ls => ls.map(l => l.textContent)") == [names[3]]
    legend = pg.eval_on_selector_all("#scatter .legendtext", "ts => ts.map(t => t.textContent)")
    assert "<b>arch</b>" in legend
    pg.evaluate("""() => { const gd = document.getElementById('scatter');
        const c = gd.data.findIndex(t => (t.customdata || []).includes(%s));
        Plotly.Fx.hover(gd, [{curveNumber: c, pointNumber: 1}]); }""" % json.dumps(names[0]))
    hover = pg.text_content("#scatter .hovertext")
    assert names[0] in hover and '<i onmouseover="window.__pwned=4">t</i>' in hover
    assert pg.evaluate("window.__pwned === undefined")
    page.close()


def test_without_plotly_the_table_works_and_the_plots_say_why(browser, tmp_path):
    text = build_report_html()
    text = re.sub(r'(<script type="text/plain" id="plotly-js">).*?(</script>)', r"\1\2", text, flags=re.S)
    out = tmp_path / "noplotly.html"
    out.write_text(text)
    page = Page(browser, out, "#preset=trustworthy")
    pg = page.page
    assert page.ranking() == expected(None, preset="trustworthy")[0]
    assert pg.locator(".plot .loading.failed").count() == 2
    assert any("Plotly is missing" in n for n in page.notices())
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
    assert all(any(fnmatch.fnmatch(a, g) for g in globs) for a in assets + ["data/beyond_accuracy.bib"])


def test_build_is_deterministic_apart_from_the_timestamp():
    a = re.sub(r'"generated":"[^"]*"', "", build_report_html())
    b = re.sub(r'"generated":"[^"]*"', "", build_report_html())
    assert a == b


def test_every_address_key_round_trips(ref_page):
    """A view with every key set reads back to the same address (the new keys marker, fixed, hide included),
    and the page shows it: what Back and Forward rely on."""
    h = ("preset=trustworthy&weights=accuracy:2&prefer=shape_bias&renormalise=1&exclude_missing=1&architecture=CNN"
         "&paradigm=Supervised%20learning&pretraining_data=ImageNet-1k&max_params=80&name=res*,vit*&x=calibration_error"
         "&y=quba&sel=ResNet50&sort=-accuracy&oriented=1&marker=pretraining_data&fixed=1&hide=paradigm")
    assert ref_page.page.evaluate("h => quba.stateToHash(quba.parseHash(h).state)", h) == h
    ref_page.show("#" + h)
    assert ref_page.page.evaluate("quba.hash()") == h and ref_page.notices() == []
    assert ref_page.page.input_value("#marker") == "pretraining_data" and ref_page.page.is_checked("#fixed")
    assert not ref_page.page.is_checked("#col-paradigm")


# --------------------------------------------------------------------------- the reproduction section
def _repro_records(out):
    """Records under out/imagenet/ as `quba evaluate` leaves them, with leaderboard.csv beside them: paper models
    with every kind of note (the quba protocol, an incomplete split, skipped images, a subset root with generated
    ImageNet-C, a root described by its own manifest, no interval) and one model without a paper row."""
    from paper_records import DESCRIBED_VAL, SUBSET_OF_GENERATED, record, val_and_corruptions, write
    from quba.store.leaderboard import write_leaderboard

    dims = {"accuracy": (0.7600, 0.7560, 0.7640), "adversarial_robustness": (0.30, 0.28, 0.32),
            "corruption_robustness": (0.51, 0.50, 0.52), "parameters_m": (25.557032, 25.557032, 25.557032)}
    write(out, record("ResNet50", dims, protocol="quba", splits=val_and_corruptions(complete=False, skipped=3)),
          record("AlexNet", {"accuracy": (0.56, 0.50, 0.60), "corruption_robustness": (0.4, 0.38, 0.42)},
                 data=SUBSET_OF_GENERATED),
          record("EfficientNet-B0", {"accuracy": (1.0, 1.0, 1.0)}, data=DESCRIBED_VAL,
                 splits={"val": {"images": 6, "complete": True}}),
          record("VGG16", {"accuracy": (0.7159, None, None)}),
          record("tf_efficientnet_lite0@lite0.pth", {"accuracy": (0.75, 0.7, 0.8)}))
    return write_leaderboard(out, "imagenet")


def _section_rows(pg):
    """The section's rows as (model, dimension, fresh, lo, hi, published, difference, inside, like, notes, inside
    text): the numbers as Python's repr, read from the rows' data attributes."""
    return [tuple(r) for r in pg.eval_on_selector_all("#repro table.repro tbody tr", """rs => rs.map(r => [
        r.dataset.model, r.dataset.dimension, r.dataset.fresh, r.dataset.lo, r.dataset.hi, r.dataset.published,
        r.dataset.difference, r.dataset.inside, r.dataset.like, r.querySelector('td.notes').textContent,
        r.querySelector('td.inside').textContent])""")]


def _cli_rows(rows):
    """`quba reproduce --format json`'s rows as _section_rows reads them."""
    num = lambda x: "" if x is None else repr(float(x))  # noqa: E731
    flag = lambda v: "" if v is None else str(bool(v))  # noqa: E731
    return [(r["model"], r["dimension"], num(r["fresh"]), num(r["lo"]), num(r["hi"]), num(r["published"]),
             num(r["difference"]), flag(r["inside"]), flag(r["like_for_like"]),
             "; ".join(r["notes"]) or "like for like", {None: "\u2014", True: "yes", False: "no"}[r["inside"]])
            for r in rows]


def test_the_reproduction_section_equals_quba_reproduce(browser, tmp_path, capsys):
    """Row for row what `quba reproduce --format json` gives for the records beside the leaderboard, its summary
    and unmatched records, and its CSV download byte for byte `quba reproduce --format csv`."""
    lb = _repro_records(tmp_path / "results")
    html = tmp_path / "r.html"
    assert main(["report", "-l", "reference", "-l", str(lb), "-o", str(html)]) == 0
    capsys.readouterr()
    assert main(["reproduce", "-o", str(tmp_path / "results"), "--format", "json"]) == 0
    want = json.loads(capsys.readouterr().out)
    assert main(["reproduce", "-o", str(tmp_path / "results"), "--format", "csv"]) == 0
    want_csv = capsys.readouterr().out
    page = Page(browser, html)
    try:
        pg = page.page
        assert "Reproduction" in pg.inner_text("#jump")
        assert pg.inner_text("#h-repro") == "Reproduction against the paper"
        got = _section_rows(pg)
        assert got == _cli_rows(want["rows"]) and len(got) == 8
        notes = {(r[0], r[1]): r[9] for r in got}  # every kind of note is there
        assert "quba protocol, paper's rows: paper" in notes[("ResNet50", "adversarial_robustness")]
        assert "incomplete split corruption/snow/2 (1500 of 50000 images)" in notes[("ResNet50", "corruption_robustness")]
        assert "ImageNet-C generated locally from val (quba data generate" in notes[("AlexNet", "corruption_robustness")]
        assert notes[("EfficientNet-B0", "accuracy")].startswith("data root described by its own manifest: val 6")
        assert notes[("ResNet50", "parameters_m")] == "like for like"
        text = pg.inner_text("#repro")
        assert want["summary"]["line"] in text and "Without a row: tf_efficientnet_lite0@lite0.pth" in text
        assert "inside \u2014: no 95% interval" in text  # VGG16, --bootstrap 0
        row = pg.locator("#repro tr[data-model='ResNet50'][data-dimension='accuracy'] td")
        assert row.all_inner_texts() == ["ResNet50", "accuracy \u2191", "0.7600", "[0.7560, 0.7640]", "0.7613",
                                         "-0.0013", "yes", "like for like"]
        assert pg.evaluate("window.quba.reproductionCsv(0)") == want_csv
        with pg.expect_download() as dl:  # the real button, once
            pg.click("#repro button[data-repro-csv]")
        dl.value.save_as(tmp_path / "repro.csv")
        assert (tmp_path / "repro.csv").read_text() == want_csv and dl.value.suggested_filename == \
            "quba-reproduction-imagenet.csv"
        page.show("#preset=trustworthy&name=ResNet*")  # the ranking's weights and filters leave it alone
        assert _section_rows(pg) == got
    finally:
        page.close()


@pytest.mark.slow
def test_the_reproduction_section_is_there_only_for_records_with_a_published_row(browser, ref_page, tmp_path):
    """No records (the paper's leaderboard alone), or records none of whose models has a published row (a
    checkpoint of one's own): no section. Beside the shipped mini records it is there, and on the suite
    whose records have no published row it says so."""
    assert ref_page.page.locator("#repro-section").count() == 0  # the paper's leaderboard only: no records
    assert "Reproduction" not in ref_page.page.inner_text("#jump")
    from paper_records import record, write
    from quba.store.leaderboard import write_leaderboard

    write(tmp_path / "results", record("tf_efficientnet_lite0@lite0.pth", {"accuracy": (0.75, 0.7, 0.8)}))
    mine = str(write_leaderboard(tmp_path / "results", "imagenet"))
    page = Page(browser, write_report_html(tmp_path / "own.html", ["reference", mine]))
    try:
        assert page.page.locator("#repro-section").count() == 0
        assert "Reproduction" not in page.page.inner_text("#jump")
    finally:
        page.close()
    page = Page(browser, write_report_html(tmp_path / "r.html", ["reference", mine, MINI]))
    try:
        assert "Reproduction" in page.page.inner_text("#jump")
        text = page.page.inner_text("#repro")  # suite imagenet: only the Lite0 record, without a paper row
        assert "No model of suite imagenet has a row in its published leaderboard" in text
        assert page.page.locator("#repro table").count() == 0 and page.page.locator("#repro button").count() == 0
        page.show("#suite=mini")  # the shipped mini records against their own reference
        assert page.page.inner_text("#h-repro") == "Reproduction against mini_reference.csv"
        rep = __import__("quba").reproduce(ROOT / "results", "mini")
        assert _section_rows(page.page) == _cli_rows(rep["rows"]) and len(rep["rows"]) >= 13 * 9
    finally:
        page.close()


def test_the_reproduction_csv_escapes_formula_cells_as_quba_reproduce_does(browser, tmp_path, monkeypatch):
    """Text cells a spreadsheet would run (a model id, a note) get the leading ' of quba/csvsafe.py, as in
    `quba reproduce --format csv`."""
    import pandas as pd

    from paper_records import record
    from quba.ranking import reproduction as R
    from quba.report import html as H

    names = ['=HYPERLINK("http://x","y")', "@SUM(1+1)", "-2+3", "''=twice"]
    recs = [record(n, {"accuracy": (0.5, 0.4, 0.6)}, splits={"-cmd|x": {"images": 1, "complete": False,
                                                                      "expected_images": 2}})
            for n in names]
    published = pd.DataFrame({"model": names, "suite": "imagenet", "accuracy": [0.45, 0.5, 0.55, 0.7],
                              "leaderboard": "theirs.csv"})
    rep = {**R.compare(recs, published, label="theirs.csv", protocol=None), "records": "=records"}
    monkeypatch.setattr(H, "reproduction_data", lambda leaderboards, suites: {"imagenet": [rep]})
    page = Page(browser, write_report_html(tmp_path / "r.html", ["reference"]))
    try:
        got = page.page.evaluate("window.quba.reproductionCsv(0)")
        assert got == R.rows_csv(rep)
        cells = {c for row in __import__("csv").reader(got.splitlines()) for c in row}
        assert {"'=HYPERLINK(\"http://x\",\"y\")", "'@SUM(1+1)", "'-2+3", "'''=twice"} <= cells
        assert "incomplete split -cmd|x (1 of 2 images)" in cells  # starts with a letter: left alone
        assert page.page.evaluate("window.__pwned") is None
        assert [r[0] for r in _section_rows(page.page)] == sorted(names)
    finally:
        page.close()
