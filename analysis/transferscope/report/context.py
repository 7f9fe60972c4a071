"""What every section of a report shares: the runs, the options, pages, and analyses made once.

A :class:`ReportContext` is handed to each section builder (see
:mod:`transferscope.report.sections`). Analyses that several sections show (the frontier fits
and the table of groups, the rankings) are computed on first use and kept, so that the answers
at the top of the page and the detailed sections below them quote the same numbers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd

from transferscope.report import html as H
from transferscope.report.templates import Names, fill
from transferscope.store import Store


@dataclass(frozen=True, kw_only=True)
class ReportOptions:
    """The options of :func:`transferscope.report.build_report` (see its parameters)."""

    sources: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    family: str | None = None
    max_group_charts: int = 12
    max_ladder_tasks: int = 12
    max_contexts: int = 4
    rank_metric: str = "auto"
    rank_entity: str | None = None
    rank_bootstrap: int = 1000
    fit_bootstrap: int | None = None
    fit_options: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    knowledge: tuple[Any, ...] = ()
    image_formats: tuple[str, ...] = ("png", "svg")
    title: str = "transferscope report"
    progress: bool = False

    @property
    def resample_seed(self) -> int:
        """Seed of the report's own draws (the ranking's, samples of points): 0 when not given."""
        return 0 if self.seed is None else self.seed

    @property
    def given_fit_options(self) -> dict[str, Any]:
        """Fit options given (family, bootstrap, seed and ``fit_options``); empty when none."""
        given = {k: v for k, v in self.fit_options.items() if v is not None}
        if self.family is not None:
            given["family"] = self.family
        if self.fit_bootstrap is not None:
            given["bootstrap"] = self.fit_bootstrap
        if self.seed is not None:
            given["seed"] = self.seed
        return given

    @property
    def filters(self) -> dict[str, list[str]]:
        """Filters of the runs, as for :meth:`transferscope.store.Store.runs`."""
        pairs = (("source", self.sources), ("task", self.tasks), ("method", self.methods))
        return {column: list(values) for column, values in pairs if values}


class PageCharts:
    """The charts of one page: their figures, the page's model names and templates, exports.

    Parameters
    ----------
    out_dir : pathlib.Path
        The report's folder (exports go to ``charts/``).
    formats : tuple of str
        Export formats (``"png"``, ``"svg"``); charts added with ``export=False`` are not
        exported.
    prefix : str
        Prefix of exported file names (distinct per page).
    """

    def __init__(self, out_dir: Path, formats: tuple[str, ...], prefix: str = "") -> None:
        self.out_dir = out_dir
        self.formats = formats
        self.prefix = prefix
        self.figures: list[H.Figure] = []
        self.files: list[Path] = []
        self.names = Names()
        self.templates: dict[str, Any] = {}
        self._n = 0

    def _next(self, name: str) -> tuple[str, str]:
        chart_id = f"chart-{self._n:03d}"
        stem = f"{self.prefix}{self._n:03d}-{name}"
        self._n += 1
        return chart_id, stem

    def _export(self, stem: str, spec: dict[str, Any]) -> tuple[str, ...]:
        if not self.formats:
            return ()
        import vl_convert as vlc

        folder = self.out_dir / "charts"
        folder.mkdir(parents=True, exist_ok=True)
        rel: list[str] = []
        svg = vlc.vegalite_to_svg(spec)
        if "svg" in self.formats:
            (folder / f"{stem}.svg").write_text(svg, encoding="utf-8")
            rel.append(f"charts/{stem}.svg")
        if "png" in self.formats:
            (folder / f"{stem}.png").write_bytes(vlc.svg_to_png(svg, scale=2.0))
            rel.append(f"charts/{stem}.png")
        self.files.extend(self.out_dir / r for r in rel)
        return tuple(sorted(rel))

    def add(
        self, name: str, chart: alt.TopLevelMixin, caption: str, *, export: bool = True
    ) -> H.Figure:
        """Add an Altair chart.

        Parameters
        ----------
        name : str
            Part of the exported file names (a literal from our code, never user text).
        chart : altair chart
            The chart.
        caption : str
            What it shows and how to read it.
        export : bool
            Write PNG/SVG files of it.

        Returns
        -------
        Figure
            Place ``figure.html()`` in a section.
        """
        chart_id, stem = self._next(name)
        spec = chart.to_dict()
        files = self._export(stem, spec) if export else ()
        fig = H.Figure(chart_id, spec, caption, files)
        self.figures.append(fig)
        return fig

    def add_payload(
        self,
        name: str,
        template: tuple[str, dict[str, Any]],
        payload: dict[str, Any],
        caption: str,
        *,
        large: tuple[str, dict[str, Any]] | None = None,
        chart_id: str | None = None,
        export: bool = False,
        lazy: bool = False,
    ) -> H.Figure:
        """Add a chart drawn from a template and a payload.

        Parameters
        ----------
        name : str
            Part of the exported file names.
        template : (str, dict)
            The template's name in the page and the template.
        payload : dict
            Its values and datasets.
        caption : str
            What it shows.
        large : (str, dict), optional
            A larger template of the same chart (an ``enlarge`` button opens it).
        chart_id : str, optional
            Element id (default ``chart-NNN``); group cards use the group's id.
        export : bool
            Write PNG/SVG files (filled from the large template when there is one).
        lazy : bool
            Draw only when scrolled into view.

        Returns
        -------
        Figure
            The figure.
        """
        auto_id, stem = self._next(name)
        self.templates.setdefault(template[0], template[1])
        if large is not None:
            self.templates.setdefault(large[0], large[1])
        files: tuple[str, ...] = ()
        if export:
            chosen = large[1] if large is not None else template[1]
            files = self._export(stem, fill(chosen, payload, self.names.names))
        fig = H.Figure(
            chart_id or auto_id,
            None,
            caption,
            files,
            template=template[0],
            large=None if large is None else large[0],
            payload=payload,
            lazy=lazy,
        )
        self.figures.append(fig)
        return fig


@dataclass(frozen=True)
class Page:
    """One HTML file of the report besides the front page.

    Parameters
    ----------
    file : str
        File name (made by our code, e.g. ``source-2.html``).
    label : str
        Its entry in the navigation bar.
    title : str
        Page title.
    subtitle : tuple of str
        Lines under the title.
    sections : tuple of Section
        Its sections.
    charts : PageCharts
        Its charts.
    """

    file: str
    label: str
    title: str
    subtitle: tuple[str, ...]
    sections: tuple[H.Section, ...]
    charts: PageCharts


@dataclass
class ReportContext:
    """Everything a section builder may use.

    Parameters
    ----------
    store : Store
        The store.
    runs : pandas.DataFrame
        The runs in the report (after the filters).
    sources : pandas.DataFrame
        The store's sources.
    options : ReportOptions
        The build's options.
    out_dir : pathlib.Path
        Where the report is written.
    charts : PageCharts
        The front page's charts.
    """

    store: Store
    runs: pd.DataFrame
    sources: pd.DataFrame
    options: ReportOptions
    out_dir: Path
    charts: PageCharts
    notes: list[str] = field(default_factory=list)

    @property
    def filters(self) -> dict[str, Any]:
        """Filters of the runs, as for :meth:`Store.runs`."""
        return dict(self.options.filters)

    def new_page(self, prefix: str) -> PageCharts:
        """Charts of another page (exports named with ``prefix``)."""
        return PageCharts(self.out_dir, self.options.image_formats, prefix)

    @functools.cached_property
    def fits(self) -> tuple[pd.DataFrame, int, tuple[str, ...]]:
        """Current fits, the number fitted by this build, and the group key columns."""
        from transferscope.frontier import source_families
        from transferscope.report.frontiers import current_fits

        o = self.options
        return current_fits(
            self.store,
            self.filters,
            options=o.given_fit_options,
            progress=o.progress,
            families=source_families(self.runs) if o.family is None else None,
        )

    @functools.cached_property
    def groups(self) -> Any:
        """The table of every group (:class:`transferscope.report.groups.GroupIndex`)."""
        from transferscope.report.groups import group_index

        fits, _, by = self.fits
        return group_index(self.runs, fits, by)

    @functools.cached_property
    def rankings(self) -> Any:
        """Rankings per source (:class:`transferscope.report.ranking.Rankings`)."""
        from transferscope.report.ranking import rankings

        return rankings(self)
