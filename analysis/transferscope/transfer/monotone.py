"""Non-monotone transfer: better upstream with worse downstream among the best models.

Per group, the models in the top ``top`` share of upstream scores (at least ``min_models``
of them; "better" is a higher accuracy or a lower loss) are taken, and the least-squares slope
of downstream on upstream among them (on the baseline's axes) is tested against the one-sided
alternative that it is negative (t test, ``n - 2`` degrees of freedom). Kendall's tau among the
same models, with its one-sided p-value, is given as a check that does not depend on the
scale. The cut is fixed in advance (not searched for), so the test keeps its level; the
p-values are Holm-adjusted across the groups of one call, and ``non_monotone`` is true where
the adjusted p-value is below ``alpha``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from transferscope.dependence.ranking import holm

Array = NDArray[np.float64]

COLUMNS = (
    "n_models", "n_top", "top_from", "slope", "slope_ci_low", "slope_ci_high", "kendall_tau",
    "kendall_p_value", "p_value", "p_adjusted", "non_monotone", "peak_upstream", "status",
    "message",
)  # fmt: skip


def top_segment_test(
    u: Array,
    v: Array,
    upstream: Array,
    downstream: Array,
    *,
    top: float,
    min_models: int,
    level: float,
) -> dict[str, Any]:
    """Test one group for a negative slope among its best upstream models.

    Parameters
    ----------
    u, v : numpy.ndarray
        Upstream (oriented: larger is better) and downstream on the baseline's axes.
    upstream, downstream : numpy.ndarray
        The scores as stored (for ``top_from`` and ``peak_upstream``).
    top : float
        Share of the models with the best upstream scores that are tested.
    min_models : int
        Fewest models tested.
    level : float
        Level of the slope's interval.

    Returns
    -------
    dict
        The columns of :data:`COLUMNS` except ``p_adjusted`` and ``non_monotone``.
    """
    n = len(u)
    out: dict[str, Any] = dict.fromkeys(COLUMNS, math.nan)
    out.update(n_models=n, n_top=0, status="ok", message="")
    out.pop("p_adjusted")
    out.pop("non_monotone")
    if n:
        out["peak_upstream"] = float(upstream[int(np.argmax(downstream))])
    n_top = max(min_models, math.ceil(top * n))
    if n < min_models or n_top > n:
        out.update(status="too_few_points", message=f"{n} models; the test needs {min_models}")
        return out
    order = np.argsort(-u, kind="stable")[:n_top]
    ut, vt = u[order], v[order]
    out["n_top"] = n_top
    out["top_from"] = float(upstream[order[-1]])
    if np.ptp(ut) == 0.0:
        out.update(status="degenerate", message="the top models share one upstream score")
        return out
    fit = stats.linregress(ut, vt)
    df = n_top - 2
    q = float(stats.t.ppf(0.5 + level / 2.0, df))
    se = float(fit.stderr)
    out["slope"] = float(fit.slope)
    out["slope_ci_low"] = float(fit.slope - q * se)
    out["slope_ci_high"] = float(fit.slope + q * se)
    if se > 0:
        out["p_value"] = float(stats.t.cdf(fit.slope / se, df))
    else:
        out["p_value"] = 0.0 if fit.slope < 0 else 1.0
    tau = stats.kendalltau(ut, vt, alternative="less")
    out["kendall_tau"] = float(tau.statistic)
    out["kendall_p_value"] = float(tau.pvalue)
    return out


def finish(rows: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Add ``p_adjusted`` (Holm across the rows) and ``non_monotone``.

    Parameters
    ----------
    rows : pandas.DataFrame
        Results of :func:`top_segment_test` with their group columns.
    alpha : float
        Level of the decision.

    Returns
    -------
    pandas.DataFrame
        ``rows`` with the two columns, in :data:`COLUMNS` order after the group columns.
    """
    out = rows.copy()
    out["p_adjusted"] = holm(out["p_value"].to_numpy(dtype=np.float64))
    out["non_monotone"] = (out["p_adjusted"] < alpha).fillna(False).astype(bool)
    keys = [c for c in out.columns if c not in COLUMNS]
    return out[[*keys, *COLUMNS]]
