"""The sections of a report, in page order: the one place where a section is plugged in.

A section is a function in its own module that takes the :class:`ReportContext` and returns a
:class:`SectionOutput` (or None when it has nothing to show, e.g. no checkpoint ladder in the
runs). Adding a section is writing that module and adding one :class:`SectionSpec` line to
:data:`SECTIONS`; :func:`transferscope.report.build.build_report` runs them in this order and
assembles the front page, the extra pages and the Markdown summary from their outputs. A
section written against the older signature ``f(runs, add) -> (Section, markdown) | None``
(``add(name, chart, caption) -> Figure``) is registered with ``takes="runs"``.

Modules are imported only when the report is built, so that importing the report package
stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from transferscope.report import html as H
from transferscope.report.context import Page, ReportContext


@dataclass(frozen=True)
class SectionOutput:
    """What a section contributes.

    Parameters
    ----------
    sections : tuple of Section
        Front-page sections, in order.
    markdown : str
        Its part of ``summary.md``.
    pages : tuple of Page
        Pages of its own (e.g. one per source).
    notes : tuple of str
        Anything the caller should be told (collected into the build's result).
    """

    sections: tuple[H.Section, ...] = ()
    markdown: str = ""
    pages: tuple[Page, ...] = ()
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class SectionSpec:
    """One registered section.

    Parameters
    ----------
    name : str
        Its name (for errors and tests).
    module : str
        Module that defines it.
    function : str
        The builder's name in that module.
    takes : {"context", "runs"}
        ``"context"``: ``f(ctx) -> SectionOutput | None``; ``"runs"``:
        ``f(runs, add) -> (Section, markdown) | None``.
    """

    name: str
    module: str
    function: str
    takes: Literal["context", "runs"] = "context"

    def run(self, ctx: ReportContext) -> SectionOutput | None:
        """Build the section.

        Parameters
        ----------
        ctx : ReportContext
            The report being built.

        Returns
        -------
        SectionOutput or None
            Its contribution, or None when it has nothing to show.
        """
        builder = getattr(importlib.import_module(self.module), self.function)
        if self.takes == "runs":
            out: Any = builder(ctx.runs, ctx.charts.add)
            if out is None:
                return None
            section, markdown = out
            return SectionOutput(sections=(section,), markdown=markdown)
        result: SectionOutput | None = builder(ctx)
        return result


_R = "transferscope.report."

#: The report's sections in page order.
SECTIONS: tuple[SectionSpec, ...] = (
    SectionSpec("answers", _R + "answers", "answers_section"),
    SectionSpec("representative", _R + "group_pages", "representative_section"),
    SectionSpec("groups", _R + "group_pages", "group_index_section"),
    SectionSpec("ranking", _R + "ranking", "ranking_section"),
    SectionSpec("effective-transfer", _R + "transfer", "effective_transfer_section"),
    SectionSpec("ladders", _R + "ladders", "ladder_section"),
    SectionSpec("theory", _R + "theory", "theory_section", "runs"),
    SectionSpec("knowledge-ladder", _R + "knowledge_ladder", "knowledge_ladder_section", "runs"),
    SectionSpec("knowledge", _R + "knowledge", "knowledge_section"),
    SectionSpec("sources", _R + "sources", "sources_section"),
)


def run_sections(
    ctx: ReportContext, specs: Sequence[SectionSpec] | None = None
) -> list[SectionOutput]:
    """Build every registered section in order (those with nothing to show are left out).

    Parameters
    ----------
    ctx : ReportContext
        The report being built.
    specs : sequence of SectionSpec, optional
        The sections (default: :data:`SECTIONS` as it is when called).

    Returns
    -------
    list of SectionOutput
        Their outputs, in page order.
    """
    outputs = []
    for spec in SECTIONS if specs is None else specs:
        out = spec.run(ctx)
        if out is not None:
            outputs.append(out)
    return outputs
