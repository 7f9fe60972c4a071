"""The digits ladder end to end, exact interactions at n = 16, and the sampling error table.

Usage::

    .venv/bin/python benchmarks/ladders.py            # all three parts
    .venv/bin/python benchmarks/ladders.py ladder     # the worked example's ladder, 2 workers
    .venv/bin/python benchmarks/ladders.py exact      # n = 16 over 100 images
    .venv/bin/python benchmarks/ladders.py sampling   # error of the sampled indices (README table)

Targets (issue 18): the ladder (6 checkpoints x 3 methods + scratch x 5 seeds) in at most
2 minutes on 2 cores; exact interactions for n = 16 over 100 images in at most 10 s. Timings
depend on the machine and its load: the script prints wall and CPU time.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def ladder() -> None:
    from transferscope.examples.digits import digits_ladder

    start, cpu = time.perf_counter(), _cpu()
    result = digits_ladder(seeds=5, n_jobs=2)
    wall, used = time.perf_counter() - start, _cpu() - cpu
    print(f"digits ladder: {result.describe()}")
    print(f"  wall {wall:.1f} s, CPU {used:.1f} s (2 workers; target wall <= 120 s)")
    print(f"  load average at the end: {os.getloadavg()[0]:.2f}")


def exact(n_images: int = 100) -> None:
    from threadpoolctl import threadpool_limits

    from transferscope.examples.digits import (
        DigitsConfig,
        DigitsPretrain,
        digits_data,
        patch_groups,
    )
    from transferscope.knowledge import model_interactions

    net = DigitsPretrain(DigitsConfig())(320, 0).net
    data = digits_data()
    xs, ys = data.x_test[:n_images], data.y_test[:n_images]
    with threadpool_limits(1):
        start = time.perf_counter()
        fast = model_interactions(net, xs, targets=ys, groups=patch_groups())
        t_fast = time.perf_counter() - start
        start = time.perf_counter()
        plain = model_interactions(
            lambda x: net(x), xs[:10], targets=ys[:10], groups=patch_groups()
        )
        t_plain = (time.perf_counter() - start) * n_images / 10
    diff = np.abs(fast[:10] - plain).max()
    print(f"exact interactions, n = 16, {n_images} images, one thread:")
    print(
        f"  affine-input path {t_fast:.2f} s (target <= 10 s); generic masked inputs "
        f"{t_plain:.2f} s (extrapolated from 10 images); max difference {diff:.2g}"
    )


def sampling(budgets: tuple[int, ...] = (2_000, 8_000, 32_000), seed: int = 0) -> None:
    from transferscope.examples.digits import (
        DigitsConfig,
        DigitsPretrain,
        digits_data,
        patch_groups,
    )
    from transferscope.knowledge import (
        evaluate_subsets,
        interaction_index,
        interactions,
        low_order,
        model_value,
        sample_indices,
        sparse_game,
        sparse_indices,
    )

    rng = np.random.default_rng(seed)
    games = []
    net = DigitsPretrain(DigitsConfig())(320, 0).net
    data = digits_data()
    vf = model_value(net, data.x_test[0], target=int(data.y_test[0]), groups=patch_groups())
    games.append(("digits MLP, 16 patches", 16, vf, None))
    w = rng.normal(size=(20, 8))
    games.append(
        ("tanh network, 20 variables", 20, lambda m: np.tanh(m.astype(float) @ w).sum(1), None)
    )
    for n in (64, 256):
        terms = [
            (float(rng.normal()), tuple(int(v) for v in rng.choice(n, size=k, replace=False)))
            for k in (1, 1, 2, 2, 2, 3, 3, 4)
            for _ in range(max(1, n // 32))
        ]
        games.append(
            (f"sparse game of known interactions, {n} variables", n, sparse_game(terms, n), terms)
        )
    print(
        "| game | index | evaluations | RMSE order 1 | RMSE order 2 | relative RMSE 1 / 2 "
        "| 95% coverage 1 / 2 |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, n, game, terms in games:
        for index in ("SII", "BII"):
            if terms is None:
                exact1, exact2 = low_order(
                    interaction_index(interactions(evaluate_subsets(game, n)), index), n
                )
            else:
                exact1, exact2 = sparse_indices(terms, n, index)
            iu = np.triu_indices(n, k=1)
            for budget in budgets:
                est = sample_indices(game, n, index, budget=budget, seed=seed)
                e1 = est.order1 - exact1
                e2 = (est.order2 - exact2)[iu]
                r1, r2 = np.sqrt(np.mean(e1**2)), np.sqrt(np.mean(e2**2))
                s1 = np.sqrt(np.mean(exact1**2))
                s2 = np.sqrt(np.mean(exact2[iu] ** 2))
                c1 = np.mean(np.abs(e1) < 1.96 * est.order1_se)
                c2 = np.mean(np.abs(e2) < 1.96 * est.order2_se[iu])
                print(
                    f"| {label} | {index} | {budget:,} | {r1:.3g} | {r2:.3g} | "
                    f"{r1 / s1:.2f} / {r2 / s2:.2f} | {c1:.2f} / {c2:.2f} |"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", nargs="?", choices=("ladder", "exact", "sampling"))
    args = parser.parse_args()
    for name, fn in (("exact", exact), ("sampling", sampling), ("ladder", ladder)):
        if args.part in (None, name):
            fn()


if __name__ == "__main__":
    main()
