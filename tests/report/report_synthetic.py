"""A small synthetic checkpoint ladder in the canonical schema, with hostile names (test data)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_TASK = HOSTILE
HOSTILE_METHOD = "<script>alert('m')</script>"
HOSTILE_MODEL = '"><svg onload=alert(2)>'
HOSTILE_SOURCE_TITLE = "<b onmouseover=alert(3)>bold</b>"


def synthetic_ladder(
    tasks: tuple[str, ...] = ("cifar_like", HOSTILE_TASK, "pets_like"),
    methods: tuple[str, ...] = ("full_ft", "linear_probe", HOSTILE_METHOD),
    checkpoints: int = 8,
    seeds: int = 3,
    seed: int = 0,
) -> pd.DataFrame:
    """Downstream = plateau - k (1 - upstream)^alpha - noise, per method; scratch rows per method.

    Methods differ in how steeply they follow the checkpoint (``full_ft`` most steeply).
    """
    rng = np.random.default_rng(seed)
    upstream = np.linspace(0.55, 0.9, checkpoints)
    models = [f"ckpt_{i}" for i in range(checkpoints)]
    models[-1] = HOSTILE_MODEL
    rows = []
    for t_i, task in enumerate(tasks):
        plateau = 0.85 - 0.05 * t_i
        for m_i, method in enumerate(methods):
            k = 0.9 - 0.25 * m_i
            for s in range(seeds):
                for c, model in enumerate(models):
                    y = plateau - k * (1 - upstream[c]) ** 1.3 - abs(rng.normal(0, 0.01))
                    rows.append(
                        {
                            "model": model, "pretrained": True, "upstream_task": "imagenet-1k",
                            "upstream_metric": "top1", "upstream_score": float(upstream[c]),
                            "task": task, "method": method, "shots": pd.NA, "seed": s,
                            "downstream_metric": "accuracy", "downstream_score": float(y),
                        }
                    )  # fmt: skip
                rows.append(
                    {
                        "model": "scratch", "pretrained": False, "upstream_task": None,
                        "upstream_metric": None, "upstream_score": np.nan, "task": task,
                        "method": method, "shots": pd.NA, "seed": s,
                        "downstream_metric": "accuracy",
                        "downstream_score": float(plateau - 0.45 + rng.normal(0, 0.01)),
                    }
                )  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["shots"] = frame["shots"].astype("Int64")
    frame["seed"] = frame["seed"].astype("Int64")
    return frame


def too_few_group() -> pd.DataFrame:
    """Two runs of one more task: a group that cannot be fitted (too few points)."""
    return pd.DataFrame(
        {
            "model": ["a", "b"], "pretrained": [True, True], "upstream_task": "imagenet-1k",
            "upstream_metric": "top1", "upstream_score": [0.6, 0.7], "task": "tiny_task",
            "method": "full_ft", "shots": pd.array([pd.NA, pd.NA], dtype="Int64"),
            "seed": pd.array([0, 0], dtype="Int64"), "downstream_metric": "accuracy",
            "downstream_score": [0.5, 0.55],
        }
    )  # fmt: skip


def step_ladder(seed: int = 0) -> pd.DataFrame:
    """Checkpoints along training steps, as Pythia publishes them: 2 sizes x 2 data sets.

    ``zero_shot`` has the step-0 model (pretrained = false), ``five_shot`` starts at step 10.
    """
    rng = np.random.default_rng(seed)
    rows = []
    steps = (0, 1, 10, 100, 1000, 10000)
    for size, params, gain in (("toy-small", 10**6, 0.2), ("toy-large", 10**8, 0.35)):
        for data in ("pile", "pile-deduped"):
            for step in steps:
                up = 0.0 if step == 0 else min(0.9, 0.1 * np.log10(step + 1) + gain / 2)
                for task, base in (("quiz-a", 0.25), ("quiz-b", 0.3), ("trivia", 0.2)):
                    for method, shots in (("zero_shot", 0), ("five_shot", 5)):
                        if method == "five_shot" and step < 10:
                            continue
                        rows.append(
                            {
                                "model": f"{size}-{data}@step{step}", "pretrained": step > 0,
                                "upstream_task": "lambada", "upstream_metric": "acc",
                                "upstream_score": up, "task": task, "method": method,
                                "shots": shots, "seed": pd.NA, "downstream_metric": "acc",
                                "downstream_score": base + gain * up + rng.normal(0, 0.005),
                                "architecture": size, "params": params, "pretrain_data": data,
                                "pretrain_steps": step,
                            }
                        )  # fmt: skip
    frame = pd.DataFrame(rows)
    for c in ("shots", "seed", "pretrain_steps", "params"):
        frame[c] = frame[c].astype("Int64")
    return frame


def extra_section(ctx: Any) -> Any:
    """A section registered by a test: one paragraph naming the number of runs."""
    from transferscope.report import html as H
    from transferscope.report.sections import SectionOutput

    text = f"A plugged-in section saw {len(ctx.runs)} runs."
    return SectionOutput(
        sections=(H.Section("extra", "Plugged in", (H.paragraph(text),)),),
        markdown=f"## Plugged in\n\n{text}\n",
    )


def legacy_section(runs: pd.DataFrame, add: Any) -> Any:
    """A section in the older ``(runs, add) -> (Section, markdown)`` form."""
    import altair as alt

    from transferscope.report import html as H

    fig = add("legacy", alt.Chart(runs.head(3)).mark_point().encode(x="upstream_score:Q"), "3 runs")
    return H.Section("legacy", "Legacy", (fig.html(),)), "## Legacy\n"
