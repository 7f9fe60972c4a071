from __future__ import annotations

import numpy as np
import pytest

from transferscope.errors import InputError
from transferscope.knowledge import (
    compare_knowledge,
    comparison_from_records,
    knowledge_records,
    load_knowledge,
    save_knowledge,
)
from transferscope.store import open_store


def _comparison(seed: int, name: str, include_empty: bool = False):
    rng = np.random.default_rng(seed)
    n, k = 5, 4
    p, f, r = (rng.normal(size=(k, 2**n)) * rng.exponential(size=2**n) for _ in range(3))
    return compare_knowledge(
        p,
        f,
        r,
        tau=0.2,
        include_empty=include_empty,
        models=("pt", "ft", "sc"),
        task="toy",
        comparison=name,
    )


@pytest.mark.parametrize("include_empty", [False, True])
def test_stored_comparison_comes_back_identical(include_empty: bool) -> None:
    original = _comparison(0, "first", include_empty)
    with open_store(":memory:") as store:
        written = save_knowledge(store, original)
        assert written == len(knowledge_records(original, per_input=True))
        (loaded,) = load_knowledge(store)
    # exact: the rebuilt comparison is computed from the same float64 interactions
    np.testing.assert_array_equal(loaded.interactions, original.interactions)
    np.testing.assert_array_equal(loaded.salient, original.salient)
    assert (loaded.comparison, loaded.task, loaded.models, loaded.tau) == (
        "first",
        "toy",
        ("pt", "ft", "sc"),
        0.2,
    )
    assert loaded.summary().equals(original.summary())


def test_saving_again_replaces_and_names_are_kept_apart() -> None:
    with open_store(":memory:") as store:
        save_knowledge(store, _comparison(0, "a"))
        save_knowledge(store, _comparison(1, "b"))
        save_knowledge(store, _comparison(2, "a"))  # replaces the first "a"
        loaded = load_knowledge(store)
        assert [c.comparison for c in loaded] == ["a", "b"]
        np.testing.assert_array_equal(loaded[0].interactions, _comparison(2, "a").interactions)
        (only_b,) = load_knowledge(store, "b")
        assert only_b.comparison == "b"
        assert load_knowledge(store, "none") == []


def test_incomplete_records_are_refused() -> None:
    records = knowledge_records(_comparison(0, "x"), per_input=True)
    with pytest.raises(InputError, match="do not cover every subset"):
        comparison_from_records(records.iloc[1:])
