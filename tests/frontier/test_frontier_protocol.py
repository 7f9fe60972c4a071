"""One protocol per extension point: every registered family and estimator through the same checks.

Adding a family or an estimator is one class; these tests run every registered one through the
conformance checks (shapes, bounds, statuses on degenerate groups), check that registration
refuses to replace silently, that a user's family reaches spawned worker processes, and that the
stored-fit fingerprint follows a family's definition, not only its name.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transferscope.errors import InputError
from transferscope.frontier import (
    ESTIMATORS,
    FAMILIES,
    STATUSES,
    Estimator,
    FitSettings,
    family_fingerprint,
    fit_group,
    get_estimator,
    get_family,
    register,
    register_estimator,
)
from transferscope.frontier.estimators import Quantile
from transferscope.frontier.families import Abnar
from transferscope.frontier.fit import group_tasks
from transferscope.frontier.persist import fingerprint
from transferscope.frontier.synthetic import synthetic_runs

ACCURACY_FAMILIES = [n for n, c in FAMILIES.items() if c.upstream == "higher"]


def _group(n: int = 80, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.4, 0.9, n)
    y = get_family("abnar").evaluate(x, [1.0, 1.5, 0.1])
    return x, y - np.abs(rng.normal(0, 0.03, n)) + rng.normal(0, 0.004, n)


@pytest.mark.parametrize("frontier", list(ESTIMATORS))
@pytest.mark.parametrize("family", ACCURACY_FAMILIES)
def test_every_estimator_and_family_fits_inside_its_bounds(family: str, frontier: str) -> None:
    x, y = _group()
    estimator = get_estimator(frontier)
    fam = get_family(family)
    mask = estimator.select(x, y)
    assert mask.shape == x.shape and mask.dtype == bool and mask.any()
    settings = FitSettings(frontier=frontier)
    fit = estimator.fit(fam, x, y, settings)
    names = estimator.param_names(fam, settings)
    assert fit.names == names and fit.values.shape == (len(names),)
    assert np.all(fit.values[: len(fam.names)] >= fam.lower)
    assert np.all(fit.values[: len(fam.names)] <= fam.upper)
    result = fit_group(
        x, y, family, frontier=frontier, bootstrap=25, bootstrap_max=25, fallback="none", seed=1
    )
    assert result.status in ("ok", "did_not_converge", "too_few_points")
    assert set(result.params) == set(names)
    if result.ok:
        low, high = result.plateau_ci_low, result.plateau_ci_high
        assert np.isnan(low) or low <= high
        typical = estimator.location(fam, fit, FitSettings(frontier=frontier), x)
        assert typical.shape == x.shape and np.isfinite(typical).all()


@pytest.mark.parametrize("frontier", list(ESTIMATORS))
def test_degenerate_groups_get_a_status_from_every_estimator(frontier: str) -> None:
    x, y = _group(40)
    rng = np.random.default_rng(4)
    two_x = np.repeat([0.6, 0.8], 20)  # two distinct upstream scores
    cases = {
        "too_few_points": [(x[:2], y[:2], ""), (two_x, y, "2 distinct upstream scores")],
        "degenerate": [
            (np.full(40, 0.6), y, "same upstream score"),
            # a relation that falls: no rising frontier describes it
            (x, 0.95 - 0.8 * (x - 0.4) + rng.normal(0, 0.01, 40), "falls as the upstream"),
        ],
    }
    for status, groups in cases.items():
        for xs, ys, reason in groups:
            for family in ACCURACY_FAMILIES:
                result = fit_group(xs, ys, family, frontier=frontier, bootstrap=10)
                assert result.status == status, (frontier, family, status, result.message)
                assert reason in result.message and result.message
                assert np.isnan(result.plateau) and np.isnan(result.plateau_ci_low)


def test_a_plateau_fixed_by_the_curve_has_no_interval() -> None:
    # power's plateau is 1 by construction: every resample gives 1, which is no interval
    x, y = _group(60)
    result = fit_group(x, y, "power", bootstrap=40, seed=1)
    assert result.ok and result.plateau == 1.0
    assert np.isnan(result.plateau_ci_low) and np.isnan(result.plateau_ci_high)
    assert "no plateau interval: every resample puts the plateau at 1" in result.message
    abnar = fit_group(x, y, "abnar", bootstrap=40, seed=1)
    assert abnar.ok and abnar.plateau_ci_low < abnar.plateau < abnar.plateau_ci_high


@settings(derandomize=True, deadline=None, database=None, max_examples=25)
@given(
    points=st.lists(st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)), min_size=0, max_size=40),
    frontier=st.sampled_from(sorted(ESTIMATORS)),
    family=st.sampled_from(ACCURACY_FAMILIES),
)
def test_any_group_gets_a_status_and_honest_numbers(
    points: list[tuple[float, float]], frontier: str, family: str
) -> None:
    x = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    result = fit_group(x, y, family, frontier=frontier, bootstrap=20, seed=0)
    assert result.status in STATUSES and (result.ok or result.message)
    if result.ok:
        assert 0.0 <= result.plateau <= 1.0
        low, high = result.plateau_ci_low, result.plateau_ci_high
        assert np.isnan(low) == np.isnan(high)
        assert np.isnan(low) or low < high  # an interval, never one of zero width
    else:
        assert np.isnan(result.plateau)


def test_a_new_estimator_is_one_class() -> None:
    class Median(Quantile):
        name = "median_test"

        def fit(self, family, x, y, settings, start=None):  # type: ignore[no-untyped-def]
            return super().fit(family, x, y, settings.replace(tau=0.5), start)

        def resample_problem(self, family, x, y, counts, settings):  # type: ignore[no-untyped-def]
            return super().resample_problem(family, x, y, counts, settings.replace(tau=0.5))

    register_estimator(Median)
    try:
        x, y = _group(120)
        options = {"bootstrap": 40, "bootstrap_max": 40, "seed": 2}
        median = fit_group(x, y, "abnar", frontier="median_test", **options)
        quantile = fit_group(x, y, "abnar", frontier="quantile", tau=0.5, **options)
        assert median.ok and median.plateau == pytest.approx(quantile.plateau, rel=1e-12)
        assert median.plateau_ci_low == pytest.approx(quantile.plateau_ci_low, rel=1e-12)
    finally:
        ESTIMATORS.unregister("median_test")


def test_registering_a_taken_name_is_refused_unless_asked() -> None:
    class OtherAbnar(Abnar):
        family_name = "abnar"

    with pytest.raises(InputError, match="already registered"):
        register(OtherAbnar)
    assert FAMILIES["abnar"] is Abnar
    register(Abnar)  # the same class again is no change
    try:
        register(OtherAbnar, replace=True)
        assert FAMILIES["abnar"] is OtherAbnar and isinstance(get_family("abnar"), OtherAbnar)
    finally:
        register(Abnar, replace=True)
    assert isinstance(get_family("abnar"), Abnar)

    class OtherHull(Estimator):
        name = "hull"

    with pytest.raises(InputError, match="already registered"):
        register_estimator(OtherHull)
    with pytest.raises(InputError, match="subclass of Family"):
        register(int)  # type: ignore[arg-type]


def test_fingerprint_follows_the_family_definition() -> None:
    class Capped(Abnar):
        family_name = "capped_test"

    class CappedLower(Abnar):
        family_name = "capped_test"
        bounds: ClassVar[dict[str, tuple[float, float]]] = {**Abnar.bounds, "e_ir": (0.05, 1.0)}

    class CappedCurve(Abnar):
        family_name = "capped_test"

        @staticmethod
        def curve(x, k, alpha, e_ir):  # type: ignore[no-untyped-def,override]
            return 1.0 - (k * (1.0 - x) ** alpha + e_ir) * 0.5

    prints = {family_fingerprint(c) for c in (Capped, CappedLower, CappedCurve)}
    assert len(prints) == 3
    assert family_fingerprint(Abnar) == family_fingerprint(Abnar)
    runs, _ = synthetic_runs(n_groups=1, seed=3)
    (task,) = list(group_tasks(runs, ["task"]))
    settings = FitSettings(family="capped_test", bootstrap=0)
    seen = set()
    for cls in (Capped, CappedCurve):
        register(cls, replace=True)
        try:
            seen.add(fingerprint(task, settings))
        finally:
            FAMILIES.unregister("capped_test")
    assert len(seen) == 2  # same name, other code: another fingerprint (no stale reuse)


USER_FAMILY = """
import numpy as np
from transferscope.frontier import Family


