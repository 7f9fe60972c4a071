"""The README's table of the public API lists every export of ``transferscope`` with its call form.

The call form is made from :func:`inspect.signature` (names and defaults of the positional
parameters, ``*`` before the keyword-only ones, which are listed by name), so a changed
signature or a new export fails here until the README says the same. Print the table with
``.venv/bin/python tests/test_readme_api.py``.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import transferscope

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- api-table start -->", "<!-- api-table end -->"


def call_form(name: str) -> str:
    """``name(a, b=1, *, c, d)``: positional names with (short) defaults, keyword-only names."""
    obj = getattr(transferscope, name)
    sig = inspect.signature(obj)
    parts: list[str] = []
    star = False
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            parts.append(f"*{p.name}")
            star = True
        elif p.kind is p.VAR_KEYWORD:
            parts.append(f"**{p.name}")
        elif p.kind is p.KEYWORD_ONLY:
            if not star:
                parts.append("*")
                star = True
            parts.append(p.name)
        elif p.default is inspect.Parameter.empty:
            parts.append(p.name)
        else:
            default = repr(p.default)
            parts.append(f"{p.name}={default if len(default) <= 24 else '...'}")
    return f"{name}({', '.join(parts)})"


def summary(name: str) -> str:
    """First line of the export's docstring."""
    doc = inspect.getdoc(getattr(transferscope, name)) or ""
    return doc.splitlines()[0].strip() if doc else ""


def api_table() -> str:
    """The README's table, from the code."""
    lines = ["| call | what it does |", "|---|---|"]
    for name in sorted(n for n in transferscope.__all__ if n != "__version__"):
        text = summary(name).replace("|", "\\|")
        lines.append(f"| `{call_form(name)}` | {text} |")
    return "\n".join(lines)


def readme_table() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(re.escape(START) + r"\n(.*?)\n" + re.escape(END), text, flags=re.S)
    assert match, f"README.md has no table between {START} and {END}"
    return match.group(1).strip()


def test_readme_lists_every_export_with_its_signature() -> None:
    expected = api_table().splitlines()
    found = readme_table().splitlines()
    missing = [line for line in expected if line not in found]
    stale = [line for line in found if line not in expected]
    assert not missing and not stale, (
        "README.md's API table differs from the code (print it with "
        f"`.venv/bin/python tests/test_readme_api.py`); missing: {missing}; stale: {stale}"
    )


def test_every_export_has_a_docstring_summary() -> None:
    assert all(summary(n) for n in transferscope.__all__ if n != "__version__")


if __name__ == "__main__":
    print(api_table())
