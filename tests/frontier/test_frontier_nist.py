"""The curve engine against NIST StRD certified values (nonlinear regression datasets).

Each ``.dat`` file gives two starting points, the certified parameters with their standard
deviations, and the data; they are parsed here from ../shared/reference/nist.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import lmfit
import numpy as np
import pytest

from transferscope.frontier import kernels
from transferscope.frontier.estimators import fit_least_squares
from transferscope.frontier.families import Family

MODELS: dict[str, Any] = {
    "Misra1a": lambda x, b1, b2: b1 * (1 - np.exp(-b2 * x)),
    "Misra1b": lambda x, b1, b2: b1 * (1 - (1 + b2 * x / 2) ** (-2)),
    "Misra1c": lambda x, b1, b2: b1 * (1 - (1 + 2 * b2 * x) ** (-0.5)),
    "Misra1d": lambda x, b1, b2: b1 * b2 * x * ((1 + b2 * x) ** (-1)),
    "BoxBOD": lambda x, b1, b2: b1 * (1 - np.exp(-b2 * x)),
    "Rat42": lambda x, b1, b2, b3: b1 / (1 + np.exp(b2 - b3 * x)),
    "Rat43": lambda x, b1, b2, b3, b4: b1 / ((1 + np.exp(b2 - b3 * x)) ** (1 / b4)),
    "MGH09": lambda x, b1, b2, b3, b4: b1 * (x**2 + x * b2) / (x**2 + x * b3 + b4),
    "Eckerle4": lambda x, b1, b2, b3: (b1 / b2) * np.exp(-0.5 * ((x - b3) / b2) ** 2),
}
#: The five the issue names, and those that also pass (MGH09 from start 1 finds a local minimum).
REQUIRED = ("Misra1a", "Misra1b", "BoxBOD", "Rat42", "Rat43")
ALSO = ("Misra1c", "Misra1d", "Eckerle4")


def parse(path: Path) -> dict[str, Any]:
    """Starting values (2 columns), certified values and standard deviations, x and y."""
    lines = path.read_text().splitlines()
    start, certified, sd = [], [], []
    for line in lines:
        m = re.match(r"\s*b\d+\s*=\s*(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$", line)
        if m:
            start.append((float(m[1]), float(m[2])))
            certified.append(float(m[3]))
            sd.append(float(m[4]))
    data_at = max(i for i, line in enumerate(lines) if re.match(r"\s*Data:\s+y\s+x", line))
    data = np.array(
        [[float(v) for v in line.split()] for line in lines[data_at + 1 :] if line.strip()]
    )
    return {
        "start": np.array(start),
        "certified": np.array(certified),
        "sd": np.array(sd),
        "x": data[:, 1],
        "y": data[:, 0],
    }


@pytest.fixture(scope="module")
def nist(shared_reference: Path) -> dict[str, dict[str, Any]]:
    return {name: parse(shared_reference / "nist" / f"{name}.dat") for name in MODELS}


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


@pytest.mark.parametrize("name", REQUIRED + ALSO)
@pytest.mark.parametrize("start", [0, 1])
def test_engine_reaches_certified_values(nist: dict[str, Any], name: str, start: int) -> None:
    case = nist[name]
    model = lmfit.Model(MODELS[name])
    p = len(case["certified"])
    values = {f"b{i + 1}": case["start"][i, start] for i in range(p)}
    fit = fit_least_squares(model, case["x"], case["y"], values)
    assert fit.converged
    # 6 significant digits: relative error below 5e-7 (the engine reaches about 1e-7)
    assert _relative(fit.values, case["certified"]) < 5e-7
    # certified standard deviations: relative error below 1e-5 (Jacobian by central differences)
    assert _relative(fit.stderr, case["sd"]) < 1e-5


def _family(name: str, p: int) -> Family:
    func = MODELS[name]

    class Nist(Family):
        family_name = "nist"
        bounds = {f"b{i + 1}": (-np.inf, np.inf) for i in range(p)}  # noqa: RUF012
        curve = staticmethod(func)

        def initial(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
            raise NotImplementedError

    return Nist()


@pytest.mark.parametrize("name", REQUIRED + ALSO)
def test_batched_solver_reaches_certified_values(nist: dict[str, Any], name: str) -> None:
    case = nist[name]
    p = len(case["certified"])
    family = _family(name, p)
    x, y = case["x"][None, :], case["y"][None, :]
    problem = kernels.LeastSquares(family, x, y, np.ones_like(x))
    # both starting points as two rows of one batch; finite-difference Jacobian
    result = kernels.solve(problem, case["start"].T.copy(), max_iter=2000, ftol=1e-15, xtol=1e-13)
    rows = [0, 1]
    if name == "BoxBOD":
        # From start 1 (b1 = b2 = 1) plain Levenberg-Marquardt runs to b2 -> infinity, where the
        # curve is the constant mean (also MINPACK's lmdif does); lmfit's trust-region engine
        # above gets there. Only start 2 is checked for the batched solver.
        rows = [1]
    assert result.converged[rows].all()
    for r in rows:
        # 6 significant digits
        assert _relative(result.theta[r], case["certified"]) < 5e-7
