"""Open report pages in Debian's headless Chromium through playwright (test helper).

The browser tests run whenever ``/usr/bin/chromium`` exists and fail under ``CI=true`` when it
does not. :func:`browse` opens pages one after the other in one browser and hands each to a
callback with a record of what the page did (console messages, errors, requests, dialogs).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}

#: JavaScript: every chart container's state and size.
CHART_STATES = """els => els.map(e => {
    const g = e.querySelector('svg, canvas');
    const r = g ? g.getBoundingClientRect() : {width: 0, height: 0};
    return {id: e.id || e.getAttribute('data-chart'), state: e.getAttribute('data-rendered'),
            width: r.width, height: r.height,
            marks: e.querySelectorAll('path, circle, line, rect, text').length};
})"""

#: JavaScript: tables whose right edge passes the viewport, and the page's own overflow.
OVERFLOW = """() => {
    const width = document.documentElement.clientWidth;
    const wide = [...document.querySelectorAll('table')]
        .filter(t => t.getBoundingClientRect().right > width + 1)
        .map(t => t.id || t.querySelector('th')?.textContent || '?');
    return {tables: wide, page: document.documentElement.scrollWidth - width};
}"""


def need_chromium() -> None:
    """Skip without Chromium, fail under ``CI=true``."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{CHROMIUM} is missing; CI=true requires it (make browser installs it)")
    pytest.skip(f"{CHROMIUM} is missing")


@contextmanager
def browser() -> Iterator[Any]:
    """A persistent Chromium context (a fresh profile), closed at the end."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        try:
            yield context
        finally:
            context.close()


def open_page(context: Any, path: Path, seen: dict[str, Any]) -> Any:
    """Open a report page, recording console messages, errors, requests and dialogs in ``seen``.

    Waits until every chart drawn on load (not the lazy ones) has finished.
    """
    page = context.new_page()
    page.on("console", lambda m: seen.setdefault("console", []).append((m.type, m.text)))
    page.on("pageerror", lambda e: seen.setdefault("errors", []).append(str(e)))
    page.on("request", lambda r: seen.setdefault("requests", []).append(r.url))
    page.on("dialog", lambda d: (seen.setdefault("dialogs", []).append(d.message), d.dismiss()))
    page.goto(path.resolve().as_uri(), wait_until="load")
    wait_for_charts(page, lazy=False)
    return page


def wait_for_charts(page: Any, *, lazy: bool, timeout: int = 60_000) -> None:
    """Wait until the charts are drawn (every one with ``lazy``, after asking for them)."""
    if lazy:
        page.evaluate("() => window.transferscope.renderAll()")
        selector = "div.vega[data-chart]"
    else:
        selector = "div.vega[data-chart]:not([data-lazy])"
    page.wait_for_function(
        f"() => [...document.querySelectorAll({selector!r})]"
        ".every(e => e.hasAttribute('data-rendered'))",
        timeout=timeout,
    )


def chart_states(page: Any) -> list[dict[str, Any]]:
    """State, size and number of marks of every chart container of the page."""
    return list(page.eval_on_selector_all("div.vega[data-chart]", CHART_STATES))


def overflow(page: Any) -> dict[str, Any]:
    """Tables that pass the right edge of the viewport, and how far the page does."""
    return dict(page.evaluate(OVERFLOW))


def browse(paths: Sequence[Path], check: Callable[[Path, Any, dict[str, Any]], None]) -> None:
    """Open each page in one browser and call ``check(path, page, seen)`` on it."""
    with browser() as context:
        for path in paths:
            seen: dict[str, Any] = {}
            page = open_page(context, path, seen)
            check(path, page, seen)
            page.close()
