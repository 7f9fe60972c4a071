"""Dependent effects against metafor 3.8.1 + clubSandwich 0.5.8 (metafor_mv_cases.json).

Every field of every case is compared: the univariate fit's prediction interval, Q-profile
interval of tau^2, leave-one-out and Egger's test; the three-level model (``rma.mv(yi, vi,
random = ~ 1 | suite/task)``) and its CR2 robust errors; the three-level meta-regression. The
tolerance is 1e-6 relative (1e-9 absolute where metafor's value is at the zero boundary).

The three-level fits are checked in two steps. (1) With the variance components fixed at
metafor's (``sigma2=``, as ``rma.mv``'s argument), every other field (coefficients, standard
errors, intervals, Q, QM, logLik, prediction interval, CR2 errors, Satterthwaite df, p-values)
matches at 1e-6: the formulas are metafor's and clubSandwich's. (2) The estimated variances
match at 1e-6, except in three fits where metafor's optimizer (``nlminb`` on the log-variances,
relative function tolerance 1e-10) stops before the maximum of the restricted likelihood: ours
is higher there (by 3e-9 in two of them), on the same objective (ours at metafor's variances
reproduces metafor's logLik to 1e-12), and the variances differ by up to 2e-5 relative; those
are compared at 3e-5, and the test names them, so that a new discrepancy fails.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from transferscope.errors import InputError
from transferscope.stats import (
    MultilevelEffect,
    MultilevelRegression,
    egger_test,
    leave_one_out,
    meta_regression,
    pool_effects,
)
from transferscope.stats.multilevel import pool_multilevel, regression_fit

REL = 1e-6
BOUNDARY = 1e-9
#: Fits whose variances metafor's optimizer leaves short of the REML maximum: (seed, model).
SHORT_OF_MAXIMUM = {
    (11, "multilevel"),
    (11, "multilevel_regression"),
    (15, "multilevel_regression"),
}
LOOSE = 3e-5


def _cases(reference: Path) -> list[dict[str, Any]]:
    return list(json.loads((reference / "metafor_mv_cases.json").read_text())["cases"])


def _close(ours: float, theirs: float, what: str, rel: float = REL) -> None:
    if abs(theirs) < BOUNDARY:
        assert abs(ours - theirs) <= BOUNDARY, f"{what}: {ours} vs {theirs} (boundary)"
    else:
        assert ours == pytest.approx(theirs, rel=rel), what


def _variances(
    ours: tuple[float, float], theirs: tuple[float, float], shortfall: float, what: str
) -> bool:
    """The estimated variances at 1e-6, or at 3e-5 where ours has the higher likelihood.

    Returns whether the looser tolerance was needed.
    """
    pairs = list(zip(ours, theirs, strict=True))
    if all(abs(o - t) <= (BOUNDARY if abs(t) < BOUNDARY else REL * abs(t)) for o, t in pairs):
        return False
    assert shortfall >= -1e-12, f"{what}: metafor's variances have the higher likelihood"
    for o, t in pairs:
        _close(o, t, what, LOOSE)
    return True


def _design(case: dict[str, Any]) -> np.ndarray:
    k = len(case["yi"])
    return np.column_stack([np.ones(k), np.array(case["method"]) == "linear_probe"]).astype(float)


def test_univariate_prediction_tau2_interval_leave1out_and_egger(shared_reference: Path) -> None:
    checked = 0
    for case in _cases(shared_reference):
        ref = case["univariate"]
        fit = pool_effects(case["yi"], case["vi"], method="REML")
        fields = {
            "estimate": fit.estimate, "se": fit.se, "tau2": fit.tau2, "pi_lb": fit.pi_low,
            "pi_ub": fit.pi_high, "tau2_ci_lb": fit.tau2_ci_low, "tau2_ci_ub": fit.tau2_ci_high,
        }  # fmt: skip
        loo = leave_one_out(case["yi"], case["vi"], method="REML")
        assert list(loo["left_out"]) == list(range(case["k"]))
        egger = egger_test(case["yi"], case["vi"])
        fields |= {"egger_z": egger.statistic, "egger_p": egger.pvalue}
        for name, ours in fields.items():
            _close(ours, ref[name], f"seed {case['seed']} {name}")
            checked += 1
        for column, name in (("estimate", "loo_estimate"), ("se", "loo_se"), ("tau2", "loo_tau2")):
            for i, (ours, theirs) in enumerate(zip(loo[column], ref[name], strict=True)):
                _close(ours, theirs, f"seed {case['seed']} {name}[{i}]")
                checked += 1
    assert checked == sum(9 + 3 * c["k"] for c in _cases(shared_reference))


def test_three_level_model_and_cr2_errors(shared_reference: Path) -> None:
    short = set()
    for case in _cases(shared_reference):
        ref, seed = case["multilevel"], case["seed"]
        fixed = (ref["sigma2_suite"], ref["sigma2_task"])
        # (1) at metafor's variances, every other field is metafor's and clubSandwich's
        model = pool_multilevel(case["yi"], case["vi"], case["suite"], sigma2=fixed)
        robust = pool_multilevel(case["yi"], case["vi"], case["suite"], sigma2=fixed, robust=True)
        fields = {
            "estimate": model.estimate, "se": model.se, "ci_lb": model.ci_low,
            "ci_ub": model.ci_high, "sigma2_suite": model.sigma2_cluster,
            "sigma2_task": model.sigma2_within, "QE": model.q, "QEp": model.q_pvalue,
            "pi_lb": model.pi_low, "pi_ub": model.pi_high, "logLik": model.loglik,
            "robust_se": robust.se, "robust_ci_lb": robust.ci_low,
            "robust_ci_ub": robust.ci_high, "robust_df": robust.df, "robust_p": robust.pvalue,
        }  # fmt: skip
        assert set(fields) == set(ref)
        for name, ours in fields.items():
            _close(ours, ref[name], f"seed {seed} {name}")
        # (2) the estimates: pool_effects(..., clusters=) maximizes the same likelihood
        est = pool_effects(case["yi"], case["vi"], clusters=case["suite"])
        est_robust = pool_effects(case["yi"], case["vi"], clusters=case["suite"], robust=True)
        assert isinstance(est, MultilevelEffect) and isinstance(est_robust, MultilevelEffect)
        assert est.n_clusters == len(set(case["suite"])) and est.k == case["k"]
        assert est.loglik >= model.loglik - 1e-12
        if _variances((est.sigma2_cluster, est.sigma2_within), fixed,
                      est.loglik - model.loglik, f"seed {seed}"):  # fmt: skip
            short.add((seed, "multilevel"))
        tol = LOOSE if (seed, "multilevel") in short else REL
        for ours, theirs in ((est.estimate, ref["estimate"]), (est.se, ref["se"]),
                             (est_robust.se, ref["robust_se"]), (est_robust.df, ref["robust_df"]),
                             (est.pi_high, ref["pi_ub"])):  # fmt: skip
            _close(ours, theirs, f"seed {seed} estimated", tol)
        assert est_robust.estimate == est.estimate and est_robust.model_se == est.se
        assert est_robust.status == "ok" and est_robust.robust and not est.robust
    assert short == {key for key in SHORT_OF_MAXIMUM if key[1] == "multilevel"}


def test_three_level_meta_regression_with_cr2_errors(shared_reference: Path) -> None:
    short = set()
    for case in _cases(shared_reference):
        ref, seed = case["multilevel_regression"], case["seed"]
        fixed = (ref["sigma2_suite"], ref["sigma2_task"])
        x = _design(case)
        terms = ("intercept", "moderator[linear_probe]")
        y, v = np.asarray(case["yi"]), np.asarray(case["vi"])
        model = regression_fit(y, v, x, terms, case["suite"], robust=False, ci_level=0.95,
                               sigma2=fixed)  # fmt: skip
        robust = regression_fit(y, v, x, terms, case["suite"], robust=True, ci_level=0.95,
                                sigma2=fixed)  # fmt: skip
        table = robust.summary()
        for i, coef in enumerate(ref["coef"].values()):
            _close(model.coef[i], coef, f"seed {seed} coef[{i}]")
            _close(model.se[i], ref["se"][i], f"seed {seed} se[{i}]")
            _close(robust.se[i], ref["robust_se"][i], f"seed {seed} robust_se[{i}]")
            _close(robust.df[i], ref["robust_df"][i], f"seed {seed} robust_df[{i}]")
            _close(table["pvalue"].iloc[i], ref["robust_p"][i], f"seed {seed} robust_p[{i}]")
        _close(model.qm, ref["QM"], f"seed {seed} QM")
        _close(model.qm_pvalue, ref["QMp"], f"seed {seed} QMp")
        # one moderator coefficient: the robust omnibus test is its squared t with F(1, df)
        assert robust.qm == pytest.approx((robust.coef[1] / robust.se[1]) ** 2, rel=1e-12)
        assert robust.qm_pvalue == pytest.approx(table["pvalue"].iloc[1], rel=1e-9)
        # the estimates, through the public function
        est = meta_regression(y, v, case["method"], clusters=case["suite"], robust=True)
        assert isinstance(est, MultilevelRegression) and est.terms == terms
        assert est.loglik >= model.loglik - 1e-12
        if _variances((est.sigma2_cluster, est.sigma2_within), fixed,
                      est.loglik - model.loglik, f"seed {seed} regression"):  # fmt: skip
            short.add((seed, "multilevel_regression"))
        tol = LOOSE if (seed, "multilevel_regression") in short else REL
        for i, coef in enumerate(ref["coef"].values()):
            _close(est.coef[i], coef, f"seed {seed} estimated coef[{i}]", tol)
            _close(est.se[i], ref["robust_se"][i], f"seed {seed} estimated robust_se[{i}]", tol)
            _close(est.df[i], ref["robust_df"][i], f"seed {seed} estimated robust_df[{i}]", tol)
    assert short == {key for key in SHORT_OF_MAXIMUM if key[1] == "multilevel_regression"}


def test_what_the_clusters_cannot_tell_apart() -> None:
    y = np.array([0.10, 0.14, 0.05, 0.20, 0.12, 0.08])
    v = np.array([0.001, 0.002, 0.0015, 0.001, 0.003, 0.002])
    # one cluster: its variance is not identified; the model is the two-level one (REML tau2)
    one = pool_effects(y, v, clusters=["s"] * 6, robust=True)
    flat = pool_effects(y, v, method="REML", solver="exact")
    assert one.sigma2_cluster == 0.0 and one.status == "one_cluster"
    assert one.sigma2_within == pytest.approx(flat.tau2, rel=1e-8)
    assert one.estimate == pytest.approx(flat.estimate, rel=1e-10)
    assert one.se == pytest.approx(flat.se, rel=1e-8) and "cannot" in one.message
    # one effect per cluster: the two variances add up to the random-effects tau2
    alone = pool_effects(y, v, clusters=list("abcdef"))
    assert alone.sigma2_cluster == 0.0 and alone.sigma2_within == pytest.approx(flat.tau2, 1e-8)
    assert "one effect per cluster" in alone.message


def test_bad_input_and_options() -> None:
    y, v = [0.1, 0.2, 0.3], [0.01, 0.01, 0.02]
    with pytest.raises(InputError, match="2 cluster labels but 3 effects"):
        pool_effects(y, v, clusters=["a", "b"])
    with pytest.raises(InputError, match="fitted by REML"):
        pool_effects(y, v, clusters=["a", "a", "b"], method="DL")
    with pytest.raises(InputError, match="needs clusters"):
        pool_effects(y, v, robust=True)
    with pytest.raises(InputError, match="cluster label at position 1 is missing"):
        pool_effects(y, v, clusters=["a", None, "b"])
    with pytest.raises(InputError, match="needs clusters"):
        meta_regression(y, v, [0.0, 1.0, 2.0], robust=True)
    with pytest.raises(InputError, match="at least two effects"):
        leave_one_out([0.1], [0.01])
    with pytest.raises(InputError, match="standard errors that differ"):
        egger_test(y, [0.01, 0.01, 0.01])
    # FE has no tau^2 interval; a single effect has no prediction or tau^2 interval
    fe = pool_effects(y, v, method="FE")
    assert math.isnan(fe.tau2_ci_low) and fe.pi_low == pytest.approx(fe.ci_low)
    single = pool_effects([0.1], [0.01])
    assert math.isnan(single.pi_low) and math.isnan(single.tau2_ci_high)
