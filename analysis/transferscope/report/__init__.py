"""Reports: Altair charts, a self-contained HTML page, a Markdown summary, and the demo.

:mod:`~transferscope.report.charts` builds charts from tidy frames,
:mod:`~transferscope.report.html` and :mod:`~transferscope.report.markdown` escape and assemble
text, :mod:`~transferscope.report.build` reads a store, fits what is missing and writes the report,
and :mod:`~transferscope.report.demo` runs the whole pipeline on a simulated checkpoint ladder.
"""
