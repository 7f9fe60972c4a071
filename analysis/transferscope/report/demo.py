"""The demo: simulate a checkpoint ladder, ingest it into a fresh store, fit, rank and report.

Needs no download: the runs come from the diagonal-linear-network simulator
(:func:`transferscope.dln.simulate_ladder`), whose methods have a known ordering by dependence on
pretraining, and the interaction section from the knowledge module's worked example.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from transferscope.paths import check_output_folder
from transferscope.records import Record
from transferscope.report.build import ReportResult, build_report
from transferscope.rng import check_resamples, check_seed
from transferscope.schema import SourceInfo
from transferscope.store import open_store

#: Name of the demo's source in its store.
DEMO_SOURCE = "dln_demo"
#: File name of the demo's store inside the output folder.
DEMO_DB = "demo.duckdb"


@dataclass(frozen=True, kw_only=True)
class DemoResult(Record):
    """What :func:`run_demo` did.

    Parameters
    ----------
    report : ReportResult
        The report written.
    db_path : pathlib.Path
        The fresh store holding the simulated runs and the fits.
    n_runs : int
        Simulated runs ingested.
    seconds_simulate, seconds_report, seconds_total : float
        Wall times of the simulation, of the report (fits, ranking and files included) and of
        the whole demo.
    """

    report: ReportResult
    db_path: Path
    n_runs: int
    seconds_simulate: float
    seconds_report: float
    seconds_total: float

    def summary(self) -> pd.DataFrame:
        """Return one row: where the report is, runs, groups and wall times.

        Returns
        -------
        pandas.DataFrame
            Columns ``index_html``, ``db_path``, ``n_runs``, ``n_groups``, ``n_groups_ok``,
            ``seconds_simulate``, ``seconds_report``, ``seconds_total``.
        """
        return pd.DataFrame(
            [
                {
                    "index_html": str(self.report.index_html),
                    "db_path": str(self.db_path),
                    "n_runs": self.n_runs,
                    "n_groups": self.report.n_groups,
                    "n_groups_ok": self.report.n_groups_ok,
                    "seconds_simulate": self.seconds_simulate,
                    "seconds_report": self.seconds_report,
                    "seconds_total": self.seconds_total,
                }
            ]
        )


def _fresh(db: Path) -> None:
    for path in (db, db.with_name(db.name + ".wal")):
        if path.exists():
            path.unlink()


def run_demo(
    out_dir: str | Path,
    *,
    checkpoints: int = 6,
    tasks: int = 4,
    seeds: int = 3,
    dim: int = 100,
    seed: int = 0,
    fit_bootstrap: int | None = None,
    rank_bootstrap: int = 1000,
    knowledge: bool = True,
    image_formats: tuple[str, ...] = ("png", "svg"),
    progress: bool = False,
) -> DemoResult:
    """Simulate a ladder, ingest it into a fresh store ``out_dir/demo.duckdb`` and report on it.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Folder of the report and of the demo's store (a store left there by an earlier demo is
        replaced).
    checkpoints, tasks, seeds, dim : int
        Size of the simulated ladder (see :func:`transferscope.dln.simulate_ladder`).
    seed : int
        Seed of the simulation, the fits' bootstrap and the ranking's bootstrap.
    fit_bootstrap : int, optional
        Bootstrap resamples of the plateau intervals, used as given (by default the frontier
        engine's, grown until the interval's ends are stable).
    rank_bootstrap : int
        Bootstrap resamples of tasks in the ranking.
    knowledge : bool
        Add the interaction analysis of the knowledge module's worked example.
    image_formats : tuple of str
        Chart files to write (``"png"``, ``"svg"``).
    progress : bool
        Show progress bars on stderr.

    Returns
    -------
    DemoResult
        The report, the store's path, and wall times.
    """
    from transferscope.dln import simulate_ladder
    from transferscope.knowledge import save_knowledge
    from transferscope.knowledge.example import run_example

    start = time.perf_counter()
    check_seed(seed)
    check_resamples(rank_bootstrap, "rank_bootstrap")
    if fit_bootstrap is not None:
        check_resamples(fit_bootstrap, "fit_bootstrap")
    out = check_output_folder(out_dir)
    runs = simulate_ladder(checkpoints=checkpoints, tasks=tasks, seeds=seeds, dim=dim, seed=seed)
    t_sim = time.perf_counter() - start
    comparisons = []
    if knowledge:
        comparisons.append(run_example(seed=seed).comparison)
    db = out / DEMO_DB
    _fresh(db)
    info = SourceInfo(
        name=DEMO_SOURCE,
        title=(
            f"Simulated checkpoint ladder: diagonal linear networks, D = {dim}, "
            f"{checkpoints} checkpoints, {seeds} seeds (seed {seed})"
        ),
        citation=(
            "Simulated by transferscope.dln.simulate_ladder after Anguita et al. (2026), "
            '"A Theory of How Pretraining Shapes Inductive Bias in Fine-Tuning"'
        ),
        license="Apache-2.0",
    )
    t_rep = time.perf_counter()
    with open_store(db) as store:
        store.ingest(runs, info)
        for comparison in comparisons:  # kept in the store; the report reads it from there
            save_knowledge(store, comparison)
        report = build_report(
            store,
            out,
            fit_bootstrap=fit_bootstrap,
            # a given number of resamples is used as it is (not grown for stable ends)
            fit_options=None if fit_bootstrap is None else {"bootstrap_max": fit_bootstrap},
            rank_bootstrap=rank_bootstrap,
            seed=seed,
            image_formats=image_formats,
            title="transferscope demo: a simulated checkpoint ladder",
            progress=progress,
        )
    end = time.perf_counter()
    return DemoResult(
        report=report,
        db_path=db,
        n_runs=len(runs),
        seconds_simulate=t_sim,
        seconds_report=end - t_rep,
        seconds_total=end - start,
    )
