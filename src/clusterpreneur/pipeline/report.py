"""The paper as one self-contained HTML file, plus every table as CSV, Markdown and LaTeX.

:func:`render` builds every exhibit of :mod:`clusterpreneur.pipeline.paper`, numbers them and
renders the Jinja templates in ``pipeline/templates`` (``report.html.j2``, one template per
section, ``exhibit.html.j2`` for tables and figures, ``report.css``). Figures are embedded
(:func:`embedded`: the SVG as its own text or the PNG, whichever is lighter) and the tables share
one style sheet (:func:`shared_table_style`), so the file opens offline (no script, style sheet,
font or image is fetched) and stays under ``REPORT_BUDGET`` (3 MB; :func:`sizes` says where the
bytes go, ``clusterpreneur report`` prints it).

Output layout (written by the ``report`` step)::

    report.html          the paper
    report.pdf           the same, printed by headless Chromium (``--pdf``)
    tables/<name>.csv    each table's numbers at full precision (tidy)
    tables/<name>.md     ... as the reader sees it, Markdown
    tables/<name>.tex    ... as the reader sees it, LaTeX (booktabs)
    tables.md, tables.tex    all tables in one file
    figures/<name>.png   each figure, 200 dpi; figures/<name>.svg the same as vector graphics
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from markupsafe import Markup

from clusterpreneur.files import csv_bytes
from clusterpreneur.models.verdict import VerdictRule
from clusterpreneur.pipeline import exhibits as ex
from clusterpreneur.pipeline import facts
from clusterpreneur.pipeline.cache import CacheEntry
from clusterpreneur.pipeline.paper import EXHIBITS, SECTIONS, numbering, shown
from clusterpreneur.pipeline.typeset import MINUS, fmt_prob, interval, number

REPORT_FILE = "report.html"
PDF_FILE = "report.pdf"
TEMPLATES = "pipeline/templates"


@dataclass
class Rendered:
    """Everything the report step writes: relative path -> bytes or text."""

    files: dict[str, bytes | str] = field(default_factory=dict)
    tables: dict[str, ex.TableResult] = field(default_factory=dict)


def environment():
    """The Jinja environment of the package's templates, with the tables' number formats."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("clusterpreneur.pipeline", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda v, d=2: number(v, d)
    env.filters["signed"] = lambda v, d=2: ("+" if float(v) > 0 else "") + number(v, d)
    env.filters["pct"] = lambda v, d=0: "" if v is None or pd.isna(v) else f"{100 * float(v):.{d}f}%"
    env.filters["prob"] = fmt_prob
    env.filters["interval"] = lambda pair, d=2: interval(pair[0], pair[1], d)
    env.filters["span"] = lambda pair, d=2: f"{number(pair[0], d)} to {number(pair[1], d)}"
    env.filters["minus"] = lambda s: str(s).replace("-", MINUS)
    env.filters["join_and"] = join_and
    return env


def join_and(items) -> str:
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


REPORT_BUDGET = 3_000_000
"""Bytes the report should stay under (one file that opens offline and travels by e-mail): the
``report`` step records its sizes (:func:`sizes`) and ``clusterpreneur report`` prints them, and
warns when the report is over."""
_IMAGE = re.compile(r'<img src="(data:[^"]*)"[^>]*\sdata-stem="([^"]*)"')
_TABLE = re.compile(r'<div id="table-[^"]*".*?</table>\s*</div>', re.S)


def sizes(html: str) -> dict[str, int]:
    """Bytes of a rendered report: ``total``, ``tables`` (their HTML and style sheet), ``text``
    (the rest) and ``figures``, and each figure kind (``figures:<stem without its model>``, e.g.
    ``figures:convergence`` for every ``convergence_M<k>``)."""

    def n(text: str) -> int:
        return len(text.encode())

    out = {"total": n(html), "figures": 0, "tables": 0}
    for uri, stem in _IMAGE.findall(html):
        kind = "figures:" + re.sub(r"_M\d.*$", "", stem)
        out[kind] = out.get(kind, 0) + n(uri)
        out["figures"] += n(uri)
    out["tables"] = sum(n(t) for t in _TABLE.findall(html))
    head = re.search(r"<style>\s*:is\(#table-.*?</style>", html, re.S)
    out["tables"] += n(head.group(0)) if head else 0
    out["text"] = out["total"] - out["figures"] - out["tables"]
    return out


def describe_sizes(size: Mapping[str, int]) -> str:
    """One line: total and parts in MB, against :data:`REPORT_BUDGET`."""
    mb = lambda b: f"{b / 1e6:.2f} MB"  # noqa: E731
    kinds = ", ".join(f"{k.split(':', 1)[1]} {mb(v)}" for k, v in sorted(size.items()) if ":" in k)
    return (
        f"{mb(size['total'])} (figures {mb(size['figures'])}: {kinds}; tables {mb(size['tables'])}; "
        f"text {mb(size['text'])}); budget {mb(REPORT_BUDGET)}"
    )


