"""transferscope: meta-analysis of pretraining versus downstream results.

Load published result tables and your own runs into DuckDB, fit saturating frontiers of
downstream versus upstream accuracy, extrapolate their plateaus with honest uncertainty, and
rank adaptation methods by how much they depend on pretraining.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
