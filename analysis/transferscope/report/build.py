"""Build the report of a store: a front page, a page per source, ``summary.md`` and chart files.

:func:`build_report` reads the runs and sources of a store, takes the current frontier fits from
it (fitting only the groups whose runs or options changed), and runs the registered sections
(:data:`transferscope.report.sections.SECTIONS`) in page order. It writes

- ``index.html``: the front page: the answers per source and task family, representative
  charts from every source, a searchable and sortable index of every group, the rankings,
  checkpoint ladders and the other sections;
- ``source-N.html``: one page per source with every group's chart as small multiples (drawn as
  they scroll into view; each opens larger), and pages that sections add (e.g. ladders);
- ``summary.md``: the same answers and tables as Markdown;
- ``charts/<name>.png`` and ``charts/<name>.svg``: the front page's charts.

Every page is self-contained: the Vega libraries are inlined and a Content-Security-Policy
forbids any request. Files are named by position, never by user text.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from transferscope._version import __version__
from transferscope.errors import InputError
from transferscope.paths import check_output_folder
from transferscope.records import Record
from transferscope.report import html as H
from transferscope.report.context import Page, ReportContext, ReportOptions
from transferscope.report.markdown import md_escape
from transferscope.report.ranking import RANK_METRICS, choose_entity
from transferscope.report.sections import run_sections
from transferscope.rng import check_resamples, check_seed
from transferscope.store import Store

__all__ = ["DEFAULT_MAX_GROUP_CHARTS", "ReportResult", "build_report", "choose_entity"]

#: Representative frontier charts on the front page (at least one per source with a fit).
DEFAULT_MAX_GROUP_CHARTS = 12
#: Ladder panels (tasks) drawn on the front page by default.
DEFAULT_MAX_LADDER_TASKS = 12
#: Ranking contexts per source that get charts by default.
DEFAULT_MAX_CONTEXTS = 4

QUESTION = (
    "How much does downstream performance depend on pretraining, where does more pretraining "
    "stop paying off, and which adaptation methods lean on it most?"
)


@dataclass(frozen=True, kw_only=True)
class ReportResult(Record):
    """What :func:`build_report` wrote.

    Parameters
    ----------
    out_dir : pathlib.Path
        Folder of the report.
    index_html, summary_md : pathlib.Path
        The front page and the Markdown summary.
    pages : tuple of pathlib.Path
        The other pages (one per source, and any a section adds).
    charts : tuple of pathlib.Path
        Every exported chart file (PNG and SVG).
    n_runs, n_sources, n_groups, n_groups_ok, n_groups_charted, n_fitted_now : int
        Runs and sources in the report; frontier groups (all, fitted with status ``ok``, drawn
        on the pages); fits computed by this build (the others were current in the store).
    n_methods_ranked : int
        Entities in the rankings (summed over contexts).
    seconds : float
        Wall time of the build.
    notes : tuple of str
        Anything the reader of the result should know.
    """

    out_dir: Path
    index_html: Path
    summary_md: Path
    pages: tuple[Path, ...] = ()
    charts: tuple[Path, ...]
    n_runs: int
    n_sources: int
    n_groups: int
    n_groups_ok: int
    n_groups_charted: int
    n_fitted_now: int
    n_methods_ranked: int
    seconds: float
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> pd.DataFrame:
        """Return one row of counts and paths.

        Returns
        -------
        pandas.DataFrame
            Columns ``index_html``, ``summary_md``, ``n_pages``, ``n_charts``, ``n_runs``,
            ``n_sources``, ``n_groups``, ``n_groups_ok``, ``n_groups_charted``,
            ``n_fitted_now``, ``n_methods_ranked``, ``seconds``.
        """
        rec = self.to_record()
        rec["n_charts"] = len(self.charts)
        rec["n_pages"] = len(self.pages) + 1
        cols = [
            "index_html", "summary_md", "n_pages", "n_charts", "n_runs", "n_sources", "n_groups",
            "n_groups_ok", "n_groups_charted", "n_fitted_now", "n_methods_ranked", "seconds",
        ]  # fmt: skip
        return pd.DataFrame([{c: rec[c] for c in cols}])


def _check(options: ReportOptions, out: Path) -> None:
    unknown = [f for f in options.image_formats if f not in ("png", "svg")]
    if unknown:
        raise InputError(f"unknown image format(s) {unknown}; expected png and/or svg")
    if options.rank_metric not in ("auto", *RANK_METRICS):
        raise InputError(
            f"unknown ranking metric {options.rank_metric!r}; expected auto or one of "
            f"{list(RANK_METRICS)}"
        )
    if min(options.max_group_charts, options.max_ladder_tasks, options.max_contexts) < 0:
        raise InputError("the numbers of charts to draw must be >= 0")
    if options.seed is not None:
        check_seed(options.seed)
    check_resamples(options.rank_bootstrap, "rank_bootstrap")
    if options.fit_bootstrap is not None:
        check_resamples(options.fit_bootstrap, "fit_bootstrap")


def _write_page(
    path: Path,
    title: str,
    subtitle: Sequence[str],
    sections: Sequence[H.Section],
    charts: Any,
    nav: Sequence[tuple[str, str]],
) -> None:
    page = H.render_page(
        title,
        subtitle,
        sections,
        charts.figures,
        pages=nav,
        current=path.name,
        templates=charts.templates,
        names=charts.names.names,
    )
    path.write_text(page, encoding="utf-8")


def build_report(
    store: Store,
    out_dir: str | Path,
    *,
    sources: Sequence[str] | None = None,
    tasks: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    family: str | None = None,
    max_group_charts: int = DEFAULT_MAX_GROUP_CHARTS,
    max_ladder_tasks: int = DEFAULT_MAX_LADDER_TASKS,
    max_contexts: int = DEFAULT_MAX_CONTEXTS,
    rank_metric: str = "auto",
    rank_entity: str | None = None,
    rank_bootstrap: int = 1000,
    fit_bootstrap: int | None = None,
    fit_options: Mapping[str, Any] | None = None,
    seed: int | None = None,
    knowledge: Sequence[Any] = (),
    image_formats: Sequence[str] = ("png", "svg"),
    title: str = "transferscope report",
    progress: bool = False,
) -> ReportResult:
    """Write the report of a store to ``out_dir``.

    Parameters
    ----------
    store : Store
        An open store (writable, so that missing fits can be stored; read-only works when all
        fits are current).
    out_dir : str or pathlib.Path
        Folder to write; created if needed; files of an earlier report are overwritten.
    sources, tasks, methods : sequence of str, optional
        Keep only these sources / tasks / methods.
    family : str, optional
        Saturating family to fit and draw; when omitted, the frontier engine's default, or
        ``loss_exp`` for a source whose upstream scores are losses (see
        :func:`transferscope.frontier.source_families`); ``"all"`` draws every family
        side by side.
    max_group_charts : int
        Representative frontier charts on the front page (at least one per source that has a
        fitted group, while the number allows); every group has its chart on its source's page.
    max_ladder_tasks : int
        Ladder panels on the front page.
    max_contexts : int
        Ranking contexts per source that get charts (every context is in the tables).
    rank_metric : {"auto", "gain", "slope", "retention"}
        Dependence metric the methods are ranked on; ``auto`` chooses per source (the gain
        where every pretrained run has a scratch baseline, else the slope; see
        :func:`transferscope.dependence.metrics.default_metric`).
    rank_entity : str, optional
        Column ranked; by default ``method``, or ``model`` when every context has a single
        method (see :func:`transferscope.report.ranking.choose_entity`).
    rank_bootstrap : int
        Bootstrap resamples for ``p_best``.
    fit_bootstrap : int, optional
        Bootstrap resamples of the plateau intervals.
    fit_options : mapping, optional
        Other fit options (fields of :class:`transferscope.frontier.FitSettings`).
    seed : int, optional
        Seed of every resampling (0 when omitted).

    Without ``family``, ``fit_bootstrap``, ``fit_options`` and ``seed``, the report shows for
    each group the most recent current fit in the store, whatever options it was made with
    (``report`` after ``fit`` refits nothing and shows ``fit``'s numbers), and fits the other
    groups with the defaults (a source whose upstream scores are losses with ``loss_exp``);
    with any of them, it shows (and makes) fits with exactly these options.
    knowledge : sequence of KnowledgeComparison
        Interaction comparisons to report besides those stored in the store's table
        ``interactions`` (see :func:`transferscope.knowledge.save_knowledge`); one passed here
        replaces a stored one of the same name.
    image_formats : sequence of {"png", "svg"}
        Files written per front-page chart; empty to skip the exports.
    title : str
        Title of the front page.
    progress : bool
        Show a progress bar of the frontier fits on stderr.

    Returns
    -------
    ReportResult
        Paths written and counts.

    Raises
    ------
    InputError
        When the store holds no runs (after the filters), or for an unknown option.
    """
    start = time.perf_counter()
    out = Path(out_dir)
    options = ReportOptions(
        sources=tuple(sources or ()),
        tasks=tuple(tasks or ()),
        methods=tuple(methods or ()),
        family=family,
        max_group_charts=max_group_charts,
        max_ladder_tasks=max_ladder_tasks,
        max_contexts=max_contexts,
        rank_metric=rank_metric,
        rank_entity=rank_entity,
        rank_bootstrap=rank_bootstrap,
        fit_bootstrap=fit_bootstrap,
        fit_options=dict(fit_options or {}),
        seed=seed,
        knowledge=tuple(knowledge),
        image_formats=tuple(image_formats),
        title=title,
        progress=progress,
    )
    _check(options, out)
    from transferscope.report.context import PageCharts

    runs = store.runs(**options.filters)
    if runs.empty:
        what = " matching the filters" if options.filters else ""
        raise InputError(f"no runs{what} in the store; ingest a table first", file=store.label)
    check_output_folder(out)  # creates it; refuses a file, the root, or a place not writable
    ctx = ReportContext(
        store=store,
        runs=runs,
        sources=store.sources(),
        options=options,
        out_dir=out,
        charts=PageCharts(out, options.image_formats),
    )
    outputs = run_sections(ctx)

    sections = [s for o in outputs for s in o.sections]
    pages: list[Page] = [p for o in outputs for p in o.pages]
    nav = [("index.html", "Front page"), *((p.file, p.label) for p in pages)]
    generated = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
    stamp = f"Store: {store.label} · generated {generated} by transferscope {__version__}"
    index = out / "index.html"
    _write_page(index, title, [QUESTION, stamp], sections, ctx.charts, nav)
    written = []
    for page in pages:
        path = out / page.file
        _write_page(path, page.title, [*page.subtitle, stamp], page.sections, page.charts, nav)
        written.append(path)

    md = [f"# {md_escape(title)}\n", f"{md_escape(QUESTION)}\n"]
    md += [o.markdown for o in outputs if o.markdown]
    md.append(
        "The full report with every group's chart is in index.html and the source pages; the "
        "front page's charts are in charts/ as PNG and SVG.\n"
    )
    summary = out / "summary.md"
    summary.write_text("\n".join(md), encoding="utf-8")

    groups = ctx.groups if "groups" in ctx.__dict__ else None
    n_groups = len(groups.table) if groups is not None else 0
    n_ok = int((groups.table["status"] == "ok").sum()) if groups is not None else 0
    n_now = ctx.fits[1] if "fits" in ctx.__dict__ else 0
    n_ranked = ctx.rankings.n_ranked if "rankings" in ctx.__dict__ else 0
    files = [*ctx.charts.files, *(f for p in pages for f in p.charts.files)]
    return ReportResult(
        out_dir=out,
        index_html=index,
        summary_md=summary,
        pages=tuple(written),
        charts=tuple(files),
        n_runs=len(runs),
        n_sources=int(runs["source"].nunique()),
        n_groups=n_groups,
        n_groups_ok=n_ok,
        n_groups_charted=sum(
            1
            for p in pages
            for f in p.charts.figures
            if f.template in ("frontier-small", "scores-small")
        ),
        n_fitted_now=n_now,
        n_methods_ranked=n_ranked,
        seconds=time.perf_counter() - start,
        notes=tuple(n for o in outputs for n in o.notes) + tuple(ctx.notes),
    )