SVG_ESCAPES = {"%": "%25", "#": "%23", '"': "%22", "&": "%26"}
"""What an SVG's text needs encoded in a data URI inside a double-quoted attribute: the escape
character, the fragment mark, the attribute's quote and the start of a character reference."""
PALETTE_MEAN_ERROR = 0.1
PALETTE_TAIL_ERROR = 2
"""A palette PNG is taken when it draws the figure visually the same: the mean absolute error of
its pixels' channels below 0.1 of 255 levels and 99.9% of pixels within 2 levels (edge pixels of
antialiased lines and text); otherwise the full-colour PNG stays."""


_TAG = re.compile(r"<[^<>]*>")
_ATTRIBUTE = re.compile(r'(\s[\w:.-]+)="([^"\']*)"')


def svg_uri(svg: bytes) -> str:
    """The SVG as a data URI of its own text (base64 would add a third); attribute values take
    single quotes where they have none inside, so that few double quotes need encoding."""
    text = re.sub(r">\s*\n\s*<", "><", svg.decode("utf-8")).replace("\n", " ")
    text = _TAG.sub(lambda tag: _ATTRIBUTE.sub(r"\1='\2'", tag.group(0)), text)
    return "data:image/svg+xml," + re.sub(r'[%#"&]', lambda m: SVG_ESCAPES[m.group(0)], text)


def palette_png(png: bytes, max_colours: int = 4096) -> bytes | None:
    """The PNG with a palette of at most 256 colours, or None when that would change how it looks
    (see ``PALETTE_MEAN_ERROR``) or the image has more than ``max_colours`` colours (a plot of
    overlapping translucent lines: no palette draws it)."""
    import numpy as np
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    image.load()
    rgba = image.convert("RGBA")
    if rgba.getcolors(max_colours) is None:
        return None
    opaque = rgba.getextrema()[3][0] == 255
    full = rgba.convert("RGB") if opaque else rgba
    method = Image.Quantize.MEDIANCUT if opaque else Image.Quantize.FASTOCTREE
    small = full.quantize(256, method=method, dither=Image.Dither.NONE)
    error = np.abs(np.asarray(small.convert(full.mode), dtype=np.int16) - np.asarray(full, dtype=np.int16))
    worst = error.max(axis=-1)
    if error.mean() > PALETTE_MEAN_ERROR or np.percentile(worst, 99.9) > PALETTE_TAIL_ERROR:
        return None
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True, dpi=image.info.get("dpi", (200, 200)))
    return out.getvalue()


PALETTE_BEST = 0.25
"""A palette PNG is not below a quarter of the full-colour one (plots measure 0.37 to 0.42): an
SVG lighter than that wins without quantising."""


