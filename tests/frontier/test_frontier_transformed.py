"""Accuracy on the line: logit and probit as straight lines on the transformed axes.

References: ``scipy.stats.linregress`` on the transformed points (an independent least-squares
implementation) for the coefficients, their standard errors and R^2; the t interval is
``estimate +/- t(0.975, n - 2) * se``.
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
from transferscope.frontier import (
    Baseline,
    FitSettings,
    baselines_from_fits,
    fit_frontiers,
    fit_group,
    points_checksum,
    read_baselines,
)
from transferscope.frontier.baseline import baseline_from_result
from transferscope.frontier.transformed import TRANSFORM_EPSILON
from transferscope.ingest import load_source


def _line_points(
    n: int, seed: int, a: float = 0.2, b: float = 1.1
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.55, 0.92, n)
    y = special.ndtr(a + b * special.ndtri(x) + rng.normal(0.0, 0.05, n))
    return x, y


@pytest.mark.parametrize(
    ("family", "transform"), [("probit", special.ndtri), ("logit", special.logit)]
)
def test_least_squares_line_matches_linregress(family: str, transform: object) -> None:
    x, y = _line_points(80, seed=3)
    fit = fit_group(x, y, family, frontier="all", loss_space="transformed", bootstrap=0)
    ref = stats.linregress(transform(x), transform(y))  # type: ignore[operator]
    assert fit.status == "ok" and fit.loss_space == "transformed"
    assert fit.params["a"] == pytest.approx(ref.intercept, abs=1e-9)
    assert fit.params["b"] == pytest.approx(ref.slope, abs=1e-9)
    assert fit.stderr["a"] == pytest.approx(ref.intercept_stderr, rel=1e-6)
    assert fit.stderr["b"] == pytest.approx(ref.stderr, rel=1e-6)
    assert fit.r2 == pytest.approx(ref.rvalue**2, abs=1e-12)
    t = stats.t.ppf(0.975, len(x) - 2)
    assert fit.slope_ci_low == pytest.approx(ref.slope - t * ref.stderr, abs=1e-8)
    assert fit.slope_ci_high == pytest.approx(ref.slope + t * ref.stderr, abs=1e-8)
    assert fit.intercept_ci_low == pytest.approx(ref.intercept - t * ref.intercept_stderr, abs=1e-8)
    # a line does not saturate: plateau 1 (b > 0), and no interval pretends otherwise
    assert fit.plateau == 1.0 and math.isnan(fit.plateau_ci_low)
    assert "no plateau interval" in fit.message


def test_score_space_differs_from_the_transformed_line() -> None:
    x, y = _line_points(80, seed=3)
    on_scores = fit_group(x, y, "probit", frontier="all", bootstrap=0)
    on_axes = fit_group(x, y, "probit", frontier="all", bootstrap=0, loss_space="transformed")
    assert on_scores.loss_space == "score" and math.isnan(on_scores.r2)
    # the same curve, fitted by two losses: close, but not the same numbers
    assert on_scores.params["b"] == pytest.approx(on_axes.params["b"], abs=0.1)
    assert on_scores.params["b"] != pytest.approx(on_axes.params["b"], abs=1e-6)


def test_other_estimators_get_bootstrap_intervals_that_contain_the_estimate() -> None:
    x, y = _line_points(150, seed=5)
    for frontier in ("pareto", "quantile"):
        fit = fit_group(
            x, y, "probit", frontier=frontier, loss_space="transformed", bootstrap=200, seed=1
        )
        assert fit.status == "ok" and fit.n_bootstrap == 200
        assert fit.slope_ci_low < fit.params["b"] < fit.slope_ci_high
        assert fit.intercept_ci_low < fit.params["a"] < fit.intercept_ci_high
        assert "bootstrap percentile" in fit.message


def test_the_stochastic_line_bootstraps_and_keeps_its_tail() -> None:
    # the default estimator on transformed axes: the bootstrap refits the half-normal model
    # nested in the two-part fit (it was handed the two-part fit and failed to broadcast), and
    # the tail the likelihood chose reaches the result and the baseline's shift
    rng = np.random.default_rng(11)
    n = 600
    x = rng.uniform(0.55, 0.92, n)
    cluster = rng.random(n) < 0.3
    u = np.where(cluster, np.abs(rng.normal(0.0, 0.02, n)), rng.exponential(0.25, n))
    y = special.ndtr(0.2 + 1.1 * special.ndtri(x) - u + rng.normal(0.0, 0.01, n))
    fit = fit_group(x, y, "probit", loss_space="transformed", bootstrap=100, seed=1)
    assert fit.status == "ok" and fit.frontier == "stochastic" and fit.n_bootstrap == 100
    assert fit.shortfall == "cluster_exponential"
    assert fit.slope_ci_low < fit.params["b"] < fit.slope_ci_high
    p = fit.params
    mean = math.sqrt(2.0 / math.pi) * p["pi_c"] * p["sigma_c"] + (1.0 - p["pi_c"]) * p["sigma_u"]
    base = baseline_from_result(fit, {"task": "t"}, [f"m{i}" for i in range(n)])
    assert base.shift == pytest.approx(mean, rel=1e-12)


def test_a_curve_family_is_refused_with_a_status() -> None:
    x, y = _line_points(40, seed=1)
    fit = fit_group(x, y, "abnar", frontier="all", loss_space="transformed", bootstrap=0)
    assert fit.status == "degenerate" and "straight line" in fit.message


def test_scores_at_zero_or_one_are_clipped_and_counted() -> None:
    x, y = _line_points(40, seed=2)
    y = y.copy()
    y[:2] = [0.0, 1.0]
    fit = fit_group(x, y, "logit", frontier="all", loss_space="transformed", bootstrap=0)
    assert fit.status == "ok"
    assert f"2 score(s) clipped to [{TRANSFORM_EPSILON:g}" in fit.message
    ref = stats.linregress(
        special.logit(x), special.logit(np.clip(y, TRANSFORM_EPSILON, 1 - TRANSFORM_EPSILON))
    )
    assert fit.params["b"] == pytest.approx(ref.slope, abs=1e-9)


def test_settings_refuse_an_unknown_loss_space() -> None:
    from transferscope.errors import InputError

    with pytest.raises(InputError, match="loss_space"):
        FitSettings(loss_space="logit")


def test_baseline_round_trip_and_residuals() -> None:
    x, y = _line_points(60, seed=8)
    runs = pd.DataFrame(
        {
            "model": [f"m{i:02d}" for i in range(60)],
            "task": "t",
            "method": "zero_shot",
            "shots": pd.array([0] * 60, dtype="Int64"),
            "upstream_score": x,
            "downstream_score": y,
        }
    )
    fits = fit_frontiers(runs, "probit", frontier="all", loss_space="transformed", bootstrap=0)
    (baseline,) = baselines_from_fits(fits, runs, by=["task", "method", "shots"])
    assert baseline.models == tuple(sorted(runs["model"]))
    assert baseline.points_sha256 == points_checksum(x[::-1], y[::-1])  # order does not matter
    assert baseline.check(x, y) and not baseline.check(x, y + 1e-12)
    again = Baseline.from_json(baseline.to_json())
    assert again == baseline
    ref = stats.linregress(special.ndtri(x), special.ndtri(y))
    expected = special.ndtri(y) - (ref.intercept + ref.slope * special.ndtri(x))
    np.testing.assert_allclose(again.residuals(x, y), expected, atol=1e-9)
    # least squares residuals sum to zero on the line's axes
    assert abs(float(np.sum(again.residuals(x, y)))) < 1e-9


def test_cli_fit_exports_baselines(tmp_path: Path) -> None:
    x, y = _line_points(30, seed=4)
    csv = tmp_path / "runs.csv"
    pd.DataFrame(
        {
            "model": [f"m{i}" for i in range(30)],
            "upstream_score": x,
            "task": "t",
            "method": "zero_shot",
            "downstream_score": y,
        }
    ).to_csv(csv, index=False)
    db = tmp_path / "s.duckdb"
    assert main(["ingest", str(csv), "--db", str(db)]) == 0
    out = tmp_path / "baselines.json"
    args = ["fit", "--db", str(db), "--family", "probit", "--frontier", "all"]
    args += ["--loss-space", "transformed", "--export-baseline", str(out), "--format", "json"]
    assert main(args) == 0
    (baseline,) = read_baselines(out)
    assert json.loads(out.read_text())[0]["format"] == 1
    ref = stats.linregress(special.ndtri(x), special.ndtri(y))
    assert baseline.slope == pytest.approx(ref.slope, abs=1e-9)
    assert baseline.r2 == pytest.approx(ref.rvalue**2, abs=1e-12)
    assert baseline.check(x, y) and len(baseline.models) == 30


def test_timm_imagenet_v2_accuracy_on_the_line(shared_data: Path) -> None:
    """The published procedure on the published table: probit line of ImageNet-V2 on ImageNet."""
    frame = load_source("timm", from_dir=shared_data).frame
    runs = frame[frame["task"] == "imagenetv2-matched-frequency"]
    fits = fit_frontiers(runs, "probit", frontier="all", loss_space="transformed", bootstrap=0)
    row = fits.iloc[0]
    ref = stats.linregress(
        special.ndtri(runs["upstream_score"]), special.ndtri(runs["downstream_score"])
    )
    assert row["n_points"] == 1556
    assert row["param_b"] == pytest.approx(ref.slope, abs=1e-9)
    assert row["param_a"] == pytest.approx(ref.intercept, abs=1e-9)
    # accuracy on the line: R^2 0.992, slope 0.963 [0.959, 0.968], intercept -0.323
    assert row["r2"] == pytest.approx(0.9919, abs=5e-4)
    assert row["slope_ci_low"] == pytest.approx(0.9592, abs=5e-4)
    assert row["slope_ci_high"] == pytest.approx(0.9678, abs=5e-4)
    assert row["param_a"] == pytest.approx(-0.3229, abs=5e-4)
