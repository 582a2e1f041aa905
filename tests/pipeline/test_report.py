"""The report reads as a paper: it says the data are simulated and names its file, answers every
hypothesis with its evidence, states one interval convention, shows tables fit for readers and
figures whose numbers are those of their tables; printed to PDF, no table row is lost."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clusterpreneur.diagnostics import plots
from clusterpreneur.models.verdict import VERDICTS
from clusterpreneur.pipeline import run_study
from clusterpreneur.pipeline.artefacts import read_csv
from clusterpreneur.pipeline.paper import EXHIBITS, SECTIONS
from clusterpreneur.study.predictors import term_label


def sections(html: str) -> dict[str, str]:
    """The report's ``<section id=...>`` blocks: id -> HTML."""
    parts = re.split(r'<section id="([^"]+)"', html)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def text(html: str) -> str:
    """The words of some HTML: no style sheets, no tags."""
    html = re.sub(r"<style>.*?</style>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


class Tables(HTMLParser):
    """Every table of a report: list of rows, each the list of its cells' text."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table = None
        self._row = None
        self._cell = None
        self._body = False
        self._name = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div" and (attrs.get("id") or "").startswith("table-"):
            self._name = attrs["id"]  # great_tables puts the table's id on its wrapper
        elif tag == "table" and "gt_table" in (attrs.get("class") or ""):
            self._table = self._name or f"t{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tbody" and self._table:
            self._body = True
        elif tag == "tr" and self._body:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row and any(self._row):
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "tbody":
            self._body = False
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def report_tables(html: str) -> dict[str, list[list[str]]]:
    parser = Tables()
    parser.feed(html)
    return parser.tables


def test_report_says_what_the_data_are_and_names_its_file(tiny_run):
    _, result, _ = tiny_run
    html = result.report.read_text()
    assert "Simulated data" in html and "survey_truth.json" in html
    assert "<code>survey.csv</code>" in html
    found = sections(html)
    assert [s.id for s in SECTIONS] == list(found)
    data = text(found["data"])
    assert "120 cluster initiatives" in data and "countries" in data
    assert "analysis/STUDY.md" in text(found["question"]) and 'href="STUDY.md"' in found["question"]
    assert (result.out_dir / "STUDY.md").is_file()


def test_every_hypothesis_is_answered_in_one_sentence_with_its_evidence(tiny_run):
    _, result, _ = tiny_run
    html = result.report.read_text()
    summary = re.search(r'<ul class="answers">(.*?)</ul>', html, re.S).group(1)
    items = re.findall(r"<li>(.*?)</li>", summary, re.S)
    assert [re.search(r"H\d", i).group(0) for i in items] == [f"H{k}" for k in range(1, 7)]
    hyp = pd.read_csv(result.out_dir / "tables" / "hypotheses.csv")
    for item in items:
        words = text(item)
        assert re.search("|".join(VERDICTS), words), words
        assert "P(" in words and "95% interval" in words
        # standardised terms per SD; a 0/1 term (H5's public-private mix) on its one scale, per unit
        assert "log-odds per SD" in words or "(0/1) (95% interval" in words, words
    h3 = text(items[2])  # two terms, one combined answer, the evidence of both
    assert "Social capital" in h3 and "peripheral" in h3
    verdict = hyp.loc[hyp["hypothesis"] == "H1", "verdict"].iloc[0]
    assert f"): {verdict} P(" in text(items[0])
    results = text(sections(html)["results"])
    assert results.count("The data were simulated with") == len(hyp)  # the truth beside each estimate


def test_verdict_rule_allows_for_eight_claims_and_the_table_says_what_chance_gives(tiny_run):
    from clusterpreneur.models.verdict import verdicts
    from clusterpreneur.pipeline.plan import RULE

    _, result, _ = tiny_run
    html = result.report.read_text()
    words = unescape(text(html))
    assert words.count("judged together (Holm's step-down adjustment)") == 1  # stated once
    assert "Verdict rule." in text(sections(html)["methods"]) and "0.99375" in words
    hyp = pd.read_csv(result.out_dir / "tables" / "hypotheses.csv")
    assert len(hyp) == 8 and set(hyp["claims"]) == {8}
    assert list(hyp["verdict"]) == verdicts(hyp["prob_direction"], RULE)  # the one rule's verdicts
    rows = report_tables(html)["table-hypotheses"]
    shown = [r[3] for r in rows if r and r[0].startswith("H")]  # hypothesis, sign, P, threshold
    assert shown == [f"{t:.4f}" for t in hyp["threshold"]]
    assert "Expected by chance: were no hypothesis true" in words
    assert "0.2 of these 8 claims would have a 95% interval on the predicted side" in words
    # main effects in an interaction with a 0/1 component: where that component is 0
    results = unescape(text(sections(html)["results"]))
    assert "coefficient of breadth (in non-peripheral regions) is positive" in results
    assert "coefficient of social capital (in non-peripheral regions) is positive" in results
    assert "coefficient of log firms is positive" in results


def test_one_interval_convention_stated_once(tiny_run):
    _, result, _ = tiny_run
    html = result.report.read_text()
    assert text(html).count("Every interval in this report is a 95% equal-tailed interval") == 1
    everything = text(html) + "".join(p.read_text() for p in (result.out_dir / "tables").glob("*.csv"))
    for other in ("89%", "90%", "q05", "q95", "eti89", "hdi"):
        assert other not in everything, other


def test_tables_are_for_readers(tiny_run):
    _, result, _ = tiny_run
    html = result.report.read_text()
    heads = re.findall(r'class="gt_col_heading[^"]*"[^>]*>(.*?)</th>', html, re.S)
    heads += re.findall(r'<span class="gt_column_spanner">(.*?)</span>', html, re.S)
    assert heads and not [h for h in heads if re.search(r"[a-z]_[a-z]", text(h))]  # no snake_case
    tables = report_tables(html)
    cells = [c for rows in tables.values() for row in rows for c in row]
    assert not [c for c in cells if re.search(r"\d\.\d+e[-+]?\d", c)]  # no scientific notation
    gate = tables["table-gate"][0]
    assert re.fullmatch(r"[\d,]+", gate[4]) and re.fullmatch(r"[\d,]+", gate[5])  # ESS as integers
    base = [row for row in tables["table-baselines"] if len(row) >= 7]
    p_values = [row[-2] for row in base if row[-2]]
    assert all(re.fullmatch(r"< 0\.001|[01]\.\d{3}", p) for p in p_values)  # p-values with a floor
    peripheral = [row for row in base if row[0] == term_label("peripheral")]
    assert peripheral and all(r[1] == r[2] == "" and r[3] and r[4] for r in peripheral)  # 0/1: one scale
    css = re.search(r"<style>(.*?)</style>", html, re.S).group(1)  # the report's own style sheet
    assert not re.search(r"overflow(-[xy])?\s*:\s*(auto|scroll)", css)  # no scroll boxes
    assert ".table-wrap > div { overflow: visible !important" in css  # nor great_tables' wrappers
    for e in EXHIBITS.values():  # captions in words: no function or module names
        assert not re.search(r"\w\.\w+\(|\b\w+_\w+\(|clusterpreneur\.|diagnostics\.", e.caption), e.name


def _redraw(fig, path: Path) -> None:
    assert plots.figure_bytes(fig, "png") == path.read_bytes(), path.name


def test_every_figure_shows_the_numbers_of_its_table(tiny_run):
    _, result, _ = tiny_run
    out, entries = result.out_dir, result.entries
    # forest: the reference model's coefficients and the logit's, as in the estimates tables
    forest = read_csv(entries["forest"].file("forest.csv"))
    coef = pd.read_csv(out / "tables" / "coefficients.csv")
    design_scale = coef["scale"] != "original"  # standardised, or unscaled for a 0/1 term
    rows = (coef["model"] == "bayes_M1") & (coef["outcome"] == "takeoff") & design_scale
    bayes = coef[rows].set_index("term")
    logit = read_csv(entries["baselines"].file("baselines.csv"))
    logit = logit[(logit["model"] == "logit") & (logit["scale"] != "original")].set_index("term")
    for _, row in forest.iterrows():
        source = bayes if row["group"].startswith("Bayes") else logit
        assert row["estimate"] == pytest.approx(source.loc[row["term"], "estimate"])
        assert row["upper"] == pytest.approx(source.loc[row["term"], "ci_upper"])
    from clusterpreneur.pipeline.steps.forest import XLABEL

    _redraw(plots.plot_forest(forest, xlabel=XLABEL), out / "figures" / "forest.png")
    # hypotheses: the figure's rows are the table's standardised medians and intervals
    from clusterpreneur.pipeline.steps.hypotheses import figure_rows, plot_hypotheses

    hyp = read_csv(entries["hypotheses"].file("hypotheses.csv"))
    truth = json.loads(entries["data"].file("truth.json").read_text())["params"]["coefficients"]
    _redraw(plot_hypotheses(figure_rows(hyp, truth)), out / "figures" / "hypotheses.png")
    shown = pd.read_csv(out / "tables" / "hypotheses.csv")
    assert np.allclose(shown["median_std"], hyp.loc[hyp["model"] == "M1", "median_std"])
    # cases
    from clusterpreneur.pipeline.steps.cases import plot_cases

    _redraw(plot_cases(pd.read_csv(out / "tables" / "cases.csv")), out / "figures" / "cases.png")
    # calibration: the curve and the printed scores are those of the table
    from clusterpreneur.diagnostics.ppc import Calibration

    scores = pd.read_csv(out / "tables" / "calibration_scores.csv").iloc[0]
    cal = Calibration(
        read_csv(entries["diagnostics:M1"].file("calibration_takeoff.csv")),
        *(scores[k] for k in ("brier", "mcb", "dsc", "unc", "mcb_p")),
        prob=0.95,
    )
    fig = plots.plot_calibration(cal, xlabel="x", ylabel="y")
    printed = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert f"Brier {scores['brier']:.3f}" in printed and f"MCB {scores['mcb']:.3f}" in printed
    html = result.report.read_text()
    row = next(r for r in report_tables(html)["table-calibration"] if r[0] == "M1")
    assert row[2] == f"{scores['brier']:.3f}" and row[3] == f"{scores['mcb']:.3f}"
    # convergence: each panel's R-hat and ESS are the gate's
    panels = read_csv(entries["diagnostics:M1"].file("convergence.csv")).set_index("label")
    gate = read_csv(entries["diagnostics:M1"].file("gate.csv")).set_index("parameter")
    assert len(panels) == 8
    for label, p in panels.iterrows():
        assert p["r_hat"] == pytest.approx(gate.loc[label, "r_hat"])
        assert p["ess_bulk"] == pytest.approx(gate.loc[label, "ess_bulk"])
    assert np.isclose(panels["ess_bulk"].max(), gate["ess_bulk"].nsmallest(8).max())


def _browser() -> str | None:
    from clusterpreneur.pipeline.pdf import find_browser

    return find_browser()


def test_pdf_keeps_every_row_of_every_table(tiny_run, tmp_path):
    """Printed to PDF (headless Chromium), every row of every table is there: no clipping."""
    if _browser() is None or shutil.which("pdftotext") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI must print the report: install chromium and poppler-utils (.ci/run does)")
        pytest.skip("no headless Chromium or pdftotext on this machine")
    config, _, cache = tiny_run
    result = run_study(config, tmp_path / "out", cache_dir=cache, progress=False, pdf=True)
    assert [r.name for r in result.records if not r.cached] == ["report"]
    pdf = result.out_dir / "report.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    pages = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    )
    lines = [" ".join(line.split()) for line in pages.stdout.splitlines()]
    blob = "\n".join(lines)
    tables = report_tables(result.report.read_text())
    assert len(tables) >= 10
    for name, rows in tables.items():
        # a row is found by its numbers (never wrapped), or by its first cell when it has none
        wanted = Counter()
        for row in rows:
            numbers = [c for c in row[1:] if re.fullmatch(r"[−\-<>\[\]0-9.,% ]+", c) and re.search(r"\d", c)]
            wanted[" ".join(numbers) if numbers else row[0]] += 1
        for signature, k in wanted.items():
            assert blob.count(signature) >= k, (name, signature)


def _forest_figure():
    from clusterpreneur.pipeline.exhibits import FigureFile

    rows = pd.DataFrame(
        {"label": ["a", "b", "c"], "group": "M1", "estimate": [0.1, -0.2, 0.3],
         "lower": [-0.1, -0.5, 0.0], "upper": [0.3, 0.1, 0.6]}
    )  # fmt: skip
    fig = plots.plot_forest(rows, xlabel="log-odds")
    return FigureFile("forest", "", plots.figure_bytes(fig, "png"), plots.figure_bytes(fig, "svg"))


def test_figures_are_embedded_in_their_lighter_format():
    """The SVG as its own text (no base64) when lighter, else the PNG, as a palette when it looks
    the same; each at the width it was drawn."""
    from urllib.parse import unquote
    from xml.etree import ElementTree

    from clusterpreneur.pipeline.exhibits import FigureFile
    from clusterpreneur.pipeline.report import embedded

    figure = _forest_figure()
    uri, width = embedded(figure)
    assert uri.startswith("data:image/svg+xml,<") and width == round(6.8 * 96)  # 6.8 in at 96 px per inch
    assert not re.search(r'[#"&]', uri)  # nothing ends the attribute, the URI or starts a reference
    decoded = ElementTree.fromstring(unquote(uri.split(",", 1)[1]))
    original = ElementTree.fromstring(figure.svg)
    assert [(e.tag, e.attrib, (e.text or "").strip()) for e in decoded.iter()] == [
        (e.tag, e.attrib, (e.text or "").strip()) for e in original.iter()
    ]  # the same SVG, whitespace between elements and the quotes of attributes aside

    heavy = figure.svg.replace(b"</svg>", b"<path d='M 0 0 L 1 1'/>" * 20_000 + b"</svg>")
    uri, width = embedded(FigureFile("f", "", figure.png, heavy))
    assert uri.startswith("data:image/png;base64,") and width == round(6.8 * 96)  # 1360 px at 200 dpi
    png = base64.b64decode(uri.split(",", 1)[1])
    assert png[25] == 3 and len(png) < len(figure.png) / 2  # IHDR colour type 3: a palette, lighter


def test_palette_png_only_when_it_looks_the_same():
    from PIL import Image

    from clusterpreneur.pipeline.report import palette_png

    full = _forest_figure().png
    small = palette_png(full)
    assert small is not None and len(small) < len(full) / 2
    a = np.asarray(Image.open(io.BytesIO(full)).convert("RGB"), dtype=int)
    b = np.asarray(Image.open(io.BytesIO(small)).convert("RGB"), dtype=int)
    assert a.shape == b.shape and np.abs(a - b).mean() < 0.1
    assert (np.abs(a - b).max(axis=-1) > 2).mean() < 0.001
    assert Image.open(io.BytesIO(small)).info["dpi"] == pytest.approx((200, 200), abs=0.01)

    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 60, 3), dtype=np.uint8))
    buf = io.BytesIO()
    noise.save(buf, format="PNG")
    assert palette_png(buf.getvalue()) is None  # thousands of colours: no palette draws it


def test_embedded_figures_of_study_size_stay_light():
    """The figures the report repeats per model, at the study's size (8 parameters x 4 chains x
    2,000 draws; 300 predicted probabilities), embed below their bounds: the report's budget
    leaves room for six of each and six SBC figures."""
    from clusterpreneur.diagnostics import ppc
    from clusterpreneur.pipeline.exhibits import FigureFile
    from clusterpreneur.pipeline.report import embedded

    rng = np.random.default_rng(1)
    panels = [
        {"label": f"u_region[C0{i}-R0{i}]", "draws": rng.normal(size=(4, 2000)), "r_hat": 1.001,
         "ess_bulk": 7000.0, "ess_tail": 6000.0}
        for i in range(8)
    ]  # fmt: skip
    p = rng.uniform(0.02, 0.98, 300)
    calibration = ppc.calibration(rng.uniform(size=300) < p, p)
    bounds = {
        "convergence": (plots.plot_convergence(panels), 130_000),
        "calibration": (plots.plot_calibration(calibration, xlabel="p", ylabel="share"), 25_000),
    }
    for kind, (fig, bound) in bounds.items():
        figure = FigureFile(kind, "", plots.figure_bytes(fig, "png"), plots.figure_bytes(fig, "svg"))
        uri, _ = embedded(figure)
        assert len(uri.encode()) < bound, (kind, len(uri.encode()))


def test_tables_share_one_style_sheet():
    from clusterpreneur.pipeline.report import shared_table_style
    from clusterpreneur.pipeline.typeset import Column, typeset

    frame = pd.DataFrame({"a": ["x", "y"], "b": [1.0, 2.0]})
    cols = [Column("a", "A"), Column("b", "B", "num2")]
    first, second = (typeset(n, frame, cols).html() for n in ("first", "second"))
    own = '<div id="table-own"><style>#table-own td { color: red; }</style><table></table></div>'
    css, tables = shared_table_style({"first": first, "second": second, "own": own})
    assert ":is(#table-first,#table-second) .gt_table" in css
    assert "<style>" not in tables["first"] + tables["second"] and tables["own"] == own
    sheet = re.search(r"<style>(.*?)</style>", first, re.S).group(1)
    assert css.replace(":is(#table-first,#table-second)", "#table-first") == sheet  # the same rules


def test_report_has_one_table_style_sheet_and_records_its_sizes(tiny_run):
    _, result, _ = tiny_run
    html = result.report.read_text()
    assert html.count("<style>") == 2  # the report's and the tables'
    summary = next(s["summary"] for s in result.manifest["steps"] if s["name"] == "report")
    size = summary["sizes"]
    assert size["total"] == len(result.report.read_bytes()) == summary["bytes"]
    assert size["total"] == size["figures"] + size["tables"] + size["text"]
    assert size["figures"] == sum(v for k, v in size.items() if k.startswith("figures:"))
    assert "figures:sbc_ecdf" in size and size["tables"] > size["text"] > 0
