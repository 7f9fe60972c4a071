"""effective_transfer on tables with planted truth; the store, the command line.

The calibration over many simulated tables (power and false-positive rate of the moderator
test, coverage of the ICC interval) is measured by ``benchmarks/transfer.py``; here, single
tables with known effects check that each piece points at the truth.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from transferscope.cli import main
from transferscope.errors import InputError
from transferscope.frontier import read_baselines
from transferscope.frontier.settings import FitSettings
from transferscope.store import open_store
from transferscope.transfer import (
    effective_store,
    effective_transfer,
    simulate_transfer,
    stored_effective,
)
from transferscope.transfer.api import (
    BASELINE_COLUMNS,
    CONSISTENCY_COLUMNS,
    RESIDUAL_COLUMNS,
)
from transferscope.transfer.lmm import fit_crossed
from transferscope.transfer.points import encode_moderator, model_points
from transferscope.transfer.residuals import group_efficiency

FAST = {"frontier": None, "moderators": ["pretrain_data"]}


@pytest.fixture(scope="module")
def planted():
    sim = simulate_transfer(60, 6, delta=0.3, model_sd=0.1, noise_sd=0.1, seed=11)
    result = effective_transfer(
        sim.runs, reference={"pretrain_data": "standard"}, bootstrap=400, seed=1, **FAST
    )
    return sim, result


def test_points_take_the_best_configuration_and_average_seeds() -> None:
    runs = pd.DataFrame(
        {
            "model": ["a", "a", "a", "a", "b"],
            "task": "t",
            "method": "m",
            "shots": pd.array([0] * 5, dtype="Int64"),
            "seed": pd.array([0, 1, 0, 1, 0], dtype="Int64"),
            "upstream_score": [0.7, 0.7, 0.7, 0.7, 0.8],
            "downstream_score": [0.50, 0.54, 0.60, 0.62, 0.7],
            "downstream_stderr": [np.nan] * 4 + [0.01],
            "hparams": ['{"lr":1}', '{"lr":1}', '{"lr":2}', '{"lr":2}', '{"lr":1}'],
        }
    )
    points, _ = model_points(runs, by=["task", "method", "shots"])
    a = points.set_index("model").loc["a"]
    assert a["downstream_score"] == pytest.approx(0.61)  # lr 2, mean of its two seeds
    assert a["downstream_stderr"] == pytest.approx(np.std([0.60, 0.62], ddof=1) / math.sqrt(2))
    assert a["hparams"] == '{"lr":2}' and a["n_runs"] == 2
    assert points.set_index("model").loc["b", "downstream_stderr"] == pytest.approx(0.01)
    every, layout_all = model_points(runs, by=["task", "method", "shots"], hparams="all")
    assert len(every) == 3 and layout_all.unit == ("model", "hparams")
    assert every["unit_key"].nunique() == 3


def test_residual_intervals_agree_with_least_squares_theory() -> None:
    sim = simulate_transfer(80, 1, model_sd=0.0, noise_sd=0.1, seed=3)
    result = effective_transfer(sim.runs, bootstrap=2000, seed=0, frontier=None, moderators=[])
    res = result.residuals
    u, v = special.ndtri(res["upstream_score"]), special.ndtri(res["downstream_score"])
    b, a = np.polyfit(u, v, 1)
    resid = v - (a + b * u)
    s2 = float(resid @ resid) / (len(u) - 2)
    se_line = np.sqrt(s2 * (1 / len(u) + (u - u.mean()) ** 2 / np.sum((u - u.mean()) ** 2)))
    np.testing.assert_allclose(res["residual"], resid, atol=1e-9)
    ratio = res["residual_se"] / se_line  # bootstrap vs OLS standard error of the fitted line
    assert 0.85 < float(np.median(ratio)) < 1.15
    assert (res["residual_ci_low"] < res["residual"]).all()
    assert res["axes"].eq("probit axes").all()


def test_mean_residuals_follow_the_planted_model_effects(planted) -> None:
    # (the coverage of the residual intervals over many tables is in benchmarks/transfer.py: in
    # one table every task's line shares the same sample of reference models)
    sim, result = planted
    res = result.residuals
    # a model's mean residual follows its planted effect (plus the moderator's shift)
    means = res.groupby("model")["residual"].mean()
    extra = res.drop_duplicates("model").set_index("model")["pretrain_data"] == "extra"
    planted_total = sim.model_effects + 0.3 * extra.reindex(sim.model_effects.index)
    assert np.corrcoef(means.reindex(planted_total.index), planted_total)[0, 1] > 0.9


def test_the_planted_moderator_is_found_with_an_interval_around_it(planted) -> None:
    _, result = planted
    test = result.tests.set_index("moderator").loc["pretrain_data"]
    assert test["status"] == "ok" and test["p_value"] < 1e-8 and test["df"] == 2
    assert test["reference_level"] == "standard" and test["n_models"] == 60
    shift = result.drivers[result.drivers["kind"] == "shift"].iloc[0]
    assert shift["level"] == "extra"
    assert shift["ci_low"] < 0.3 < shift["ci_high"]
    levels = result.levels[result.levels["level"] == "extra"]
    assert len(levels) == 6 and (levels["ci_low"] > 0).all()
    # every task sees the same models, so the per-task means share their sampling error
    assert (levels["mean_residual"] - 0.3).abs().max() < 0.1


def test_consistency_recovers_the_planted_icc() -> None:
    sim = simulate_transfer(60, 6, model_sd=0.1, noise_sd=0.1, seed=5)
    result = effective_transfer(sim.runs, bootstrap=0, **FAST)
    row = result.consistency.iloc[0]
    assert row["status"] == "ok" and row["n_models"] == 60 and row["n_tasks"] == 6
    assert row["ci_low"] < sim.icc < row["ci_high"]
    assert len(result.pairs) == 15 and (result.pairs["spearman"] > 0).mean() > 0.9


def test_model_random_effects_keep_the_moderator_test_honest() -> None:
    """With strong model effects and no moderator effect, ignoring the models' repeated
    residuals (least squares) rejects far more often than the crossed mixed model."""
    crossed, naive = [], []
    for seed in range(8):
        sim = simulate_transfer(30, 8, delta=0.0, model_sd=0.3, noise_sd=0.05, seed=100 + seed)
        result = effective_transfer(sim.runs, bootstrap=0, **FAST)
        crossed.append(result.tests["p_value"].iloc[0])
        frame = result.residuals
        moderator = encode_moderator(frame, "pretrain_data")
        z = (frame["pretrain_data"] == moderator.levels[1]).to_numpy(float)
        x0 = np.ones((len(frame), 1))
        x1 = np.column_stack([x0, z])
        y = frame["residual"].to_numpy()
        lr = (
            fit_crossed(y, x0, [], reml=False).deviance
            - fit_crossed(y, x1, [], reml=False).deviance
        )
        naive.append(float(stats.chi2.sf(max(lr, 0.0), 1)))
    assert sum(p < 0.05 for p in crossed) <= 2
    assert sum(p < 0.05 for p in naive) >= 4


def test_a_reference_column_in_the_grouping_serves_every_group() -> None:
    sim = simulate_transfer(40, 2, delta=0.0, seed=7)
    standard = sim.runs.assign(method="standard")
    other = sim.runs.assign(
        method="other",
        downstream_score=special.ndtr(special.ndtri(sim.runs["downstream_score"]) + 0.2),
    )
    runs = pd.concat([standard, other], ignore_index=True)
    result = effective_transfer(runs, reference={"method": "standard"}, bootstrap=0, **FAST)
    assert len(result.baselines) == 2  # one per task, not per (task, method)
    assert "method" not in result.baselines.columns
    means = result.residuals.groupby("method")["residual"].mean()
    assert means["standard"] == pytest.approx(0.0, abs=1e-9)
    assert means["other"] == pytest.approx(0.2, abs=1e-9)


def test_efficiency_is_reported_or_refused_with_a_status() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(0.55, 0.9, 150)
    skewed = (
        1 - 0.05 - 0.6 * (1 - x) ** 1.2 - rng.exponential(0.04, 150) + rng.normal(0, 0.005, 150)
    )
    runs = pd.DataFrame(
        {"model": [f"m{i}" for i in range(150)], "task": "t", "method": "m",
         "shots": pd.array([0] * 150, dtype="Int64"), "upstream_score": x,
         "downstream_score": skewed}
    )  # fmt: skip
    sfa = effective_transfer(runs, bootstrap=0, frontier="stochastic", moderators=[]).residuals
    assert sfa["efficiency_status"].eq("ok").all()
    assert (sfa["efficiency"] <= 1).all() and (sfa["efficiency_bc"] <= 1).all()
    assert (sfa["shortfall_ci_low"] <= sfa["shortfall"]).all()
    assert (sfa["shortfall"] <= sfa["shortfall_ci_high"]).all()
    hull = effective_transfer(runs, bootstrap=0, frontier="hull", moderators=[]).residuals
    assert hull["efficiency"].max() == pytest.approx(1.0) and hull["efficiency_bc"].isna().all()
    # runs skewed above their line: the stochastic frontier finds no shortfall, and (held to
    # it, without the fallback to an envelope that effective_transfer's default fit makes)
    # efficiency is refused with a status
    above = 0.9 * x - 0.1 + rng.exponential(0.03, 150)
    eff, status, message = group_efficiency(
        x, above, frontier="stochastic", family="abnar",
        settings=FitSettings.make(fallback="none"), loss=False, upstream_metric=None,
        downstream_metric=None, rng=np.random.default_rng(0),
    )  # fmt: skip
    assert (eff, status) == (None, "wrong_skew") and "finds no shortfall" in message
    fallen = effective_transfer(
        runs.assign(downstream_score=above), bootstrap=0, frontier="stochastic", moderators=[]
    )
    assert fallen.residuals["efficiency_status"].eq("ok").all()  # the envelope's efficiency
    assert fallen.residuals["efficiency"].max() == pytest.approx(1.0)


def test_columns_follow_the_documented_contract(planted) -> None:
    _, result = planted
    by = ["task", "method", "shots", "downstream_metric"]
    assert list(result.residuals.columns[: len(by) + 1]) == [*by, "model"]
    start = len(by) + 1
    assert list(result.residuals.columns[start : start + len(RESIDUAL_COLUMNS)]) == list(
        RESIDUAL_COLUMNS
    )
    assert list(result.baselines.columns) == [*by, *BASELINE_COLUMNS]
    context = ["method", "shots", "downstream_metric"]
    assert list(result.consistency.columns) == [*context, *CONSISTENCY_COLUMNS]
    assert result.baselines["status"].eq("ok").all()
    assert (result.baselines["n_reference"] < 60).all()
    record = result.to_record()
    assert json.dumps(record, allow_nan=False) and record["analysis"] == result.analysis
    assert "groups" in result.describe()


def test_bad_options_are_refused() -> None:
    sim = simulate_transfer(10, 2, seed=1)
    with pytest.raises(InputError, match="across"):
        effective_transfer(sim.runs, by=["method"], **FAST)
    with pytest.raises(InputError, match="reference column"):
        effective_transfer(sim.runs, reference={"nope": 1}, **FAST)
    with pytest.raises(InputError, match="top"):
        effective_transfer(sim.runs, top=1.5, **FAST)


def test_store_keeps_rows_with_their_baseline_fits(tmp_path: Path) -> None:
    sim = simulate_transfer(20, 3, delta=0.2, seed=2)
    db = tmp_path / "s.duckdb"
    with open_store(db) as store:
        store.ingest(sim.runs, "sim")
        first = effective_store(store, bootstrap=50, **FAST)
        again = effective_store(store, bootstrap=50, **FAST)
        rows = stored_effective(store)
        fits = store.connection.sql("SELECT fingerprint, family, status FROM fits").df()
    assert first.analysis == again.analysis
    assert len(rows) == 60  # the second run replaced the first's rows
    assert set(rows["baseline_fingerprint"]) == set(first.baselines["baseline_fingerprint"])
    assert set(rows["baseline_fingerprint"]) <= set(fits["fingerprint"])
    assert rows["baseline_family"].eq("probit").all() and rows["baseline_status"].eq("ok").all()
    merged = rows.merge(
        first.residuals, left_on=["unit", "residual"], right_on=["model", "residual"]
    )
    assert len(merged) == 60


def test_cli_effective_prints_tables_and_exports_baselines(tmp_path: Path, capsys) -> None:
    sim = simulate_transfer(25, 3, delta=0.3, seed=4)
    csv = tmp_path / "runs.csv"
    sim.runs.to_csv(csv, index=False)
    db = tmp_path / "s.duckdb"
    assert main(["ingest", str(csv), "--db", str(db)]) == 0
    capsys.readouterr()
    out_file = tmp_path / "baselines.json"
    args = ["effective", "--db", str(db), "--baseline", "pretrain_data=standard", "--frontier",
            "none", "--bootstrap", "50", "--table", "tests", "--format", "json",
            "--export-baseline", str(out_file)]  # fmt: skip
    assert main(args) == 0
    tests = json.loads(capsys.readouterr().out)
    assert {t["moderator"] for t in tests} >= {"pretrain_data"}
    baselines = read_baselines(out_file)
    assert len(baselines) == 3 and all(b.loss_space == "transformed" for b in baselines)
    assert all(len(b.models) < 25 for b in baselines)  # fitted to the standard models only
    assert main(["effective", "--db", str(db), "--baseline", "oops"]) == 2
    assert "COLUMN=VALUE" in capsys.readouterr().err
    assert main(["effective", "--db", str(tmp_path / "none.duckdb")]) == 2


@pytest.mark.parametrize(
    ("family", "loss_space", "frontier"),
    [("probit", "transformed", "all"), ("logit", "score", "all"), ("logit", "score", "stochastic")],
)
def test_replicate_locations_equal_each_replicate_evaluated_alone(
    family: str, loss_space: str, frontier: str
) -> None:
    from transferscope.transfer.residuals import fit_baseline

    rng = np.random.default_rng(5)
    x = rng.uniform(0.4, 0.9, 40)
    y = special.expit(-0.5 + 1.5 * special.logit(x)) - np.abs(rng.normal(0, 0.03, 40))
    settings = FitSettings.make(
        family=family, frontier=frontier, loss_space=loss_space, bootstrap=30, seed=0
    )
    fitted = fit_baseline(
        x, y, [f"m{i}" for i in range(40)], {"task": "t"}, settings,
        np.random.SeedSequence(2), upstream_metric=None, downstream_metric=None,
    )  # fmt: skip
    assert fitted.result.ok and fitted.thetas.shape[0] >= 25
    at = np.linspace(0.45, 0.85, 7)
    locations = fitted.replicate_locations(at)
    curve = fitted.curve
    p = len(curve.names)
    u = fitted.baseline.to_axis(at)
    for b, theta in enumerate(fitted.thetas):  # the reference: one replicate at a time
        # the curve, less the mean shortfall of the half-normal model the bootstrap refits
        # (E u = sigma_u sqrt(2 / pi)) for the stochastic frontier
        shift = math.sqrt(2.0 / math.pi) * theta[p + 1] if frontier == "stochastic" else 0.0
        expected = curve.evaluate(u, theta[:p]) - shift
        np.testing.assert_allclose(locations[b], expected, rtol=0, atol=1e-12)


def test_moderators_of_a_context_share_the_null_fits_without_changing_a_number() -> None:
    # driver_analysis fits the null model once per set of usable rows; each moderator tested
    # alone (its own null fits) gives the same effects and tests
    from transferscope.transfer.drivers import driver_analysis, moderator_test

    sim = simulate_transfer(40, 4, delta=0.3, model_sd=0.1, noise_sd=0.1, seed=11)
    frame = effective_transfer(
        sim.runs, bootstrap=0, seed=1, frontier=None, moderators=["pretrain_data", "params"]
    ).residuals
    names = ["pretrain_data", "params"]
    effects, tests = driver_analysis(
        frame, names, across="task", level=0.95, min_models=3, reference_levels={}
    )
    alone_effects, alone_tests = [], []
    for name in names:
        moderator = encode_moderator(frame, name, min_models=3)
        rows, test = moderator_test(frame, moderator, across="task", level=0.95)
        alone_effects += rows
        alone_tests.append(test)
    pd.testing.assert_frame_equal(pd.DataFrame(tests), pd.DataFrame(alone_tests))
    pd.testing.assert_frame_equal(pd.DataFrame(effects), pd.DataFrame(alone_effects))
    assert [t["status"] for t in tests] == ["ok", "ok"]
