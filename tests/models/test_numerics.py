"""Same seed, same bytes: fits compile without numba fastmath, whether compiled or cached."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pymc as pm
import pytensor
import pytest

from clusterpreneur.models import fit_model, sample_prior_predictive
from clusterpreneur.numerics import reproducible_numerics
from clusterpreneur.study.ladder import LADDER


class _Sampled(Exception):
    pass


def test_the_block_turns_fastmath_off_and_restores_the_setting():
    before = pytensor.config.numba__fastmath
    with reproducible_numerics():
        assert pytensor.config.numba__fastmath is False
    assert pytensor.config.numba__fastmath == before
    with pytest.raises(RuntimeError), reproducible_numerics():
        raise RuntimeError("restored on errors too")
    assert pytensor.config.numba__fastmath == before


@pytest.mark.parametrize("action", ["fit", "prior"])
def test_fits_and_prior_draws_compile_without_fastmath(monkeypatch, survey_frame, action):
    seen = []

    def record(*args, **kwargs):
        seen.append(pytensor.config.numba__fastmath)
        raise _Sampled

    monkeypatch.setattr(pytensor.config, "numba__fastmath", True)
    monkeypatch.setattr(pm, "sample", record)
    monkeypatch.setattr(pm, "sample_prior_predictive", record)
    with pytest.raises(_Sampled):
        if action == "fit":
            fit_model(LADDER["M1"], survey_frame, draws=10, tune=10, chains=1, seed=1)
        else:
            sample_prior_predictive(LADDER["M1"], survey_frame, draws=10, seed=1)
    assert seen == [False]
    assert pytensor.config.numba__fastmath is True


FIT_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    from clusterpreneur.models import fit_model
    from clusterpreneur.study.ladder import LADDER
    from clusterpreneur.study.simulate import simulate_survey

    df = simulate_survey(n_initiatives=120, n_countries=12, seed=7).data
    fit = fit_model(LADDER["M1"], df, draws=150, tune=150, chains=2, seed=3, progressbar=False)
    np.save(sys.argv[1], fit.idata["posterior"]["beta"].values)
    """
)


@pytest.mark.slow
def test_a_cold_compile_and_a_cached_one_give_the_same_draws(tmp_path):
    """The first fit in an empty PyTensor compile folder compiles everything; the second loads it
    from that folder. With fastmath they differed from the first draws on."""
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={tmp_path / 'compiled'}"}
    script = tmp_path / "fit.py"
    script.write_text(FIT_SCRIPT)
    runs = [tmp_path / "cold.npy", tmp_path / "cached.npy"]
    for out in runs:
        subprocess.run([sys.executable, str(script), str(out)], env=env, check=True, timeout=900)
    cold, cached = (np.load(p) for p in runs)
    assert cold.shape[:2] == (2, 150)
    np.testing.assert_array_equal(cold, cached)
