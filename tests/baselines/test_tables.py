"""The tidy table format shared by the baselines and the Bayesian models, and its exporters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clusterpreneur import tables


def _example() -> pd.DataFrame:
    a = tables.rows(
        outcome="takeoff",
        model="logit",
        terms=["Intercept", "breadth:peripheral"],
        estimate=[-1.0, 0.4],
        std_error=[0.2, 0.1],
        p_value=[0.001, 0.0001],
        n=250,
        warnings=["ConvergenceWarning: odd | thing", "ConvergenceWarning: odd | thing", "second"],
    )
    b = tables.rows(
        outcome="takeoff",
        model="bayes_mixed_glm",
        terms=["sd(country)"],
        estimate=[0.5],
        std_error=[0.05],
        ci_lower=[0.41],
        ci_upper=[0.61],
        n=250,
        scale="standardised",
    )
    c = tables.failure_row("firm_growth", "mixedlm", "LinAlgError: Singular matrix", n=10)
    return tables.concat([a, b, c])


def test_rows_have_the_columns_dtypes_and_a_normal_interval():
    t = _example()
    assert tuple(t.columns) == tables.COLUMNS
    logit = t[t["model"] == "logit"]
    np.testing.assert_allclose(logit["ci_lower"], [-1.0 - 1.959964 * 0.2, 0.4 - 1.959964 * 0.1], rtol=1e-6)
    assert logit["n"].tolist() == [250, 250]
    assert str(t["n"].dtype) == "Int64" and str(t["converged"].dtype) == "boolean"
    # repeated warnings are kept once, joined by the separator
    assert logit["warnings"].iloc[0] == "ConvergenceWarning: odd | thing | second"
    bayes = t[t["model"] == "bayes_mixed_glm"].iloc[0]
    assert bayes["ci_lower"] == 0.41 and np.isnan(bayes["p_value"])


def test_failure_row_marks_the_model_not_converged():
    t = _example()
    fail = t[t["model"] == "mixedlm"].iloc[0]
    assert fail["term"] == "(model failed)" and not fail["converged"]
    assert "Singular matrix" in fail["warnings"] and np.isnan(fail["estimate"])


def test_tidy_rejects_missing_columns_unknown_scale_and_wrong_lengths():
    with pytest.raises(ValueError, match="lacks columns"):
        tables.tidy(pd.DataFrame({"outcome": ["y"]}))
    bad = _example()
    bad.loc[0, "scale"] = "log"
    with pytest.raises(ValueError, match="unknown scale"):
        tables.tidy(bad)
    with pytest.raises(ValueError, match="expected 2 values"):
        tables.rows(outcome="y", model="m", terms=["a", "b"], estimate=[1.0])


def test_concat_of_nothing_is_an_empty_tidy_table():
    t = tables.concat([])
    assert len(t) == 0 and tuple(t.columns) == tables.COLUMNS


def test_write_tables_roundtrips_csv_and_renders_markdown_and_latex(tmp_path):
    t = _example()
    paths = tables.write_tables(t, tmp_path / "out", "baselines", caption="a_b")
    assert set(paths) == {"csv", "markdown", "latex"}
    assert all(p.exists() for p in paths.values())
    back = tables.read_table(paths["csv"])
    pd.testing.assert_frame_equal(back, t, check_exact=False, rtol=1e-9)
    assert not list((tmp_path / "out").glob(".*.tmp"))  # atomic writes leave no temporary files

    md = paths["markdown"].read_text().splitlines()
    assert md[0].startswith("| outcome | model | term | scale | estimate")
    assert len(md) == 2 + len(t)
    assert "odd \\| thing" in md[2]  # a '|' inside a cell cannot break the Markdown table
    assert all(line.count("|") - line.count("\\|") == len(tables.COLUMNS) + 1 for line in md)

    tex = paths["latex"].read_text()
    assert tex.startswith("\\begin{longtable}") and tex.rstrip().endswith("\\end{longtable}")
    assert "breadth:peripheral" in tex and "std\\_error" in tex and "a\\_b" in tex
    assert tex.count("\\\\\n") >= len(t) + 1


def test_number_formatting_is_readable():
    t = tables.rows(
        outcome="y", model="m", terms=["tiny", "huge", "plain"], estimate=[1e-7, 3.2e9, 0.12345], n=5
    )
    md = tables.to_markdown(t, digits=3)
    assert "1.00e-07" in md and "3.2e+09" in md and "0.123" in md
    assert "| yes |" in md  # converged flag


def test_exports_floor_p_values_and_keep_counts_whole():
    from clusterpreneur import tables

    t = tables.rows(
        outcome="takeoff", model="logit", terms=["a", "b"], estimate=[0.5, -0.25], std_error=[0.1, 0.2],
        p_value=[0.00043, 0.2134], n=250,
    )  # fmt: skip
    md = tables.to_markdown(t)
    assert "< 0.001" in md and "0.213" in md and "4.3e-04" not in md
    assert "| 250 |" in md
    assert "< 0.001" in tables.to_latex(t)
