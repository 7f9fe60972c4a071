"""Meta-analysis against R's metafor 3.8.1 (../shared/reference/metafor_cases.json)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from transferscope.errors import InputError
from transferscope.stats.meta import (
    estimate_tau2,
    meta_regression,
    pool_effects,
    pool_resampled,
)

REL = 1e-6  # the tolerance against metafor (relative; a zero tau2 must be exactly zero)
FIELDS = {
    "estimate": "estimate",
    "se": "se",
    "ci_lb": "ci_low",
    "ci_ub": "ci_high",
    "tau2": "tau2",
    "I2": "i2",
    "H2": "h2",
    "QE": "q",
    "QEp": "q_pvalue",
}


def _cases(reference: Path) -> list[dict[str, Any]]:
    return list(json.loads((reference / "metafor_cases.json").read_text())["cases"])


def _close(ours: float, theirs: float, what: str) -> None:
    if theirs == 0:
        assert ours == 0.0, f"{what}: {ours} where metafor has exactly 0"
    else:
        assert ours == pytest.approx(theirs, rel=REL), what


@pytest.mark.parametrize("fit", ["DL", "REML", "PM", "FE", "REML_knha"])
def test_every_field_of_every_case_matches_metafor(shared_reference: Path, fit: str) -> None:
    cases = _cases(shared_reference)
    assert len(cases) == 6
    checked = 0
    for i, case in enumerate(cases):
        method, knha = ("REML", True) if fit == "REML_knha" else (fit, False)
        result = pool_effects(case["yi"], case["vi"], method=method, knha=knha)
        assert result.k == case["k"]
        for field, value in case["fits"][fit].items():
            _close(getattr(result, FIELDS[field]), value, f"case {i} {fit} {field}")
            checked += 1
    assert checked == 6 * len(next(iter(cases))["fits"][fit])


def test_meta_regression_matches_metafor(shared_reference: Path) -> None:
    for i, case in enumerate(_cases(shared_reference)):
        ref = case["metaregression"]
        fit = meta_regression(case["yi"], case["vi"], case["moderator"], method="REML")
        levels = sorted(set(case["moderator"]))
        assert fit.terms == ("intercept", *[f"moderator[{lv}]" for lv in levels[1:]])
        assert len(fit.coef) == len(ref["coef"]) == len(ref["se"])
        for j, (name, value) in enumerate(ref["coef"].items()):
            _close(fit.coef[j], value, f"case {i} coef {name}")
            _close(fit.se[j], ref["se"][j], f"case {i} se {name}")
        _close(fit.tau2, ref["tau2"], f"case {i} tau2")
        _close(fit.qm, ref["QM"], f"case {i} QM")
        _close(fit.qm_pvalue, ref["QMp"], f"case {i} QMp")


def test_exact_solver_solves_the_equations_and_metafor_stops_early(shared_reference: Path) -> None:
    case = _cases(shared_reference)[3]  # REML: metafor 4.8e-6, the exact maximum is the boundary
    y, v = np.asarray(case["yi"]), np.asarray(case["vi"])
    x = np.ones((y.size, 1))
    assert case["fits"]["REML"]["tau2"] == pytest.approx(4.80728852112384e-06, rel=1e-12)
    assert estimate_tau2(y, v, x, "REML", solver="exact") == 0.0
    # the REML score at zero is negative: zero is the restricted-likelihood maximum
    w = 1 / v
    mu = np.sum(w * y) / np.sum(w)
    score0 = np.sum((w * (y - mu)) ** 2) - (np.sum(w) - np.sum(w**2) / np.sum(w))
    assert score0 < 0
    # PM: the exact root makes the generalized Q equal k - 1 to 1e-10 (relative)
    tau2 = estimate_tau2(y, v, x, "PM", solver="exact")
    w = 1 / (v + tau2)
    mu = np.sum(w * y) / np.sum(w)
    assert np.sum(w * (y - mu) ** 2) == pytest.approx(y.size - 1, rel=1e-10)
    # metafor's uniroot stopped within its tolerance (eps^0.25) of that root
    assert abs(case["fits"]["PM"]["tau2"] - tau2) < np.finfo(float).eps ** 0.25


def test_fixed_effect_and_dl_by_hand() -> None:
    y = np.array([0.1, 0.3, 0.2, 0.5])
    v = np.array([0.01, 0.02, 0.015, 0.03])
    w = 1 / v
    mu = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - mu) ** 2)
    fe = pool_effects(y, v, method="FE")
    assert fe.estimate == pytest.approx(mu, rel=1e-12)
    assert fe.se == pytest.approx(1 / math.sqrt(np.sum(w)), rel=1e-12)
    assert fe.q == pytest.approx(q, rel=1e-12)
    assert fe.q_pvalue == pytest.approx(stats.chi2.sf(q, 3), rel=1e-12)
    tau2 = max(0.0, (q - 3) / (np.sum(w) - np.sum(w**2) / np.sum(w)))
    dl = pool_effects(y, v, method="DL", ci_level=0.9)
    assert dl.tau2 == pytest.approx(tau2, rel=1e-12)
    assert dl.ci_high - dl.estimate == pytest.approx(stats.norm.ppf(0.95) * dl.se, rel=1e-12)
    assert dl.ci_low <= dl.estimate <= dl.ci_high


def test_knapp_hartung_uses_t_with_k_minus_1_df() -> None:
    y = np.array([0.1, 0.3, 0.2, 0.5, 0.05])
    v = np.array([0.01, 0.02, 0.015, 0.03, 0.01])
    res = pool_effects(y, v, method="REML", knha=True, solver="exact")
    assert res.df == 4
    assert (res.ci_high - res.ci_low) / 2 == pytest.approx(
        stats.t.ppf(0.975, 4) * res.se, rel=1e-12
    )


def test_single_effect_is_a_status_not_an_error() -> None:
    res = pool_effects([0.2], [0.04], method="REML")
    assert res.status == "single_effect"
    assert (res.estimate, res.se, res.tau2, res.k) == (0.2, pytest.approx(0.2), 0.0, 1)
    assert math.isnan(res.i2) and math.isnan(res.q_pvalue)


@pytest.mark.parametrize(
    ("effects", "variances", "message"),
    [
        ([], [], "no effects"),
        ([0.1, 0.2], [0.01], "2 effects but 1 variances"),
        ([0.1, float("nan")], [0.01, 0.01], "effect at position 1"),
        ([0.1, 0.2], [0.01, 0.0], "variance at position 1 is 0.0"),
        ([0.1, 0.2], [0.01, -1.0], "expected a positive sampling variance"),
    ],
)
def test_bad_input_raises_input_error(
    effects: list[float], variances: list[float], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        pool_effects(effects, variances)


def test_unknown_method_and_level_are_input_errors() -> None:
    with pytest.raises(InputError, match="unknown pooling method"):
        pool_effects([0.1, 0.2], [0.01, 0.01], method="ML")
    with pytest.raises(InputError, match="between 0 and 1"):
        pool_effects([0.1, 0.2], [0.01, 0.01], ci_level=95)
    with pytest.raises(InputError, match="one level"):
        meta_regression([0.1, 0.2], [0.01, 0.01], ["a", "a"])


def test_results_are_frozen_and_serialize(shared_reference: Path) -> None:
    case = _cases(shared_reference)[0]
    res = pool_effects(case["yi"], case["vi"], method="DL")
    record = res.to_record()
    text = json.dumps(record, allow_nan=False)  # JSON-safe: inf df becomes null
    assert json.loads(text)["estimate"] == pytest.approx(case["fits"]["DL"]["estimate"], rel=REL)
    assert record["df"] is None
    summary = res.summary()
    assert list(summary.columns)[:6] == [
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "ci_level",
        "statistic",
    ]
    assert "<table" in res._repr_html_()
    with pytest.raises(AttributeError):
        res.estimate = 0.0  # type: ignore[misc]
    reg = meta_regression(case["yi"], case["vi"], case["moderator"])
    assert list(reg.summary()["term"]) == ["intercept", "moderator[linear_probe]"]
    json.dumps(reg.to_record(), allow_nan=False)


def test_continuous_moderator_is_weighted_regression_at_zero_tau2() -> None:
    y = np.array([0.1, 0.2, 0.35, 0.38, 0.52])
    v = np.full(5, 0.01)
    mod = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    fit = meta_regression(y, v, mod, method="FE")
    slope, intercept = np.polyfit(mod, y, 1)
    assert fit.coef == pytest.approx((intercept, slope), rel=1e-10)
    assert fit.se[1] == pytest.approx(math.sqrt(0.01 / np.sum((mod - mod.mean()) ** 2)), rel=1e-10)


@pytest.mark.parametrize("method", ["DL", "REML", "PM", "FE"])
def test_resampled_pooling_equals_pooling_the_resample(method: str) -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(0.1, 0.1, 12)
    v = rng.uniform(0.001, 0.01, 12)
    idx = rng.integers(0, 12, size=(40, 12))
    counts = np.stack([np.bincount(row, minlength=12) for row in idx])
    fast = pool_resampled(y, v, counts, method)
    slow = [pool_effects(y[row], v[row], method=method, solver="exact").estimate for row in idx]
    np.testing.assert_allclose(fast, slow, rtol=1e-9)  # bisection to ~machine precision
    unweighted = pool_resampled(y, None, counts)
    np.testing.assert_allclose(unweighted, [np.mean(y[row]) for row in idx], rtol=1e-12)
