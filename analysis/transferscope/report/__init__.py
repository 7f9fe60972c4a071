"""Reports: Altair charts, a self-contained HTML page, a Markdown summary, and the demo.

:mod:`~transferscope.report.charts` builds charts from tidy frames,
:mod:`~transferscope.report.html` and :mod:`~transferscope.report.markdown` escape and assemble
text, :mod:`~transferscope.report.build` reads a store, fits what is missing and writes the report
(:func:`build_report`), and :mod:`~transferscope.report.demo` runs the whole pipeline on a
simulated checkpoint ladder (:func:`run_demo`).
"""

from __future__ import annotations

from transferscope.report.build import ReportResult, build_report
from transferscope.report.demo import DemoResult, run_demo
from transferscope.report.frontiers import frontier_result_chart

__all__ = ["DemoResult", "ReportResult", "build_report", "frontier_result_chart", "run_demo"]
