"""``transferscope sources``: what was ingested, with provenance."""

from __future__ import annotations

import argparse

from transferscope.cli._output import add_db_argument, add_format_argument, emit, lock_options
from transferscope.store import open_store

#: Columns left out of the human-readable table (``--format json|csv`` has every column).
_WIDE = ("citation", "sha256")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``sources`` command."""
    p = sub.add_parser(
        "sources",
        help="list the ingested sources with their provenance",
        description=(
            "One row per source: name, title, citation, url, commit, sha256, license, "
            "ingested_at (UTC), n_rows. The table format leaves out citation and sha256; "
            "--format json or csv shows every column."
        ),
    )
    add_db_argument(p)
    add_format_argument(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    with open_store(args.db, read_only=True, **lock_options(args)) as store:
        frame = store.sources()
    if args.format == "table":
        frame = frame.drop(columns=list(_WIDE))
    emit(frame, args.format)
    return 0
