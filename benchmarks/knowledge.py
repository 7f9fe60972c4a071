"""Fast Mobius transform against the direct O(3^n) definition, and the worked example over seeds.

Usage::

    .venv/bin/python benchmarks/knowledge.py            # n = 16: same values, speed ratio
    .venv/bin/python benchmarks/knowledge.py --sweep 100  # also the worked example, seeds 0..99

Prints the figures; exits 1 if the transform disagrees with the definition, is not at least
100 times faster, or takes 0.1 s or more at n = 16. Timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from transferscope.knowledge import interactions, naive_interactions, values_from_interactions


def _best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def transform_benchmark(n: int = 16, seed: int = 0) -> bool:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=1 << n)
    fast = interactions(v)
    t_fast = _best_time(lambda: interactions(v), repeats=7)
    start = time.perf_counter()
    slow = naive_interactions(v)
    t_slow = time.perf_counter() - start
    scale = np.abs(slow).max()
    diff = np.abs(fast - slow).max()
    same = bool(diff <= 1e-12 * max(scale, 1.0) * n)
    ratio = t_slow / t_fast
    efficiency = abs(fast.sum() - v[-1])
    round_trip = np.abs(values_from_interactions(fast) - v).max()
    print(f"n = {n}: {1 << n} subsets, {3**n} (S, T) pairs in the direct sum")
    print(f"  fast Mobius transform (best of 7): {t_fast * 1e3:.2f} ms")
    print(f"  direct O(3^n) definition:          {t_slow:.2f} s")
    print(f"  ratio direct / fast:               {ratio:.0f}x (target >= 100x)")
    print(f"  max |fast - direct|:               {diff:.3g} (max |I| = {scale:.3g})")
    print(f"  efficiency |sum I - v(all)|:       {efficiency:.3g}")
    print(f"  round trip max |zeta(I) - v|:      {round_trip:.3g}")
    for big in (18, 20):
        w = rng.normal(size=1 << big)
        t_big = _best_time(lambda w=w: interactions(w), repeats=3)
        print(f"  fast transform at n = {big}:         {t_big * 1e3:.1f} ms")
    ok = same and ratio >= 100 and t_fast < 0.1
    print(
        f"  same values: {same}; ratio >= 100: {ratio >= 100}; "
        f"transform < 0.1 s: {t_fast < 0.1} -> {'PASS' if ok else 'FAIL'}"
    )
    return ok


def example_sweep(n_seeds: int) -> None:
    from transferscope.knowledge.example import example_sweep as sweep

    start = time.perf_counter()
    table = sweep(range(n_seeds))
    elapsed = time.perf_counter() - start
    kept = table["preserved_share_of_p_input_mean"]
    shared = table["shared_with_scratch_share_of_p_input_mean"]
    excl = table["exclusive_share_of_f_input_mean"]
    gain = table["accuracy_fine_tuned"] - table["accuracy_scratch"]
    kept_pooled = table["preserved_share_of_p_pooled"]
    shared_pooled = table["shared_with_scratch_share_of_p_pooled"]
    print(f"worked example, seeds 0..{n_seeds - 1} ({elapsed / n_seeds:.2f} s per seed)")
    print(
        "  input_mean: share of P kept by F > share of P shared with R in "
        f"{(kept > shared).sum()}/{n_seeds} seeds; difference mean {(kept - shared).mean():.3f}, "
        f"min {(kept - shared).min():.3f}"
    )
    print(
        "  pooled:     the same in "
        f"{(kept_pooled > shared_pooled).sum()}/{n_seeds} seeds; difference mean "
        f"{(kept_pooled - shared_pooled).mean():.3f}, min {(kept_pooled - shared_pooled).min():.3f}"
    )
    print(
        f"  exclusive share of F (input_mean): mean {excl.mean():.3f}, min {excl.min():.3f}, "
        f"max {excl.max():.3f}"
    )
    print(
        f"  downstream accuracy, fine-tuned minus scratch: F > R in {(gain > 0).sum()}/{n_seeds} "
        f"seeds; mean {gain.mean():.3f}, min {gain.min():.3f}, max {gain.max():.3f}"
    )
    print(
        f"  accuracy means: pretrained+probe {table['accuracy_pretrained'].mean():.3f}, "
        f"fine-tuned {table['accuracy_fine_tuned'].mean():.3f}, "
        f"scratch {table['accuracy_scratch'].mean():.3f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="number of variables (default 16)")
    parser.add_argument("--sweep", type=int, default=0, help="run the worked example on seeds")
    args = parser.parse_args()
    ok = transform_benchmark(args.n)
    if args.sweep:
        example_sweep(args.sweep)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
