"""Intervals over seeds: is a difference bigger than seed noise?

Both intervals are Student t intervals at 95%: mean ± t_{0.975, n-1} · s / sqrt(n), with s
the sample standard deviation (ddof = 1). For a comparison of two methods the values are
the paired per-seed differences (same dataset, ratio, split seed and training seed, so the
same split and the same initial draw), which removes the noise the two cells share.
With fewer than two values there is no interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

LEVEL = 0.95
PAIR_KEYS = ["dataset", "rho", "split_seed", "seed"]
METHOD = "paired Student t interval over seeds, mean ± t(0.975, n-1) · s/√n"


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int

    @property
    def defined(self) -> bool:
        return self.n >= 2 and math.isfinite(self.low)

    def excludes_zero(self) -> bool:
        return self.defined and (self.low > 0 or self.high < 0)

    def contains(self, value: float) -> bool:
        return self.defined and self.low <= value <= self.high


def t_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Student t interval of the mean of `values` (no interval below two values)."""
    from scipy.stats import t

    x = np.asarray(values, dtype=np.float64)
    n = int(x.size)
    if n == 0:
        raise ValueError("t_interval needs at least one value")
    mean = float(x.mean())
    if n < 2:
        return Interval(mean, math.nan, math.nan, n)
    half = float(t.ppf(0.5 + level / 2, n - 1)) * float(x.std(ddof=1)) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def paired_differences(df: pd.DataFrame, metric: str, protocol: str, method: str, reference: str) -> dict[tuple[str, float], np.ndarray]:
    """(dataset, rho) -> method - reference per seed pair both have (unpaired seeds are left out)."""
    sub = df[(df["protocol"] == protocol) & df[metric].notna()] if metric in df.columns else df.iloc[0:0]
    keyed = {m: sub[sub["method"] == m].set_index(PAIR_KEYS)[metric] for m in (method, reference)}
    common = keyed[method].index.intersection(keyed[reference].index)
    diffs = (keyed[method].loc[common] - keyed[reference].loc[common]).sort_index()
    out: dict[tuple[str, float], np.ndarray] = {}
    for (dataset, rho), values in diffs.groupby(level=["dataset", "rho"]):
        out[(dataset, float(rho))] = values.to_numpy()
    return out


def published_columns(values: Sequence[float], published_value: float | None) -> list[str]:
    """For the published-vs-reproduced table: the reproduced mean's 95% interval over seeds,
    and whether the published figure lies inside it (a dash with fewer than two seeds)."""
    interval = t_interval(values)
    if not interval.defined:
        return ["-", "-"]
    inside = "-" if published_value is None else ("yes" if interval.contains(published_value) else "no")
    return [f"[{interval.low:.2f}, {interval.high:.2f}]", inside]
