"""Centre and scale of numeric columns, kept so coefficients can be reported on the original scale.

One standardiser serves the statsmodels baselines, the formula front end
(:mod:`clusterpreneur.models.formula`) and the models alike: binary 0/1 columns are never
scaled (``center = 0``, ``scale = 1``, so their coefficients stay contrasts), other columns get
mean 0 and standard deviation 1 (population SD, ``ddof=0``) over their observed values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Standardizer:
    """Centre and scale of each column; ``transform`` maps ``x`` to ``(x - center) / scale``."""

    center: dict[str, float] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)

    @classmethod
    def fit(cls, df: pd.DataFrame, columns: list[str] | None = None) -> Standardizer:
        """Learn centre and scale from the observed (non-missing) values of ``columns``."""
        std = cls()
        for col in columns if columns is not None else list(df.columns):
            x = df[col].astype("float64").dropna()
            if x.empty:
                raise ValueError(f"column {col!r} has no observed values to standardise")
            if set(np.unique(x)) <= {0.0, 1.0}:
                std.center[col], std.scale[col] = 0.0, 1.0
            else:
                sd = float(x.std(ddof=0))
                std.center[col] = float(x.mean())
                std.scale[col] = sd if sd > 0 else 1.0
        return std

    def transform(self, df: pd.DataFrame) -> pd.DataFrame:
        """Standardise the known columns of ``df`` (a copy); other columns pass through."""
        out = df.copy()
        for col in self.center:
            if col in out:
                out[col] = (out[col].astype("float64") - self.center[col]) / self.scale[col]
        return out

    def keeps_scale(self, column: str) -> bool:
        """True when ``column`` stays on its own scale: a 0/1 column, or one it does not standardise."""
        return self.center.get(column, 0.0) == 0.0 and self.scale.get(column, 1.0) == 1.0

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {"center": dict(self.center), "scale": dict(self.scale)}

    @classmethod
    def from_dict(cls, d: dict[str, dict[str, float]]) -> Standardizer:
        return cls(center=dict(d["center"]), scale=dict(d["scale"]))
