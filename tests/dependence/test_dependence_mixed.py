"""The mixed model against lme4 1.1.31 (../shared/reference/mixed_lme4.json)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _dependence_ladder import SLOPES, synthetic_ladder

from transferscope.dependence.slopes import fit_slope_model, method_slopes

R_NAMES = {
    "intercept": "(Intercept)",
    "x": "x",
    "method[linear_probe]": "methodlinear_probe",
    "method[lora]": "methodlora",
    "x:method[linear_probe]": "x:methodlinear_probe",
    "x:method[lora]": "x:methodlora",
}


@pytest.fixture(scope="module")
def lme4(shared_reference: Path) -> tuple[pd.DataFrame, dict]:
    data = pd.read_csv(shared_reference / "mixed_data.csv")
    ref = json.loads((shared_reference / "mixed_lme4.json").read_text())
    return data, ref


def test_fixed_effects_and_variance_components_match_lme4(lme4: tuple[pd.DataFrame, dict]) -> None:
    data, ref = lme4
    fit = fit_slope_model(data, y="y", x="x", entity="method", group="task")
    assert fit.status == "ok" and fit.converged and fit.optimizer == "lbfgs"
    assert fit.reference == "full_ft" and fit.n_obs == 288 and fit.n_groups == 12
    assert set(fit.terms) == set(R_NAMES)
    for term, coef, se in zip(fit.terms, fit.coef, fit.se, strict=True):
        assert coef == pytest.approx(ref["fixed"][R_NAMES[term]], rel=1e-5), term  # issue: 1e-5
        assert se == pytest.approx(ref["fixed_se"][R_NAMES[term]], rel=1e-3), term  # issue: 1e-3
    random = {(r["var1"], r["var2"]): r["vcov"] for r in ref["random"].values() if r["var1"]}
    assert fit.var_intercept == pytest.approx(random[("(Intercept)", None)], rel=1e-3)
    assert fit.var_slope == pytest.approx(random[("x", None)], rel=1e-3)
    assert fit.cov_intercept_slope == pytest.approx(random[("(Intercept)", "x")], rel=1e-3)
    assert fit.sigma2 == pytest.approx(ref["sigma"] ** 2, rel=1e-3)
    assert fit.reml_criterion == pytest.approx(ref["reml_criterion"], rel=1e-6)
    for entity, slope in zip(fit.entities, fit.slopes, strict=True):
        assert slope == pytest.approx(ref["slope_per_method"][entity], rel=1e-5)
    assert list(fit.summary()["term"]) == list(fit.terms)
    json.dumps(fit.to_record(), allow_nan=False)


def test_non_convergence_is_a_status(lme4: tuple[pd.DataFrame, dict]) -> None:
    data, _ = lme4
    noise = data.assign(y=np.random.default_rng(0).normal(size=len(data)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may leak out of the fit
        stuck = fit_slope_model(noise, optimizers=("lbfgs",))
        rescued = fit_slope_model(noise)
    assert stuck.status == "did_not_converge" and not stuck.converged
    assert np.isfinite(stuck.slopes).all()
    assert rescued.converged and rescued.optimizer != "lbfgs"
    assert rescued.status in ("ok", "boundary")
    few = fit_slope_model(data[data["task"] == "task_01"])
    assert few.status == "too_few" and few.slopes == ()


def test_method_slopes_recover_the_ladder() -> None:
    table = method_slopes(synthetic_ladder(seed=0)).set_index("method")
    assert table.loc["full_ft", "reference"] == "full_ft"
    for method, slope in SLOPES.items():
        assert abs(table.loc[method, "slope"] - slope) < 0.05  # task deviations sd 0.05 / sqrt(10)
    assert table.loc["full_ft", "diff_from_reference"] == 0.0
    diff = table.loc["lora", "slope"] - table.loc["full_ft", "slope"]
    assert table.loc["lora", "diff_from_reference"] == pytest.approx(diff, rel=1e-10)
    assert table.loc["lora", "diff_pvalue"] < 1e-6
    assert set(table["status"]) == {"ok"} and set(table["n_tasks"]) == {10}


def test_status_is_read_from_the_fit_not_from_warnings_of_other_threads(
    lme4: tuple[pd.DataFrame, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    # warnings are process-wide: on a threaded engine (Dask threads) another context's
    # "singular" warning lands in this fit's catch_warnings list, and once turned an ok fit
    # into "boundary"; the status must come from the fit itself
    from statsmodels.regression.mixed_linear_model import MixedLM
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    data, _ = lme4
    clean = fit_slope_model(data, y="y", x="x", entity="method", group="task")
    fit = MixedLM.fit

    def with_a_neighbour_warning(self: MixedLM, *args: object, **kwargs: object) -> object:
        warnings.warn(
            "The Hessian matrix at the estimated parameter values is not positive definite.",
            ConvergenceWarning,
            stacklevel=2,
        )  # as a concurrent singular fit in another thread would
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(MixedLM, "fit", with_a_neighbour_warning)
    noisy = fit_slope_model(data, y="y", x="x", entity="method", group="task")
    assert clean.status == noisy.status == "ok"
    assert noisy.coef == clean.coef


def test_a_fit_in_another_thread_does_not_leak_its_warnings(
    lme4: tuple[pd.DataFrame, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    # two contexts fitted at once in a Dask worker's threads: the one whose fit warns that its
    # random-effects covariance is singular must not make the other one "boundary". A warning
    # goes to the recorder installed last, whichever thread installed it: here the singular
    # fit warns while the other fit, started after it, is running
    import threading

    from statsmodels.regression.mixed_linear_model import MixedLM
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    data, _ = lme4
    first_inside, second_inside = threading.Event(), threading.Event()
    fit = MixedLM.fit

    def patched(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if threading.current_thread().name == "singular":
            first_inside.set()
            second_inside.wait(timeout=1.0)  # unless the other fit has to wait for this one
            warnings.warn("Random effects covariance is singular", ConvergenceWarning, stacklevel=2)
        else:
            second_inside.set()
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(MixedLM, "fit", patched)
    results = []
    first = threading.Thread(
        target=lambda: fit_slope_model(data, optimizers=("lbfgs",)), name="singular"
    )
    second = threading.Thread(
        target=lambda: results.append(fit_slope_model(data, optimizers=("lbfgs",))), name="ok"
    )
    first.start()
    assert first_inside.wait(timeout=10.0)
    second.start()
    first.join()
    second.join()
    assert results[0].status == "ok"
