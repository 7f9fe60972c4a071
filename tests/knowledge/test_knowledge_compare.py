"""Salient sets, knowledge sets, shares, order profiles and the long records table."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from transferscope.errors import InputError
from transferscope.knowledge import (
    KNOWLEDGE_RECORD_COLUMNS,
    SET_NAMES,
    compare_knowledge,
    knowledge_records,
    salient_mask,
    subset_order,
)


def test_salient_mask_by_hand() -> None:
    # n = 2: subsets (empty, {0}, {1}, {0, 1}); largest non-empty strength 10, tau 0.1 -> 1
    s = np.array([50.0, 10.0, 0.99, 1.0])
    np.testing.assert_array_equal(salient_mask(s, 0.1), [False, True, False, True])
    # the empty subset counts only when asked; then it sets the maximum (50 -> threshold 5)
    np.testing.assert_array_equal(
        salient_mask(s, 0.1, include_empty=True), [True, True, False, False]
    )
    # all-zero strengths: nothing is salient
    np.testing.assert_array_equal(salient_mask(np.zeros(4), 0.5), [False] * 4)
    with pytest.raises(InputError, match="tau"):
        salient_mask(s, 0.0)
    with pytest.raises(InputError, match="non-negative"):
        salient_mask(-s, 0.1)


# n = 3, one input. Subsets by mask: 1={0} 2={1} 3={0,1} 4={2} 5={0,2} 6={1,2} 7={0,1,2}.
# With tau = 0.25:
#   P strengths: {0}:8 {1}:4 {0,1}:2 (2 >= 0.25*8: salient) {2}:1 (not) {0,1,2}:6
#   -> Omega_P = {1, 2, 3, 7}, total strength 8+4+2+6 = 20
#   F strengths: {0}:10 {1}:1 (< 2.5: not) {0,1}:3 {0,2}:5 {0,1,2}:2 (not)
#   -> Omega_F = {1, 3, 5}, total 18
#   R strengths: {0}:4 {0,1}:4 {1,2}:4 -> Omega_R = {1, 3, 6}, total 12
P = np.array([100.0, 8, -4, 2, 1, 0, 0, -6])
F = np.array([-3.0, 10, 1, -3, 0, 5, 0, 2])
R = np.array([0.0, -4, 0, 4, 0, 0, 4, 0])


def _row(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame.set_index("set").loc[name]


def test_sets_and_shares_by_hand() -> None:
    res = compare_knowledge(P, F, R, tau=0.25)
    sets = {k: np.flatnonzero(v[-1]).tolist() for k, v in res.sets().items()}
    assert sets["preserved"] == [1, 3]
    assert sets["discarded"] == [2, 7]
    assert sets["newly_learned"] == [5]
    assert sets["exclusive"] == []  # {0} and {0,1} are salient in R too
    assert sets["shared_with_scratch"] == [1, 3]
    summary = res.summary()
    pooled = summary[summary["scope"] == "pooled"]
    # one input: pooled and input_mean agree exactly
    one = summary[summary["scope"] == "input_mean"]
    np.testing.assert_array_equal(
        pooled.iloc[:, 3:].to_numpy(float), one.iloc[:, 3:].to_numpy(float)
    )
    pres = _row(pooled, "preserved")
    assert pres["n_interactions"] == 2
    assert pres["count_share_of_p"] == pytest.approx(2 / 4, abs=1e-15)
    assert pres["count_share_of_f"] == pytest.approx(2 / 3, abs=1e-15)
    assert pres["share_of_p"] == pytest.approx((8 + 2) / 20, abs=1e-15)
    assert pres["share_of_f"] == pytest.approx((10 + 3) / 18, abs=1e-15)
    assert np.isnan(pres["share_of_r"])
    disc = _row(pooled, "discarded")
    assert disc["share_of_p"] == pytest.approx((4 + 6) / 20, abs=1e-15)
    assert np.isnan(disc["share_of_f"])
    new = _row(pooled, "newly_learned")
    assert new["share_of_f"] == pytest.approx(5 / 18, abs=1e-15)
    assert np.isnan(new["share_of_p"])
    shared = _row(pooled, "shared_with_scratch")
    assert shared["share_of_r"] == pytest.approx((4 + 4) / 12, abs=1e-15)
    assert _row(pooled, "exclusive")["share_of_f"] == 0.0
    # the empty subset (|I| = 100 in P) is ignored by default; with include_empty it becomes
    # the only salient subset of P at tau = 0.25 (threshold 25)
    res_e = compare_knowledge(P, F, R, tau=0.25, include_empty=True)
    assert np.flatnonzero(res_e.salient[0, -1]).tolist() == [0]


def _random_comparison(seed: int, k: int = 6, n: int = 6, tau: float = 0.1):
    rng = np.random.default_rng(seed)
    # heavy-tailed interactions so that salient sets are sparse and differ between models
    base = rng.standard_t(2, size=(k, 1 << n))
    p = base + 0.5 * rng.standard_t(2, size=base.shape)
    f = 0.7 * p + 0.5 * rng.standard_t(2, size=base.shape)
    r = 0.3 * base + rng.standard_t(2, size=base.shape)
    return compare_knowledge(
        p, f, r, tau=tau, models=("ckpt_a", "ckpt_a_ft", "scratch_b"), task="toy"
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_share_identities_hold(seed: int) -> None:
    res = _random_comparison(seed)
    summary = res.summary(per_input=True)
    for (scope, input_id), block in summary.groupby(["scope", "input_id"], dropna=False):
        b = block.set_index("set")
        shares = b[
            [
                "count_share_of_p",
                "count_share_of_f",
                "count_share_of_r",
                "share_of_p",
                "share_of_f",
                "share_of_r",
            ]
        ]
        values = shares.to_numpy(float)
        assert np.all(
            (values[np.isfinite(values)] >= 0) & (values[np.isfinite(values)] <= 1 + 1e-12)
        )
        # shares of each model's own salient set are 1; complements add to 1 (rounding 1e-12)
        for col in ("share_of_p", "count_share_of_p"):
            assert b.loc["salient_pretrained", col] == pytest.approx(1.0, abs=1e-12)
            assert b.loc["preserved", col] + b.loc["discarded", col] == pytest.approx(
                1.0, abs=1e-12
            )
            assert b.loc["exclusive", col] <= b.loc["preserved", col] + 1e-12
        for col in ("share_of_f", "count_share_of_f"):
            assert b.loc["preserved", col] + b.loc["newly_learned", col] == pytest.approx(
                1.0, abs=1e-12
            )
        assert b.loc["salient_scratch", "share_of_r"] == pytest.approx(1.0, abs=1e-12)
        if scope != "input_mean":
            n = b["n_interactions"]
            assert n["preserved"] + n["discarded"] == n["salient_pretrained"]
            assert n["preserved"] + n["newly_learned"] == n["salient_fine_tuned"]
        assert (scope == "input") == (not pd.isna(input_id))


def test_input_mean_is_the_mean_of_input_rows_and_pooled_uses_mean_strength() -> None:
    res = _random_comparison(3)
    summary = res.summary(per_input=True)
    inputs = summary[summary["scope"] == "input"].groupby("set", sort=False)["share_of_p"].mean()
    mean_rows = summary[summary["scope"] == "input_mean"].set_index("set")["share_of_p"]
    pd.testing.assert_series_equal(
        inputs.dropna(), mean_rows.dropna(), check_names=False, atol=1e-14
    )
    # pooled strengths are mean |I| over the inputs; the pooled salient set follows from them
    np.testing.assert_allclose(
        res.strengths[:, -1], np.abs(res.interactions[:, :-1]).mean(axis=1), atol=1e-15
    )
    np.testing.assert_array_equal(res.salient[:, -1], salient_mask(res.strengths[:, -1], res.tau))


def test_order_profile_sums_to_summary() -> None:
    res = _random_comparison(4)
    profile = res.order_profile(per_input=True)
    summary = res.summary(per_input=True)
    assert set(profile["interaction_order"]) == set(range(res.n_variables + 1))
    keys = ["scope", "input_id", "set"]
    summed = profile.groupby(keys, dropna=False, sort=False)[
        ["n_interactions", "share_of_p", "share_of_f"]
    ].sum(min_count=1)
    merged = summary.merge(summed.reset_index(), on=keys, suffixes=("", "_profile"))
    assert len(merged) == len(summary)
    for col in ("n_interactions", "share_of_p", "share_of_f"):
        # sums of at most 7 shares: 1e-12
        np.testing.assert_allclose(merged[f"{col}_profile"], merged[col], atol=1e-12)
    # the profile of order k only counts subsets of that order
    sets = res.sets()
    pooled = profile[(profile["scope"] == "pooled") & (profile["set"] == "preserved")]
    orders = subset_order(np.arange(1 << res.n_variables))
    expected = np.bincount(orders[sets["preserved"][-1]], minlength=res.n_variables + 1)
    np.testing.assert_array_equal(pooled["n_interactions"].to_numpy(), expected)


def test_records_layout_and_duckdb_types() -> None:
    res = _random_comparison(5, k=3, n=5)
    rec = knowledge_records(res)
    assert list(rec.columns) == list(KNOWLEDGE_RECORD_COLUMNS)
    # 3 roles x (3 inputs + aggregate) x 32 subsets
    assert len(rec) == 3 * 4 * 32
    assert rec["model"].unique().tolist() == ["ckpt_a", "ckpt_a_ft", "scratch_b"]
    agg = rec[rec["input_id"].isna()]
    assert len(agg) == 3 * 32
    # aggregate rows: mean signed interaction, mean strength; salient counts match the summary
    for m, role in enumerate(["pretrained", "fine_tuned", "scratch"]):
        a = agg[agg["role"] == role].sort_values("subset")
        np.testing.assert_allclose(
            a["interaction"], res.interactions[m, :-1].mean(axis=0), atol=1e-15
        )
        n_sal = (
            res.summary()
            .set_index(["scope", "set"])
            .loc[("pooled", f"salient_{role}"), "n_interactions"]
        )
        assert a["salient"].sum() == n_sal
        assert (a.loc[a["salient"], "relative_strength"] >= res.tau - 1e-12).all()
    one = rec[(rec["input_id"] == 1) & (rec["role"] == "fine_tuned")].sort_values("subset")
    np.testing.assert_array_equal(one["interaction"], res.interactions[1, 1])
    np.testing.assert_array_equal(one["interaction_order"], subset_order(np.arange(32)))
    np.testing.assert_array_equal(one["newly_learned"], res.sets()["newly_learned"][1])
    con = duckdb.connect()
    con.register("rec", rec)
    con.execute("CREATE TABLE knowledge AS SELECT * FROM rec")
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'knowledge'"
        ).fetchall()
    )
    assert types == KNOWLEDGE_RECORD_COLUMNS
    back = con.execute(
        "SELECT count(*), count(input_id), sum(salient::INT) FROM knowledge"
    ).fetchall()
    assert back == [(len(rec), 3 * 3 * 32, int(rec["salient"].sum()))]
    # a comparison without a task keeps the VARCHAR column (all NULL)
    no_task = compare_knowledge(*res.interactions[:, :-1])
    con.register("rec2", knowledge_records(no_task))
    con.execute("CREATE TABLE knowledge2 AS SELECT * FROM rec2")
    assert con.execute("SELECT count(task), count(*) FROM knowledge2").fetchall() == [
        (0, 3 * 4 * 32)
    ]
    types2 = con.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_name = 'knowledge2'"
    ).fetchall()
    assert [t for (t,) in types2] == list(KNOWLEDGE_RECORD_COLUMNS.values())
    only_agg = knowledge_records(res, per_input=False)
    assert len(only_agg) == 3 * 32 and only_agg["input_id"].isna().all()


def test_record_and_html() -> None:
    res = _random_comparison(6)
    record = res.to_record()
    text = json.dumps(record, allow_nan=False)  # JSON-safe: no NaN
    assert record["n_inputs"] == 6 and record["task"] == "toy"
    assert record["newly_learned_share_of_p_pooled"] is None
    assert record["preserved_share_of_p_input_mean"] + record[
        "discarded_share_of_p_input_mean"
    ] == pytest.approx(1, abs=1e-12)
    assert "exclusive_share_of_f_pooled" in text
    assert set(SET_NAMES) <= {
        k.split("_n_interactions")[0] for k in record if "_n_interactions" in k
    }
    html = res._repr_html_()
    assert "<table" in html and "ckpt_a_ft" in html


def test_bad_comparisons_are_refused() -> None:
    with pytest.raises(InputError, match="differ in shape"):
        compare_knowledge(np.zeros(8), np.zeros(8), np.zeros(4))
    with pytest.raises(InputError, match="2\\*\\*n values"):
        compare_knowledge(np.zeros(6), np.zeros(6), np.zeros(6))
    with pytest.raises(InputError, match="tau"):
        compare_knowledge(P, F, R, tau=1.5)
    with pytest.raises(InputError, match="NaN"):
        compare_knowledge(np.full(8, np.nan), F, R)
