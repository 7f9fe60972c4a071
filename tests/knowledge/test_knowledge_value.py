"""Value functions of numpy models: masking, baselines, log-odds, and their interactions."""

from __future__ import annotations

import numpy as np
import pytest

from transferscope.errors import InputError
from transferscope.knowledge import interactions, log_odds, model_interactions, model_value
from transferscope.knowledge.transform import subset_members


def test_log_odds_from_logits_matches_softmax() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(scale=3, size=(50, 4))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    for t in range(4):
        # moderate logits: the direct log(p / (1 - p)) is accurate to ~1e-12
        np.testing.assert_allclose(
            log_odds(z, t, "logits"), np.log(p[:, t] / (1 - p[:, t])), atol=1e-10
        )
        np.testing.assert_allclose(
            log_odds(p, t, "probabilities"), np.log(p[:, t] / (1 - p[:, t])), atol=1e-10
        )


def test_log_odds_of_extreme_logits_stays_finite_and_exact() -> None:
    z = np.array([[1000.0, 0.0], [-1000.0, 0.0]])
    # two classes: log-odds of class 0 is exactly z0 - z1, no overflow, no clipping
    np.testing.assert_array_equal(log_odds(z, 0, "logits"), [1000.0, -1000.0])


def test_probabilities_are_clipped() -> None:
    p = np.array([[1.0, 0.0], [0.0, 1.0]])
    eps = 1e-7
    bound = np.log((1 - eps) / eps)
    # clipping at eps: the log-odds is +-log((1-eps)/eps) up to rounding (1e-9)
    np.testing.assert_allclose(log_odds(p, 0, "probabilities", eps=eps), [bound, -bound], atol=1e-9)


def test_binary_and_scalar_outputs() -> None:
    z = np.array([0.5, -2.0])
    np.testing.assert_array_equal(log_odds(z, 1, "logits"), z)
    np.testing.assert_array_equal(log_odds(z, 0, "logits"), -z)
    np.testing.assert_array_equal(log_odds(z[:, None], 1, "logits"), z)
    p = np.array([0.8, 0.25])
    np.testing.assert_allclose(log_odds(p, 1, "probabilities"), np.log([4.0, 1 / 3]), atol=1e-12)
    np.testing.assert_allclose(log_odds(p, 0, "probabilities"), np.log([0.25, 3.0]), atol=1e-12)
    np.testing.assert_array_equal(log_odds(z, None, "scalar"), z)
    np.testing.assert_array_equal(
        log_odds(np.array([[1.0, 2.0], [3.0, 4.0]]), 1, "scalar"), [2.0, 4.0]
    )
    with pytest.raises(InputError, match="target 0 or 1"):
        log_odds(z, 2, "logits")
    with pytest.raises(InputError, match="class index"):
        log_odds(np.zeros((2, 3)), 3, "logits")
    with pytest.raises(InputError, match="output must be"):
        log_odds(z, 1, "odds")  # type: ignore[arg-type]


def _polynomial(coef: dict[int, float], n: int):
    members = {s: np.flatnonzero(subset_members(np.array(s), n)) for s in coef}

    def f(x: np.ndarray) -> np.ndarray:
        return sum(c * np.prod(x[:, members[s]], axis=1) for s, c in coef.items())

    return f


def test_polynomial_model_with_zero_baseline() -> None:
    # f(x) = sum_S c_S prod_{i in S} x_i; with baseline 0, v(T) = sum_{S in T} c_S prod x_S,
    # so I(S) = c_S * prod_{i in S} x_i exactly.
    n = 6
    coef = {0: 0.5, 0b1: 1.0, 0b110: -2.0, 0b101001: 0.75, 0b111111: 0.1}
    x = np.random.default_rng(1).normal(size=n)
    vf = model_value(_polynomial(coef, n), x, output="scalar")
    got = interactions(vf, n)
    expected = np.zeros(1 << n)
    for s, c in coef.items():
        expected[s] = c * np.prod(x[subset_members(np.array(s), n)])
    # products of a few O(1) numbers: rounding below 1e-12
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_polynomial_model_with_mean_baseline() -> None:
    # With baseline b: I(S) = sum over R containing S of
    #   c_R * prod_{i in S} (x_i - b_i) * prod_{i in R - S} b_i.
    n = 5
    coef = {0b11: 1.5, 0b111: -1.0, 0b10100: 2.0, 0b11111: 0.5}
    rng = np.random.default_rng(2)
    x = rng.normal(size=n)
    background = rng.normal(loc=0.3, size=(40, n))
    b = background.mean(axis=0)
    vf = model_value(
        _polynomial(coef, n), x, output="scalar", baseline="mean", background=background
    )
    np.testing.assert_array_equal(vf.baseline, b)
    got = interactions(vf, n)
    expected = np.zeros(1 << n)
    for s in range(1 << n):
        ms = subset_members(np.array(s), n)
        for r, c in coef.items():
            if r & s == s:
                mr = subset_members(np.array(r), n)
                expected[s] += c * np.prod((x - b)[ms]) * np.prod(b[mr & ~ms])
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_logistic_model_has_only_main_effects() -> None:
    # logits (0, w.x + c): log-odds of class 1 is w.x + c, so I(empty) = w.base + c,
    # I({i}) = w_i (x_i - base_i) and every higher-order interaction is 0.
    n = 8
    rng = np.random.default_rng(3)
    w, c = rng.normal(size=n), 0.3
    x, base = rng.normal(size=n), rng.normal(size=n)

    def logits(inputs: np.ndarray) -> np.ndarray:
        return np.column_stack([np.zeros(len(inputs)), inputs @ w + c])

    def probabilities(inputs: np.ndarray) -> np.ndarray:
        p1 = 1 / (1 + np.exp(-(inputs @ w + c)))
        return np.column_stack([1 - p1, p1])

    expected = np.zeros(1 << n)
    expected[0] = w @ base + c
    expected[1 << np.arange(n)] = w * (x - base)
    got = interactions(model_value(logits, x, target=1, baseline=base), n)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    got_p = interactions(
        model_value(probabilities, x, target=1, output="probabilities", baseline=base), n
    )
    # log(p / (1 - p)) of a moderate logit recovers it to ~1e-14; over 256 terms, 1e-10
    np.testing.assert_allclose(got_p, expected, atol=1e-10)


