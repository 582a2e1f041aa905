"""The formula front end on small seeded data shaped like four classic GLMM examples and the study.

No sampling: every test builds designs only (the whole file runs in a few seconds).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clusterpreneur.errors import SpecError
from clusterpreneur.models import formula as formula_mod
from clusterpreneur.models.formula import Encoding, Formula

SRC = Path(formula_mod.__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def herds() -> pd.DataFrame:
    """Binomial with trials: 15 herds x 4 periods (numeric codes), incidence of ``size`` animals."""
    rng = np.random.default_rng(1)
    herd, period = np.meshgrid(np.arange(1, 16), np.arange(1, 5), indexing="ij")
    size = rng.integers(2, 30, herd.size)
    eta = (
        -1.5
        + np.array([0.0, -1.0, -1.1, -1.6])[period.ravel() - 1]
        + rng.normal(0, 0.6, 15)[herd.ravel() - 1]
    )
    return pd.DataFrame(
        {
            "herd": herd.ravel(),
            "period": period.ravel(),
            "size": size,
            "incidence": rng.binomial(size, 1 / (1 + np.exp(-eta))),
        }
    )


@pytest.fixture(scope="module")
def wine() -> pd.DataFrame:
    """Ordinal ratings: 9 judges x 2 temperatures x 2 contacts x 2 bottles, text predictors."""
    rng = np.random.default_rng(2)
    rows = [
        (j, t, c) for j in range(1, 10) for t in ("cold", "warm") for c in ("no", "yes") for _ in range(2)
    ]
    df = pd.DataFrame(rows, columns=["judge", "temp", "contact"])
    eta = 2.5 * (df.temp == "warm") + 1.5 * (df.contact == "yes") + rng.normal(0, 1, 9)[df.judge - 1]
    cuts = np.array([-1.3, 1.2, 3.5, 5.0])
    df["rating"] = 1 + (eta.to_numpy()[:, None] + rng.logistic(size=len(df))[:, None] > cuts).sum(axis=1)
    return df


@pytest.fixture(scope="module")
def plates() -> pd.DataFrame:
    """Overdispersed binomial: 21 plates, seed type x root extract (text), r germinated of n."""
    rng = np.random.default_rng(3)
    seed = np.array(["O75"] * 11 + ["O73"] * 10)
    extract = np.array((["bean"] * 5 + ["cucumber"] * 6) + (["bean"] * 5 + ["cucumber"] * 5))
    n = rng.integers(10, 80, 21)
    eta = -0.5 + 0.1 * (seed == "O75") + 1.3 * (extract == "cucumber") + rng.normal(0, 0.3, 21)
    return pd.DataFrame(
        {
            "plate": np.arange(1, 22),
            "seed": seed,
            "extract": extract,
            "n": n,
            "r": rng.binomial(n, 1 / (1 + np.exp(-eta))),
        }
    )


@pytest.fixture(scope="module")
def radon() -> pd.DataFrame:
    """Gaussian: houses in 12 counties, a 0/1 floor indicator and a county-level uranium measure."""
    rng = np.random.default_rng(4)
    county = rng.choice([f"county_{c}" for c in "ABCDEFGHIJKL"], 120)
    uranium = dict(zip(sorted(set(county)), rng.lognormal(0.0, 0.4, 12), strict=True))
    df = pd.DataFrame({"county": county, "floor": rng.integers(0, 2, 120)})
    df["uranium"] = df.county.map(uranium)
    df["log_radon"] = 1.5 - 0.7 * df.floor + 0.7 * np.log(df.uranium) + rng.normal(0, 0.7, 120)
    return df


@pytest.fixture
def mixed() -> pd.DataFrame:
    """Continuous, binary and text predictors, missing values, two nested grouping columns."""
    rng = np.random.default_rng(5)
    n = 60
    df = pd.DataFrame(
        {
            "y": rng.integers(0, 2, n),
            "x": rng.normal(3.0, 2.0, n),
            "z": rng.normal(-1.0, 0.5, n),
            "b": rng.integers(0, 2, n),
            "f": rng.choice(["lo", "mid", "hi"], n),
            "g": rng.choice(["g1", "g2", "g3", "g4"], n),
            "h": rng.choice([1, 2, 3], n),
        }
    )
    df.loc[[3, 17, 40], "x"] = np.nan
    return df


MIXED = "y ~ x * z + b:x + f + (1 + x | g) + (1 | g:h)"


def test_binomial_with_trials_by_herd_and_period(herds):
    d = Formula("p(incidence, size) ~ C(period) + (1 | herd)").design(herds)
    assert d.column_names == ("period[2]", "period[3]", "period[4]")  # period 1 is the reference
    assert d.intercept and d.binary == d.column_names
    np.testing.assert_array_equal(d.X, (herds.period.to_numpy()[:, None] == [2, 3, 4]).astype(float))
    np.testing.assert_array_equal(d.y, herds.incidence.to_numpy(float))
    np.testing.assert_array_equal(d.trials, herds["size"].to_numpy(float))
    assert (d.response, d.trials_name) == ("incidence", "size")
    (herd,) = d.groups
    assert herd.factor == "herd" and herd.columns == ("1",)
    assert herd.levels == tuple(str(i) for i in range(1, 16))  # numeric order, as plain str
    assert all(type(level) is str for level in herd.levels)
    assert [herd.levels[c] for c in herd.codes] == herds.herd.astype(str).tolist()
    assert not herd.unseen.any() and herd.new_levels == ()
    np.testing.assert_array_equal(herd.Z, np.ones((len(herds), 1)))
    same = Formula("incidence ~ C(period) + (1 | herd)", trials="size").design(herds)
    np.testing.assert_array_equal(same.trials, d.trials)
    np.testing.assert_array_equal(same.X, d.X)


def test_ordinal_ratings_with_text_predictors(wine):
    d = Formula("rating ~ temp + contact + (1 | judge)").design(wine)
    assert d.column_names == ("temp[warm]", "contact[yes]")
    assert [c.kind for c in d.columns] == ["categorical", "categorical"]
    np.testing.assert_array_equal(d.X[:, 0], (wine.temp == "warm").to_numpy(float))
    np.testing.assert_array_equal(d.y, wine.rating.to_numpy(float))
    ordered = wine.assign(rating=pd.Categorical(wine.rating, categories=[1, 2, 3, 4, 5], ordered=True))
    d2 = Formula("rating ~ temp + contact + (1 | judge)").design(ordered)
    assert d2.response_levels == (1, 2, 3, 4, 5)
    np.testing.assert_array_equal(d2.y, wine.rating.to_numpy(float) - 1)
    unordered = wine.assign(
        rating=wine.rating.map({1: "a", 2: "b", 3: "c", 4: "d", 5: "e"}).astype("category")
    )
    with pytest.raises(SpecError, match="unordered categorical"):
        Formula("rating ~ temp").design(unordered)


def test_reference_level_and_no_intercept(wine, herds):
    d = Formula('rating ~ T(temp, "warm") + C(contact, Treatment("yes"))').design(wine)
    assert d.column_names == ("temp[cold]", "contact[no]")
    assert Formula("incidence ~ C(period, Treatment(3))").design(herds).column_names == (
        "period[1]",
        "period[2]",
        "period[4]",
    )
    for text in ("rating ~ 0 + temp + contact", "rating ~ temp + contact - 1"):
        d0 = Formula(text).design(wine)
        assert not d0.intercept
        assert d0.column_names == ("temp[cold]", "temp[warm]", "contact[yes]")
    order = pd.CategoricalDtype(["warm", "cold"], ordered=True)  # an ordered categorical's first level
    assert Formula("rating ~ temp").design(wine.astype({"temp": order})).column_names == ("temp[cold]",)


def test_interaction_of_two_categoricals(plates):
    d = Formula("p(r, n) ~ seed * extract + (1 | plate)").design(plates)
    assert d.column_names == ("seed[O75]", "extract[cucumber]", "seed[O75]:extract[cucumber]")
    assert d.columns[2].kind == "interaction" and d.binary == d.column_names
    assert all(c.scale == 1.0 and not c.centred for c in d.columns)
    np.testing.assert_array_equal(d.X[:, 2], d.X[:, 0] * d.X[:, 1])
    assert len(d.groups[0].levels) == 21


def test_gaussian_varying_slope_and_standardisation(radon):
    d = Formula("log_radon ~ floor + uranium + (1 + floor | county)").design(radon)
    floor, uranium = d.columns
    assert (floor.kind, floor.binary, floor.scale, floor.centred) == ("binary", True, 1.0, False)
    np.testing.assert_array_equal(d.X[:, 0], radon.floor.to_numpy(float))  # 0/1: never scaled
    u = radon.uranium.to_numpy()
    assert (uranium.kind, uranium.binary, uranium.centred) == ("continuous", False, True)
    assert uranium.scale == pytest.approx(u.std())
    np.testing.assert_allclose(d.X[:, 1], (u - u.mean()) / u.std(), rtol=1e-12)
    assert d.X[:, 1].mean() == pytest.approx(0.0, abs=1e-12) and d.X[:, 1].std() == pytest.approx(1.0)
    county = d.group("county")
    assert county.columns == ("1", "floor")
    np.testing.assert_array_equal(county.Z, np.column_stack([np.ones(len(radon)), radon.floor]))
    np.testing.assert_allclose(d.to_original(np.array([-0.7, 0.4])), [-0.7, 0.4 / u.std()])


def test_standardisation_rules_and_interaction_scales(mixed):
    d = Formula(MIXED).design(mixed)
    assert d.column_names == ("x", "z", "x:z", "b:x", "f[lo]", "f[mid]")  # reference: "hi", first sorted
    std = d.encoding.standardizer
    sx, sz = std.scale["x"], std.scale["z"]
    x = mixed.x.to_numpy()
    assert std.center["x"] == pytest.approx(np.nanmean(x)) and sx == pytest.approx(np.nanstd(x))
    assert (std.center["b"], std.scale["b"]) == (0.0, 1.0)  # binary: recorded, not scaled
    cols = {c.name: c for c in d.columns}
    assert cols["x:z"].scale == pytest.approx(sx * sz) and cols["b:x"].scale == pytest.approx(sx)
    assert cols["x:z"].kind == "interaction" and cols["x:z"].centred
    zx, zz = (x - std.center["x"]) / sx, (mixed.z.to_numpy() - std.center["z"]) / sz
    np.testing.assert_array_equal(d.frame()["x:z"].to_numpy(), zx * zz)  # product of standardised parts
    np.testing.assert_array_equal(d.frame()["b:x"].to_numpy(), mixed.b.to_numpy() * zx)
    assert set(d.binary) == {"f[lo]", "f[mid]"}
    raw = Formula(MIXED, standardize=False).design(mixed)
    np.testing.assert_array_equal(raw.frame()["x:z"].to_numpy(), x * mixed.z.to_numpy())
    assert all(c.scale == 1.0 and not c.centred for c in raw.columns)
    only_z = Formula(MIXED, standardize=["z"]).design(mixed)
    np.testing.assert_array_equal(only_z.frame()["x"].to_numpy(), x)
    assert {c.name: c.scale for c in only_z.columns}["x:z"] == pytest.approx(sz)


def test_missing_predictors_are_masked_not_dropped(mixed):
    d = Formula(MIXED).design(mixed)
    assert list(d.missing) == ["x"] and np.flatnonzero(d.missing["x"]).tolist() == [3, 17, 40]
    frame = d.frame()
    assert frame.loc[[3, 17, 40], ["x", "x:z", "b:x"]].isna().all().all()
    assert frame.drop(index=[3, 17, 40]).notna().all().all() and frame[["z", "f[lo]"]].notna().all().all()
    g = d.group("g")
    assert np.isnan(g.Z[[3, 17, 40], 1]).all() and (g.Z[:, 0] == 1).all()


def test_nested_groups_use_observed_combinations(mixed):
    d = Formula("y ~ (1 | g) + (1 | g:h)").design(mixed.iloc[:20])
    g, gh = d.groups
    assert (g.factor, gh.factor) == ("g", "g:h")
    labels = (mixed.g.iloc[:20] + ":" + mixed.h.iloc[:20].astype(str)).tolist()
    assert gh.levels == tuple(sorted(set(labels)))  # only the combinations that occur
    assert [gh.levels[c] for c in gh.codes] == labels and gh.row_levels == tuple(labels)
    slash = Formula("y ~ (1 | g/h)").design(mixed.iloc[:20])  # lme4's g/h: (1 | g) + (1 | g:h)
    assert [(s.factor, s.levels) for s in slash.groups] == [(g.factor, g.levels), (gh.factor, gh.levels)]
    either = Formula("y ~ (0 + x | g) + (1 | g)").design(mixed).group("g")
    assert either.columns == ("1", "x")  # the intercept first, in any spelling


def test_study_takeoff_formula_matches_the_study_design_matrix():
    from clusterpreneur.study.datasets import default_survey_path
    from clusterpreneur.study.measures import add_measures
    from clusterpreneur.study.predictors import STUDY_TERMS, design_matrix
    from clusterpreneur.study.readers import load_survey

    df = add_measures(load_survey(default_survey_path()))
    text = (
        "takeoff ~ "
        + " + ".join(t.name for t in STUDY_TERMS)
        + " + (1 | country_id) + (1 | country_id:region_id)"
    )
    d = Formula(text).design(df)
    X, std = design_matrix(df, STUDY_TERMS)
    assert d.column_names == tuple(X.columns)
    np.testing.assert_array_equal(d.X, X.to_numpy())
    assert d.encoding.standardizer.to_dict() == std.to_dict()
    assert set(d.binary) == {"peripheral", "anchor_firm", "public_private", "prior_cluster"}
    assert [c.term for c in d.columns if c.kind == "interaction"] == [
        "breadth:peripheral",
        "sc_score:peripheral",
        "involve_policy:age",
    ]
    country, region = d.groups
    assert country.levels == tuple(sorted(df.country_id.unique()))
    assert len(region.levels) == df[["country_id", "region_id"]].drop_duplicates().shape[0]


def test_prediction_uses_the_fit_encoding(mixed):
    d = Formula(MIXED).design(mixed)
    rows = [50, 2, 7, 7, 33]
    new = mixed.iloc[rows].drop(columns="y").reset_index(drop=True)
    p = d.encoding.design(new, response=False)
    np.testing.assert_array_equal(p.X, d.X[rows])
    assert p.column_names == d.column_names and p.y is None and p.response is None
    for g_new, g_fit in zip(p.groups, d.groups, strict=True):
        np.testing.assert_array_equal(g_new.codes, g_fit.codes[rows])
        np.testing.assert_array_equal(g_new.Z, g_fit.Z[rows])
    one_level = new.assign(f="hi")  # a level absent from the new rows keeps its column
    assert d.encoding.design(one_level, response=False).column_names == d.column_names


def test_unseen_group_levels_are_reported_per_row_and_unseen_categories_refused(mixed):
    enc = Formula(MIXED).design(mixed).encoding
    new = mixed.iloc[:4].assign(g=["g1", "g9", "g9", "g8"], h=[1, 1, 7, 2])
    p = enc.design(new, response=False)
    g, gh = p.groups
    assert g.unseen.tolist() == [False, True, True, True] and g.codes[1:].tolist() == [-1, -1, -1]
    assert g.new_levels == ("g8", "g9") and g.row_levels[1] == "g9"
    assert gh.unseen.tolist() == [False, True, True, True] and gh.new_levels == ("g8:2", "g9:1", "g9:7")
    with pytest.raises(
        SpecError, match=r"column 'f' has level\(s\) \['top'\] in row\(s\) 2.*not fitted with"
    ):
        enc.design(mixed.iloc[:4].assign(f=["lo", "hi", "top", "mid"]), response=False)


def test_multilinear_decomposition_reproduces_the_design(mixed):
    d = Formula(MIXED).design(mixed)
    enc = d.encoding
    m = enc.decompose(mixed, ["x"])
    assert (
        set(m.common) == {(), ("x",)} and set(m.groups["g"]) == {(), ("x",)} and set(m.groups["g:h"]) == {()}
    )
    zx = (mixed.x.to_numpy() - enc.standardizer.center["x"]) / enc.standardizer.scale["x"]
    np.testing.assert_array_equal(enc.values(mixed, "x"), zx)
    observed = ~np.isnan(zx)
    X, Zs = m.evaluate({"x": np.nan_to_num(zx)})
    np.testing.assert_array_equal(X[observed], d.X[observed])
    np.testing.assert_array_equal(Zs["g"][observed], d.group("g").Z[observed])
    assert np.isfinite(X).all() and np.isfinite(Zs["g"]).all()  # rows with x missing get a design too
    np.testing.assert_array_equal(m.common[()][:, 0], np.zeros(len(mixed)))  # x enters column x only via v
    both = enc.decompose(mixed, ["x", "z"])
    assert ("x", "z") in both.common  # the cross part of x:z
    X2, _ = both.evaluate({"x": np.nan_to_num(zx), "z": enc.values(mixed, "z")})
    np.testing.assert_array_equal(X2[observed], d.X[observed])


def test_latent_variable_need_not_be_in_the_data(mixed):
    f = Formula("y ~ sc + sc:b + x + (1 | g)", latent=["sc"])
    d = f.design(mixed)
    assert d.column_names == ("sc", "sc:b", "x") and "sc" not in f.columns
    assert np.isnan(d.X[:, :2]).all() and "sc" not in d.encoding.standardizer.center
    assert np.isnan(d.encoding.values(mixed, "sc")).all() and d.missing["sc"].all()
    m = d.encoding.decompose(mixed, ["sc"])
    v = np.linspace(-2, 2, len(mixed))
    X, _ = m.evaluate({"sc": v})
    np.testing.assert_array_equal(X[:, 0], v)
    np.testing.assert_array_equal(X[:, 1], v * mixed.b.to_numpy())


def test_decomposition_refuses_non_linear_use(mixed, monkeypatch):
    enc = Formula("y ~ C(h) + x").design(mixed).encoding
    with pytest.raises(SpecError, match="may enter only linearly"):
        enc.decompose(mixed, ["h"])
    with pytest.raises(SpecError, match="'w' is not a predictor"):
        enc.decompose(mixed, ["w"])
    evaluate = Encoding._evaluate

    def squared(self, frame, missing):  # a design that is quadratic in x
        X, cols, Zs = evaluate(self, frame, missing)
        return X**2, cols, Zs

    monkeypatch.setattr(Encoding, "_evaluate", squared)
    with pytest.raises(SpecError, match=r"only linearly.*x does not"):
        enc.decompose(mixed, ["x"])


def test_json_round_trip_hash_and_byte_identical_rebuild(mixed):
    f = Formula(MIXED, standardize=["x"], latent=())
    assert Formula.from_dict(json.loads(json.dumps(f.to_dict()))) == f
    assert Formula.from_dict(f.to_dict()).sha256() == f.sha256() != Formula(MIXED).sha256()
    d = f.design(mixed)
    text = json.dumps(d.encoding.to_dict())
    enc = Encoding.from_dict(json.loads(text))
    assert enc.to_json() == d.encoding.to_json() and enc.sha256() == d.encoding.sha256()
    again = enc.design(mixed)
    refit = f.design(mixed)
    for other in (again, refit):
        assert other.X.tobytes() == d.X.tobytes() and other.columns == d.columns
        for a, b in zip(other.groups, d.groups, strict=True):
            assert (
                a.levels == b.levels
                and a.codes.tobytes() == b.codes.tobytes()
                and a.Z.tobytes() == b.Z.tobytes()
            )
    assert refit.encoding.sha256() == d.encoding.sha256()


@pytest.mark.parametrize(
    ("text", "change", "message"),
    [
        ("y ~ xx + (1 | g)", None, r"not in the data: 'xx' \(did you mean 'x'\?\)"),
        ("y ~ x + (1 | gg)", None, r"'gg' \(did you mean 'g'"),
        ("y ~ x + (1 | g", None, r"formula 'y ~ x \+ \(1 \| g' cannot be read"),
        ("y ~ x +", None, "cannot be read"),
        ("y x", None, "has no '~'"),
        ("y ~ np.log(x)", None, r"'np.log\(x\)' is a transformation.*df\['log_x'\]"),
        ("y ~ x", {"x": ["1.5", "2"] * 30}, "numbers stored as text"),
        ("p(y, f) ~ x", None, r"column 'f' .* used as the trials but is not numeric"),
        (
            "y ~ x + (1 | g)",
            {"y": [np.nan, np.nan] + [1.0] * 58},
            r"missing in 2 of 60 rows \(row\(s\) 0, 1\).*observed",
        ),
        ("y ~ x + (1 | g)", {"g": [None] + ["g1"] * 59}, r"grouping factor 'g' is missing in 1 rows"),
        ("y ~ f:C(h)", {"f": ["lo"] * 30 + ["hi"] * 30, "h": [1] * 30 + [2] * 30}, "zero in every row"),
        ("y ~ C(f, Sum)", None, "treatment"),
        ("y ~ x + f", "standardize", "standardize names 'f', a categorical column"),
        ("y ~ x + C(x)", None, "both as a number and inside C"),
    ],
)
def test_errors_say_what_is_wrong(mixed, text, change, message):
    data = mixed.copy()
    options = {}
    if change == "standardize":
        options["standardize"] = ["f"]
    elif change:
        for col, values in change.items():
            data[col] = values
    with pytest.raises(SpecError, match=message):
        Formula(text, **options).design(data)


def test_observed_rows_mask(mixed):
    data = mixed.assign(y=mixed.y.astype(float).where(mixed.index % 7 != 0))
    f = Formula("y ~ x + (1 | g)")
    mask = f.observed(data)
    assert mask.sum() == len(data) - len(range(0, 60, 7))
    assert f.design(data[mask]).n == mask.sum()


def test_the_formula_modules_import_nothing_from_the_study():
    for path in (SRC / "models" / "formula.py", SRC / "models" / "design.py", SRC / "standardize.py"):
        tree = ast.parse(path.read_text())
        imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in imported if m and m.startswith("clusterpreneur.study")], path