def embedded(figure: ex.FigureFile, dpi: int = 200) -> tuple[Markup, int]:
    """A figure as a data URI and its width in CSS pixels (96 per inch), so that it shows at the
    size it was drawn. The lighter of the SVG (sharp in print; :func:`svg_uri`) and the PNG
    (base64; a palette PNG when it looks the same, :func:`palette_png`): a plot of thousands of
    points (trace, rank) is lighter as pixels, and the report stays one small offline file."""
    png_width = int.from_bytes(figure.png[16:20], "big")  # the PNG's IHDR width in pixels
    svg = None
    if figure.svg is not None:
        found = re.search(r'<svg[^>]*\swidth="([0-9.]+)pt"', figure.svg[:2000].decode("utf-8", "replace"))
        if found:
            svg = svg_uri(figure.svg), round(float(found.group(1)) * 96 / 72)
    full = 4 * -(-len(figure.png) // 3)  # its base64 length
    if svg is not None and len(svg[0].encode()) <= PALETTE_BEST * full:
        return Markup(svg[0]), svg[1]
    png = palette_png(figure.png) or figure.png
    png_uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    if svg is not None and len(svg[0].encode()) <= len(png_uri):
        return Markup(svg[0]), svg[1]
    return Markup(png_uri), round(png_width / dpi * 96)


_TABLE_STYLE = re.compile(r"<style>(.*?)</style>\s*", re.S)
_TABLE_ID = re.compile(r'\s*<div id="([^"]+)"')
_ANY_TABLE = "\x00table\x00"  # where a sheet names its table


def shared_table_style(tables: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """One style sheet for every table, and the tables without their own.

    great_tables puts a style sheet in each table's HTML, the same for every table but for the
    table's id that scopes it (``#table-<name> .gt_table {...}``). The tables whose sheet is the
    first one's, up to that id, share one copy with each id written ``:is(#table-a, #table-b)``
    (the specificity of an id, as before); a table with a sheet of its own keeps it."""
    shared, ids, out = None, [], dict(tables)
    for name, html in tables.items():
        found, style = _TABLE_ID.match(html), _TABLE_STYLE.search(html)
        if not found or not style:
            continue
        mark = re.compile(re.escape("#" + found.group(1)) + r"(?![\w-])")
        sheet = mark.sub(lambda _: _ANY_TABLE, style.group(1))
        if shared is None:
            shared = sheet
        if sheet == shared:
            ids.append(found.group(1))
            out[name] = html[: style.start()] + html[style.end() :]
    if shared is None:
        return "", out
    return shared.replace(_ANY_TABLE, ":is(" + ",".join(f"#{i}" for i in ids) + ")"), out


def render(
    config,
    entries: Mapping[str, CacheEntry],
    *,
    rule: VerdictRule,
    versions: Mapping[str, str],
    study_link: str | None,
) -> Rendered:
    """Build, number and render every exhibit; return the files of the output folder."""
    src = ex.Sources(entries, config)
    results = {name: e.build(src) for name, e in EXHIBITS.items()}
    numbers = numbering(results)
    env = environment()
    out = Rendered()

    def ref(name: str) -> str:
        return numbers.get(name, f"({EXHIBITS[name].title}: not in this run)")

    captions = {name: env.from_string(e.caption).render(ref=ref) for name, e in EXHIBITS.items()}
    table_css, table_html = shared_table_style(
        {name: r.reader.html() for name, r in results.items() if isinstance(r, ex.TableResult)}
    )
    exhibit_template = env.get_template("exhibit.html.j2")

    def show(name: str) -> Markup:
        e = EXHIBITS[name]
        result = results.get(name)
        context = {"exhibit": e, "number": numbers.get(name), "caption": captions[name], "result": result}
        if isinstance(result, ex.TableResult):
            context["table_html"] = Markup(table_html[name])
        elif shown(result):
            context["images"] = [(f.panel, *embedded(f), f.stem) for f in result]
        elif result is None:
            return Markup("")
        else:
            context["reason"] = result.reason
        return Markup(exhibit_template.render(**context))

    all_md = [f"# {config.title}: tables\n"]
    all_tex = [f"% {config.title}: tables (needs \\usepackage{{booktabs}})\n"]
    for section in SECTIONS:
        for name in section.exhibits:
            result = results.get(name)
            if isinstance(result, ex.TableResult):
                title = f"{numbers[name]}. {EXHIBITS[name].title}"
                md = result.reader.markdown()
                tex = result.reader.latex()
                out.files[f"tables/{name}.csv"] = csv_bytes(result.data)
                out.files[f"tables/{name}.md"] = f"## {title}\n\n{captions[name]}\n\n{md}"
                out.files[f"tables/{name}.tex"] = f"% {title}\n{tex}"
                all_md.append(f"## {title}\n\n{captions[name]}\n\n{md}")
                all_tex.append(f"% {title}\n{tex}")
                out.tables[name] = result
            elif shown(result):
                for f in result:
                    out.files[f"figures/{f.stem}.png"] = f.png
                    if f.svg is not None:
                        out.files[f"figures/{f.stem}.svg"] = f.svg
    high = src.per_model("diagnostics", "high_k.csv")
    if high is not None:
        out.files["tables/high_k.csv"] = csv_bytes(high)
    out.files["tables.md"] = "\n".join(all_md)
    out.files["tables.tex"] = "\n".join(all_tex)

    from clusterpreneur.study.predictors import HYPOTHESES

    context: dict[str, Any] = {
        "config": config,
        "hypotheses": HYPOTHESES,
        "sections": SECTIONS,
        "show": show,
        "ref": ref,
        "numbers": numbers,
        "rule": rule,
        "versions": versions,
        "study_link": study_link,
        "data": facts.data_facts(src),
        "hyp": facts.hypothesis_facts(src),
        "forest": facts.forest_facts(src),
        "comparison": facts.comparison_facts(src),
        "cases": facts.case_facts(src),
        "diag": facts.diagnostics_facts(src),
        "methods": facts.method_facts(src),
        "models": list(config.fitted_models),
        "reference": config.reference_model,
        "missing": [EXHIBITS[n].title for n, r in results.items() if isinstance(r, ex.NotRun | ex.Withheld)],
        "css": Markup(env.loader.get_source(env, "report.css")[0]),
        "table_css": Markup(table_css),
    }
    out.files[REPORT_FILE] = env.get_template("report.html.j2").render(**context)
    return out
