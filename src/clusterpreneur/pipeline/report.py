"""The run's output folder: one self-contained HTML report plus every table as CSV, Markdown, LaTeX.

Layout of ``<out>/``::

    report.html          the report: every table as HTML, every figure embedded (base64 PNG);
                         no external CSS, JavaScript, font or image, so it opens offline
    tables/<name>.csv    each paper table (full precision)
    tables/<name>.md     ... as a Markdown table
    tables/<name>.tex    ... as a LaTeX longtable (needs \\usepackage{longtable})
    tables.md            all tables in one Markdown file
    tables.tex           all tables in one LaTeX file (\\input it)
    figures/<name>.png   each figure
    manifest.json        written last by the runner (versions, commit, hashes, seeds, timing)

Every file is written with :func:`clusterpreneur.io.write_atomic`.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from clusterpreneur import tables as tidy_tables
from clusterpreneur.files import csv_bytes
from clusterpreneur.io import write_atomic
from clusterpreneur.pipeline.cache import CacheEntry

REPORT_FILE = "report.html"
DIGITS = 3

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { border-bottom: 2px solid #3182bd; padding-bottom: .3em; }
h2 { margin-top: 2em; color: #08519c; }
table { border-collapse: collapse; font-size: 12px; margin: .5em 0 1em 0; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #eef3f8; }
td.text { text-align: left; }
.scroll { overflow-x: auto; max-height: 36em; overflow-y: auto; }
.caption { color: #555; font-style: italic; }
.missing { color: #a50f15; background: #fee0d2; padding: .5em; }
img { max-width: 100%; }
nav li { margin: .1em 0; }
"""


def fmt(value: Any, digits: int = DIGITS) -> str:
    """One cell as text (the tidy tables' formatter)."""
    return tidy_tables.format_cell(value, digits)


def _cells(df: pd.DataFrame) -> list[list[str]]:
    return [[fmt(v) for v in row] for row in df.itertuples(index=False, name=None)]


def to_markdown(df: pd.DataFrame, tidy: bool = False) -> str:
    """A GitHub-flavoured Markdown table (the tidy format's own exporter for tidy tables)."""
    if tidy:
        return tidy_tables.to_markdown(df, DIGITS)
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    head = "| " + " | ".join(str(c) for c in df.columns) + " |"
    rule = "|" + "|".join("---:" if n else "---" for n in numeric) + "|"
    body = [
        "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in row) + " |" for row in _cells(df)
    ]
    return "\n".join([head, rule, *body]) + "\n"


def to_latex(df: pd.DataFrame, caption: str, label: str, tidy: bool = False) -> str:
    """A LaTeX ``longtable`` with escaped text (the tidy format's own exporter for tidy tables)."""
    if tidy:
        return tidy_tables.to_latex(df, DIGITS, caption=caption, label=label)
    esc = tidy_tables.latex_escape
    spec = "".join("r" if pd.api.types.is_numeric_dtype(df[c]) else "l" for c in df.columns)
    lines = [
        rf"\begin{{longtable}}{{{spec}}}",
        rf"\caption{{{esc(caption)}}}\label{{{label}}}\\",
        r"\hline",
        " & ".join(esc(str(c)) for c in df.columns) + r" \\",
        r"\hline",
        r"\endhead",
    ]
    lines += [" & ".join(esc(c) for c in row) + r" \\" for row in _cells(df)]
    lines += [r"\hline", r"\end{longtable}"]
    return "\n".join(lines) + "\n"


def to_html_table(df: pd.DataFrame) -> str:
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for row in _cells(df):
        tds = "".join(
            f"<td>{html.escape(c)}</td>" if n else f'<td class="text">{html.escape(c)}</td>'
            for c, n in zip(row, numeric, strict=True)
        )
        body.append(f"<tr>{tds}</tr>")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