def test_grouped_features_form_variables() -> None:
    # a 2 x 4 "image" in 4 patches of 2 pixels; model = sum of pixels, baseline 0:
    # I({g}) = sum of patch g's pixels, nothing else.
    x = np.arange(1.0, 9.0).reshape(2, 4)
    groups = np.array([[0, 0, 1, 1], [2, 2, 3, 3]])
    vf = model_value(lambda a: a.sum(axis=(1, 2)), x, output="scalar", groups=groups)
    assert vf.n_variables == 4
    got = interactions(vf, 4)
    expected = np.zeros(16)
    expected[[1, 2, 4, 8]] = [3.0, 7.0, 11.0, 15.0]
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_model_interactions_uses_one_target_per_input() -> None:
    w = np.array([1.0, -2.0, 0.5])

    def logits(inputs: np.ndarray) -> np.ndarray:
        return np.column_stack([np.zeros(len(inputs)), inputs @ w])

    xs = np.array([[1.0, 1.0, 1.0], [2.0, 0.0, -1.0]])
    got = model_interactions(logits, xs, targets=np.array([1, 0]))
    assert got.shape == (2, 8)
    # target 1 on input 0: I({i}) = w_i x_i; target 0 on input 1: the negative
    np.testing.assert_allclose(got[0, [1, 2, 4]], w * xs[0], atol=1e-12)
    np.testing.assert_allclose(got[1, [1, 2, 4]], -w * xs[1], atol=1e-12)
    same = model_interactions(logits, xs, targets=1)
    np.testing.assert_allclose(same[0], got[0], atol=0)


def test_bad_arguments_are_refused() -> None:
    f = lambda a: a.sum(axis=1)  # noqa: E731
    with pytest.raises(InputError, match="background"):
        model_value(f, np.zeros(3), output="scalar", baseline="mean")
    with pytest.raises(InputError, match="every variable index"):
        model_value(f, np.zeros(3), output="scalar", groups=np.array([0, 2, 2]))
    with pytest.raises(InputError, match="needs groups"):
        model_value(f, np.zeros((2, 2)), output="scalar")
    with pytest.raises(InputError, match="broadcast"):
        model_value(f, np.zeros(3), output="scalar", baseline=np.zeros(4))
    vf = model_value(f, np.zeros(3), output="scalar")
    with pytest.raises(InputError, match="masks must be booleans"):
        vf(np.ones((2, 3), dtype=int))
    with pytest.raises(InputError, match="one integer or 2 integers"):
        model_interactions(f, np.zeros((2, 3)), targets=np.array([0, 1, 1]), output="scalar")


class _AffineNet:
    """A two-layer ReLU network that declares its first layer (AffineInput)."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.w1, self.b1 = rng.normal(size=(12, 7)), rng.normal(size=7)
        self.w2, self.b2 = rng.normal(size=(7, 3)), rng.normal(size=3)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.from_first_layer(x.reshape(len(x), -1) @ self.w1 + self.b1)

    def first_layer(self) -> tuple[np.ndarray, np.ndarray]:
        return self.w1, self.b1

    def from_first_layer(self, z: np.ndarray) -> np.ndarray:
        return np.maximum(z, 0.0) @ self.w2 + self.b2


def test_affine_input_models_give_the_same_interactions_without_masked_inputs() -> None:
    net = _AffineNet(4)
    xs = np.random.default_rng(5).normal(size=(3, 12))
    groups = np.repeat(np.arange(6), 2)
    base = np.random.default_rng(6).normal(size=12)
    fast = model_interactions(net, xs, targets=1, groups=groups, baseline=base)
    plain = model_interactions(lambda x: net(x), xs, targets=1, groups=groups, baseline=base)
    # same values up to rounding of the summed first-layer contributions
    np.testing.assert_allclose(fast, plain, atol=1e-11)
    vf = model_value(net, xs[0], target=2, groups=groups, baseline=base)
    masks = subset_members(np.arange(64), 6)
    np.testing.assert_allclose(vf(masks), vf.all_values(batch_size=16), atol=1e-12)