class Saturating(Family):
    family_name = "saturating_user"
    bounds = {"c": (0.0, 1.0), "k": (0.0, 10.0), "r": (0.01, 50.0)}

    @staticmethod
    def curve(x, c, k, r):
        return c - k * np.exp(-r * x)

    def initial(self, x, y):
        return {"c": float(np.max(y)), "k": 0.5, "r": 3.0}
"""

SPAWN_SCRIPT = """
import multiprocessing
import sys

sys.path.insert(0, sys.argv[1])


def main():
    multiprocessing.set_start_method("spawn", force=True)
    from user_family import Saturating

    from transferscope.frontier import fit_frontiers, register
    from transferscope.frontier.synthetic import synthetic_runs

    register(Saturating)
    runs, _ = synthetic_runs(n_groups=3, seed=4)
    fast = {"bootstrap": 20, "bootstrap_max": 20, "interval": "bootstrap", "seed": 1}
    one = fit_frontiers(runs, "saturating_user", by=["task"], **fast)
    two = fit_frontiers(runs, "saturating_user", by=["task"], n_jobs=2, **fast)
    assert (one["status"] == "ok").all(), one[["status", "message"]]
    assert one.equals(two), (one, two)
    print("ok", len(two))


if __name__ == "__main__":
    main()
"""


def test_user_family_reaches_spawned_workers(tmp_path: Path) -> None:
    (tmp_path / "user_family.py").write_text(textwrap.dedent(USER_FAMILY))
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(SPAWN_SCRIPT))
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok 3"


def test_settings_are_checked_once_and_name_the_option() -> None:
    with pytest.raises(InputError, match="bootstrap must lie in"):
        FitSettings(bootstrap=10**12)
    with pytest.raises(InputError, match="seed must lie in"):
        FitSettings(seed=-1)
    with pytest.raises(InputError, match="ci_level must lie strictly between 0 and 1"):
        FitSettings(ci_level=95)
    with pytest.raises(InputError, match="unknown fit option"):
        FitSettings.make(bootstraps=3)
    with pytest.raises(InputError, match="unknown frontier"):
        fit_group([0.1, 0.2], [0.3, 0.4], frontier="nope")
    settings = FitSettings.make(family=["abnar", "power"], bootstrap=5)
    assert settings.family == ("abnar", "power") and settings.chooses
    assert FitSettings.make(settings, bootstrap=None).bootstrap == 5  # None keeps the base
    record = settings.to_record()
    assert record["family"] == ["abnar", "power"] and record["bootstrap"] == 5