def _png_tag(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _steps_table(records) -> pd.DataFrame:
    return pd.DataFrame(
        [{"step": r.name, "cached": r.cached, "seconds": r.seconds, "key": r.key[:12]} for r in records]
    )


def write_outputs(
    config,
    entries: dict[str, CacheEntry],
    out_dir: str | Path,
    records: list,
    pause: Callable[[str], None] | None = None,
) -> list[str]:
    """Write tables, figures and ``report.html`` into ``out_dir``; return the paths written (relative)."""
    from clusterpreneur.pipeline.outputs import PAPER, Withheld

    out_dir = Path(out_dir)
    written: list[str] = []

    def put(rel: str, payload: bytes | str) -> None:
        write_atomic(out_dir / rel, payload)
        written.append(rel)

    sections: list[str] = []
    toc: list[str] = []
    all_md: list[str] = [f"# {config.title}: tables\n"]
    all_tex: list[str] = [f"% {config.title}: tables (needs \\usepackage{{longtable}})\n"]
    missing: list[str] = []
    for k, entry in enumerate(PAPER):
        result = entry.make(entries, config)
        anchor = entry.name
        toc.append(f'<li><a href="#{anchor}">{html.escape(entry.title)}</a></li>')
        parts = [f'<h2 id="{anchor}">{html.escape(entry.title)}</h2>']
        if entry.caption:
            parts.append(f'<p class="caption">{html.escape(entry.caption)}</p>')
        if isinstance(result, Withheld):
            missing.append(entry.title)
            parts.append(f'<p class="missing">{html.escape(result.reason)}</p>')
        elif result is None or (isinstance(result, pd.DataFrame) and result.empty):
            missing.append(entry.title)
            parts.append(
                '<p class="missing">Not produced in this run: the step it needs did not run '
                "(model or check not configured or not available). See the run summary below.</p>"
            )
        elif entry.kind == "table":
            table: pd.DataFrame = result
            put(
                f"tables/{entry.name}.csv",
                csv_bytes(table),
            )
            md = to_markdown(table, tidy=entry.tidy)
            tex = to_latex(table, entry.title, f"tab:{entry.name}", tidy=entry.tidy)
            put(f"tables/{entry.name}.md", md)
            put(f"tables/{entry.name}.tex", tex)
            all_md.append(f"## {entry.title}\n\n{entry.caption}\n\n{md}")
            all_tex.append(f"% {entry.title}\n{tex}")
            parts.append(to_html_table(table))
        else:
            for stem, title, png in result:
                put(f"figures/{stem}.png", png)
                parts.append(
                    f"<figure>{_png_tag(png, title)}<figcaption>{html.escape(title)}</figcaption></figure>"
                )
        sections.append("\n".join(parts))
        if pause is not None and k == len(PAPER) // 2:
            pause("report")
    put("tables.md", "\n".join(all_md))
    put("tables.tex", "\n".join(all_tex))

    data_entry = entries.get("data")
    summary = data_entry.summary if data_entry is not None else {}
    intro = (
        f"<p>{summary.get('initiatives', '?')} initiatives in {summary.get('regions', '?')} regions of "
        f"{summary.get('countries', '?')} countries. "
        f"Models: {html.escape(', '.join(config.models) or 'none')}; "
        f"reference model for hypotheses, forest plot and cases: {html.escape(str(config.reference_model))}. "
        f"Seed {config.seed}. Versions, commit, data SHA-256 and timings: <code>manifest.json</code>.</p>"
    )
    if missing:
        intro += '<p class="missing">Missing from this run: ' + html.escape("; ".join(missing)) + "</p>"
    doc = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(config.title)}</title>
<style>{CSS}</style>
</head>
<body>
<h1>{html.escape(config.title)}</h1>
{intro}
<nav><ul>{"".join(toc)}<li><a href="#run">Run summary</a></li></ul></nav>
{"".join(sections)}
<h2 id="run">Run summary</h2>
<p class="caption">Each step is cached under a content hash of its inputs; "cached" steps were not rerun.</p>
{to_html_table(_steps_table(records))}
</body>
</html>
"""
    put(REPORT_FILE, doc)
    return written
