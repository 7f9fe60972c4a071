"""Knowledge along a ladder: tidy measurements from hparams, profiles, correlations."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from transferscope.knowledge import knowledge_correlation, knowledge_profile, ladder_knowledge


def _runs(noise: float, seeds: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(seeds):
        for c in range(6):
            share = 0.3 + 0.1 * c + noise * rng.standard_normal()
            acc = 0.5 + 0.05 * c + noise * rng.standard_normal()
            hp = {"lr": 0.1, "knowledge_preserved_share_of_p": share, "knowledge_tau": 0.05}
            rows.append(
                {"model": f"Ap{c + 1}", "method": "full_ft", "task": "t", "seed": seed,
                 "upstream_score": 0.5 + 0.08 * c, "downstream_score": acc,
                 "hparams": json.dumps(hp)}
            )  # fmt: skip
    rows.append({"model": "scratch", "method": "full_ft", "task": "t", "seed": 0,
                 "upstream_score": np.nan, "downstream_score": 0.4, "hparams": "{}"})  # fmt: skip
    return pd.DataFrame(rows)


def test_measurements_come_out_of_hparams_without_settings() -> None:
    table = ladder_knowledge(_runs(0.01))
    assert len(table) == 30 and "preserved_share_of_p" in table and "tau" not in table
    assert "lr" not in table


def test_correlation_along_the_ladder_is_recovered_with_an_interval() -> None:
    corr = knowledge_correlation(ladder_knowledge(_runs(0.01)), ["preserved_share_of_p"])
    along = corr[corr["scope"] == "along_ladder"].iloc[0]
    # both rise linearly with the checkpoint and the noise is small: r near 1, 5 seeds
    assert along["estimate"] > 0.95 and along["ci_low"] <= along["estimate"] <= along["ci_high"]
    assert along["n_groups"] == 5 and along["status"] == "ok"
    within = corr[corr["scope"] == "within_checkpoint"].iloc[0]
    # within a checkpoint the share and the accuracy are independent noise
    assert within["ci_low"] < 0 < within["ci_high"]


def test_profile_means_and_intervals_per_checkpoint() -> None:
    prof = knowledge_profile(ladder_knowledge(_runs(0.0)), ["preserved_share_of_p"])
    shares = prof[prof["quantity"] == "preserved_share_of_p"]
    np.testing.assert_allclose(shares["estimate"], 0.3 + 0.1 * np.arange(6), atol=1e-12)
    assert (shares["n_seeds"] == 5).all()
    with pytest.raises(Exception, match="no knowledge measurement"):
        knowledge_profile(ladder_knowledge(_runs(0.0)), ["missing"])
