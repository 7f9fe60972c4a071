"""Report section: where the runs come from (title, address, commit, checksum, license)."""

from __future__ import annotations

from typing import Any

from transferscope.report import html as H
from transferscope.report.markdown import md_table


def _short(value: Any, n: int = 12) -> str:
    return "" if H._missing(value) else str(value)[:n]


def sources_section(ctx: Any) -> Any:
    """Build the sources and provenance section.

    Parameters
    ----------
    ctx : ReportContext
        The report being built.

    Returns
    -------
    SectionOutput
        The section and its Markdown.
    """
    from transferscope.report.sections import SectionOutput

    runs = ctx.runs
    counts = runs.groupby("source", sort=True).agg(
        n_runs_in_report=("source", "size"),
        n_tasks=("task", "nunique"),
        n_methods=("method", "nunique"),
        n_models=("model", "nunique"),
    )
    table = ctx.sources.merge(counts, left_on="name", right_index=True, how="inner")
    pages = dict(zip(ctx.groups.pages["source"], ctx.groups.pages["page"], strict=True))
    table = table.assign(
        source=[H.link(pages[n], str(n)) if n in pages else H.escape(n) for n in table["name"]],
        commit_short=[_short(c) for c in table["commit"]],
        sha_short=[_short(c) for c in table["sha256"]],
    )
    cols = {
        "source": "source",
        "title": "title",
        "n_runs_in_report": "runs",
        "n_tasks": "tasks",
        "n_methods": "methods",
        "n_models": "models",
        "license": "license",
        "url": "published at",
        "commit_short": "commit",
        "sha_short": "sha256",
        "citation": "citation",
    }
    titles = {
        "commit_short": "first 12 characters of the commit the files were read at",
        "sha_short": "first 12 characters of the checksum of the files read",
    }
    body = (
        H.paragraph(
            "Where the runs come from: each source is one ingest, with the address and commit it "
            "was published at and the checksum of the files that were read (shortened here; "
            "transferscope sources prints them in full)."
        ),
        H.table(
            table,
            cols,
            links=("url",),
            raw_html=("source",),
            wide=("title", "citation"),
            titles=titles,
            table_id="sources",
        ),
    )
    md_cols = {
        "name": "source", "title": "title", "n_runs_in_report": "runs in report",
        "n_tasks": "tasks", "n_methods": "methods", "n_models": "models", "license": "license",
        "url": "published at",
    }  # fmt: skip
    md = "## Sources\n\n" + md_table(table, md_cols) + "\n"
    return SectionOutput(sections=(H.Section("sources", "Sources and provenance", body),),
                         markdown=md)  # fmt: skip
