"""The crossed random-intercept mixed model against statsmodels and against ANOVA.

References: statsmodels' ``MixedLM`` (one grouping factor; crossed factors as variance
components of a single group), statsmodels' ``OLS`` log-likelihood (no random effect), and the
ANOVA estimates of a balanced two-way layout, which REML reproduces when they are positive.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.regression.mixed_linear_model import MixedLM

from transferscope.errors import InputError
from transferscope.transfer.consistency import icc_consistency
from transferscope.transfer.lmm import fit_crossed, full_rank_columns


def _data(seed: int = 1, n_models: int = 40, n_tasks: int = 6, drop: float = 0.1):
    rng = np.random.default_rng(seed)
    model = np.repeat(np.arange(n_models), n_tasks)
    task = np.tile(np.arange(n_tasks), n_models)
    z = (np.arange(n_models) % 2)[model].astype(float)
    y = 0.3 * z + rng.normal(0, 0.5, n_models)[model] + rng.normal(0, 0.3, n_tasks)[task]
    y = y + rng.normal(0, 0.4, n_models * n_tasks)
    keep = rng.random(len(y)) > drop
    return y[keep], model[keep], task[keep], z[keep]


@pytest.mark.parametrize("reml", [True, False])
def test_one_factor_matches_statsmodels(reml: bool) -> None:
    y, model, _, z = _data()
    x = np.column_stack([np.ones(len(y)), z])
    fit = fit_crossed(y, x, [model], reml=reml)
    ref = MixedLM(y, x, groups=model).fit(reml=reml)
    np.testing.assert_allclose(fit.coef, ref.fe_params, rtol=1e-5)
    np.testing.assert_allclose(fit.se, np.asarray(ref.bse)[:2], rtol=1e-4)
    assert fit.variances[0] == pytest.approx(float(np.asarray(ref.cov_re)[0, 0]), rel=1e-4)
    assert fit.sigma2 == pytest.approx(ref.scale, rel=1e-5)
    assert fit.deviance == pytest.approx(-2 * ref.llf, abs=1e-6)


def test_crossed_factors_match_statsmodels_variance_components() -> None:
    y, model, task, z = _data(seed=2, n_models=25, n_tasks=5)
    frame = pd.DataFrame({"y": y, "z": z, "model": model, "task": task, "g": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' convergence chatter on the dense fit
        ref = MixedLM.from_formula(
            "y ~ z",
            groups="g",
            vc_formula={"model": "0 + C(model)", "task": "0 + C(task)"},
            re_formula="0",
            data=frame,
        ).fit(reml=True)
    fit = fit_crossed(y, np.column_stack([np.ones(len(y)), z]), [model, task], reml=True)
    # both optimizers stop within ~1e-6 of the optimum (standard errors are ~0.1)
    np.testing.assert_allclose(fit.coef, ref.fe_params, atol=2e-6)
    np.testing.assert_allclose(fit.se, np.asarray(ref.bse)[:2], rtol=1e-3)
    # statsmodels orders variance components by name: model, task
    np.testing.assert_allclose(fit.variances, np.asarray(ref.vcomp), rtol=1e-3)
    assert fit.deviance == pytest.approx(-2 * ref.llf, abs=1e-5)
    assert fit.n_levels == (25, 5) and fit.status == "ok"
    # the conditional modes of the model effects are centred (a property of the BLUPs)
    assert abs(float(np.mean(fit.effects[0]))) < 1e-8


def test_balanced_reml_equals_the_anova_icc() -> None:
    rng = np.random.default_rng(5)
    n, k = 30, 5
    table = rng.normal(0, 0.6, (n, 1)) + rng.normal(0, 0.4, (1, k)) + rng.normal(0, 0.5, (n, k))
    model = np.repeat(np.arange(n), k)
    task = np.tile(np.arange(k), n)
    fit = fit_crossed(table.ravel(), np.ones((n * k, 1)), [model, task], reml=True)
    icc = icc_consistency(table)
    var_model, _ = fit.variances
    # ANOVA: var_model = (MSR - MSE) / k, sigma^2 = MSE
    assert fit.sigma2 == pytest.approx(icc["mse"], rel=1e-6)
    assert var_model == pytest.approx((icc["msr"] - icc["mse"]) / k, rel=1e-5)
    assert var_model / (var_model + fit.sigma2) == pytest.approx(icc["icc"], rel=1e-5)


def test_without_random_effects_it_is_least_squares() -> None:
    y, _, _, z = _data(seed=3)
    x = np.column_stack([np.ones(len(y)), z])
    fit = fit_crossed(y, x, [], reml=False)
    ref = sm.OLS(y, x).fit()
    np.testing.assert_allclose(fit.coef, ref.params, rtol=1e-10)
    assert fit.deviance == pytest.approx(-2 * ref.llf, rel=1e-10)
    assert fit.variances == ()


def test_a_zero_variance_is_a_boundary_status() -> None:
    rng = np.random.default_rng(0)
    model = np.repeat(np.arange(30), 4)
    e = rng.normal(size=(30, 4))
    y = (e - e.mean(axis=1, keepdims=True)).ravel()  # every model has the same mean
    fit = fit_crossed(y, np.ones((120, 1)), [model], reml=True)
    assert fit.status == "boundary" and fit.variances[0] < 1e-8 * fit.sigma2
    ok = fit_crossed(y + np.repeat(rng.normal(0, 1.0, 30), 4), np.ones((120, 1)), [model])
    assert ok.status == "ok" and ok.variances[0] > 0.3


def test_bad_designs_are_refused() -> None:
    x = np.column_stack([np.ones(10), np.arange(10.0), 2 * np.arange(10.0)])
    with pytest.raises(InputError, match="full column rank"):
        fit_crossed(np.arange(10.0), x, [np.arange(10) % 3])
    assert full_rank_columns(x) == [0, 1]
    with pytest.raises(InputError, match="finite"):
        fit_crossed(np.array([1.0, np.nan, 2.0]), np.ones((3, 1)), [])
