"""Evidence for issues 5 and 12: dependence on pretraining, pooled by meta-analysis, and ranking.

Prints: agreement with metafor (rma, rma.mv), clubSandwich and lme4; on seeded synthetic effects
nested in suites, the coverage of 95% intervals that treat the tasks as independent, of the
three-level model and of its CR2 errors; on seeded synthetic ladders, how often the ranking
recovers the known order (most dependent first) and how often the pooled 95% interval covers the
true slope; the published analyses (VTAB-1k, Pythia, CLIP probes, mlf-scaling) with the time a
default ranking takes. Run from the repository root:

    .venv/bin/python benchmarks/ranking.py [--shared ../shared] [--replicates 100]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "dependence"))

from _dependence_ladder import synthetic_ladder

from transferscope.dependence.metrics import default_metric
from transferscope.dependence.pooling import pooled_dependence
from transferscope.dependence.ranking import pairwise_comparisons, rank_methods
from transferscope.dependence.slopes import fit_slope_model, method_slopes
from transferscope.dependence.stability import friedman_nemenyi, suite_agreement
from transferscope.stats.meta import meta_regression, pool_effects
from transferscope.stats.multilevel import pool_multilevel

FIELDS = {"estimate": "estimate", "se": "se", "ci_lb": "ci_low", "ci_ub": "ci_high"}
FIELDS |= {"tau2": "tau2", "I2": "i2", "H2": "h2", "QE": "q", "QEp": "q_pvalue"}


def _rel(ours: float, ref: float) -> float:
    return abs(ours) if ref == 0 else abs(ours / ref - 1)


def metafor(reference: Path) -> None:
    cases = json.loads((reference / "metafor_cases.json").read_text())["cases"]
    worst: dict[str, float] = {}
    for case in cases:
        for fit, ref in case["fits"].items():
            method, knha = ("REML", True) if fit == "REML_knha" else (fit, False)
            res = pool_effects(case["yi"], case["vi"], method=method, knha=knha)
            err = max(_rel(getattr(res, FIELDS[k]), v) for k, v in ref.items())
            worst[fit] = max(worst.get(fit, 0.0), err)
            exact = pool_effects(case["yi"], case["vi"], method=method, knha=knha, solver="exact")
            key = f"{fit} (exact solver)"
            worst[key] = max(worst.get(key, 0.0), _rel(exact.tau2, ref["tau2"]))
        mr = meta_regression(case["yi"], case["vi"], case["moderator"])
        ref = case["metaregression"]
        errs = [_rel(a, b) for a, b in zip(mr.coef, ref["coef"].values(), strict=True)]
        errs += [_rel(a, b) for a, b in zip(mr.se, ref["se"], strict=True)]
        errs += [_rel(mr.tau2, ref["tau2"]), _rel(mr.qm, ref["QM"]), _rel(mr.qm_pvalue, ref["QMp"])]
        worst["metaregression"] = max(worst.get("metaregression", 0.0), max(errs))
    print("metafor 3.8.1, 6 cases: worst relative error over all fields")
    for fit, err in worst.items():
        print(f"  {fit:<26} {err:.1e}")


def metafor_mv(reference: Path) -> None:
    cases = json.loads((reference / "metafor_mv_cases.json").read_text())["cases"]
    names = {"estimate": "estimate", "se": "se", "ci_lb": "ci_low", "ci_ub": "ci_high"}
    names |= {"sigma2_suite": "sigma2_cluster", "sigma2_task": "sigma2_within", "QE": "q"}
    names |= {"QEp": "q_pvalue", "pi_lb": "pi_low", "pi_ub": "pi_high", "logLik": "loglik"}
    robust = {"robust_se": "se", "robust_ci_lb": "ci_low", "robust_ci_ub": "ci_high"}
    robust |= {"robust_df": "df", "robust_p": "pvalue"}
    worst = {"estimated": 0.0, "at metafor's variances": 0.0}
    for case in cases:
        ref = case["multilevel"]
        for key, sigma2 in (
            ("estimated", None),
            ("at metafor's variances", (ref["sigma2_suite"], ref["sigma2_task"])),
        ):
            m = pool_multilevel(case["yi"], case["vi"], case["suite"], sigma2=sigma2)
            r = pool_multilevel(case["yi"], case["vi"], case["suite"], sigma2=sigma2, robust=True)
            errs = [
                abs(getattr(m, f) - ref[k]) if abs(ref[k]) < 1e-9 else _rel(getattr(m, f), ref[k])
                for k, f in names.items()
            ]
            errs += [_rel(getattr(r, f), ref[k]) for k, f in robust.items()]
            worst[key] = max(worst[key], max(errs))
    print("metafor 3.8.1 rma.mv + clubSandwich 0.5.8 CR2, 6 cases: worst error over 16 fields")
    for key, err in worst.items():
        print(f"  {key:<26} {err:.1e}")


def suite_coverage(replicates: int) -> None:
    """Coverage of 95% intervals for the mean of effects nested in suites (true mean 0.05)."""
    rng = np.random.default_rng(12)
    hits = {"independent tasks (REML)": 0, "three-level (model)": 0, "three-level CR2": 0}
    widths: dict[str, list[float]] = {k: [] for k in hits}
    start = time.perf_counter()
    for _ in range(replicates):
        n_suites = int(rng.choice([4, 6, 9, 12]))
        per = rng.integers(2, 9, size=n_suites)
        suite = np.repeat(np.arange(n_suites), per)
        v = rng.uniform(0.0002, 0.003, size=suite.size)
        y = 0.05 + rng.normal(0, 0.05, n_suites)[suite] + rng.normal(0, 0.02, suite.size)
        y = y + rng.normal(0, np.sqrt(v))
        fits = {
            "independent tasks (REML)": pool_effects(y, v, method="REML"),
            "three-level (model)": pool_effects(y, v, clusters=suite),
            "three-level CR2": pool_effects(y, v, clusters=suite, robust=True),
        }
        for key, fit in fits.items():
            hits[key] += fit.ci_low <= 0.05 <= fit.ci_high
            widths[key].append(fit.ci_high - fit.ci_low)
    took = time.perf_counter() - start
    print(
        f"effects nested in suites ({replicates} seeds; 4 to 12 suites of 2 to 8 tasks; "
        f"suite sd 0.05, task sd 0.02; {took:.1f} s): coverage of the 95% interval of the mean"
    )
    for key, n in hits.items():
        width = float(np.median(widths[key]))
        print(f"  {key:<26} {n / replicates:.3f}  (median width {width:.3f})")


def lme4(reference: Path) -> None:
    data = pd.read_csv(reference / "mixed_data.csv")
    ref = json.loads((reference / "mixed_lme4.json").read_text())
    names = {"intercept": "(Intercept)", "x": "x"}
    start = time.perf_counter()
    fit = fit_slope_model(data)
    took = time.perf_counter() - start
    rel_fe, rel_se = [], []
    for term, coef, se in zip(fit.terms, fit.coef, fit.se, strict=True):
        r_name = names.get(term, term.replace("method[", "method").replace("]", ""))
        rel_fe.append(_rel(coef, ref["fixed"][r_name]))
        rel_se.append(_rel(se, ref["fixed_se"][r_name]))
    vc = [r["vcov"] for r in ref["random"].values()]
    ours = [fit.var_intercept, fit.var_slope, fit.cov_intercept_slope, fit.sigma2]
    rel_vc = [_rel(a, b) for a, b in zip(ours, vc, strict=True)]
    print(f"lme4 1.1.31 REML vs MixedLM ({fit.optimizer}, {took:.2f} s, status {fit.status}):")
    print(f"  fixed effects {max(rel_fe):.1e}, their se {max(rel_se):.1e}", end="")
    print(f", variance components {max(rel_vc):.1e}")


def recovery(replicates: int) -> None:
    slopes = {"lora": 0.7, "full_ft": 0.8, "linear_probe": 0.9}
    truth = ["linear_probe", "full_ft", "lora"]  # most dependent first
    hits = {"slope": 0, "retention": 0, "friedman": 0}
    covered = {(m, knha): 0 for m in slopes for knha in (False, True)}
    start = time.perf_counter()
    for rep in range(replicates):
        runs = synthetic_ladder(seed=100 + rep, n_tasks=8, noise=0.3, slopes=slopes)
        for metric in ("slope", "retention"):
            table = rank_methods(runs, metric, bootstrap=0)
            hits[metric] += list(table["method"]) == truth
        fried = friedman_nemenyi(runs, "slope")
        hits["friedman"] += list(fried["method"]) == truth
        for knha in (False, True):
            pooled = pooled_dependence(runs, "slope", method="REML", knha=knha).set_index("method")
            for m, b in slopes.items():
                covered[m, knha] += pooled.loc[m, "ci_low"] <= b <= pooled.loc[m, "ci_high"]
    took = time.perf_counter() - start
    print(
        f"synthetic ladders ({replicates} seeds, 8 tasks, slopes 0.7/0.8/0.9, seed noise 0.3 "
        f"on the logit scale, {took:.1f} s):"
    )
    for key, n in hits.items():
        print(f"  order recovered by {key:<10} {n / replicates:.2f}")
    for (m, knha), n in covered.items():
        how = "REML + Knapp-Hartung" if knha else "REML (z)"
        print(f"  {how:<21} 95% interval covers the true slope of {m:<13} {n / replicates:.2f}")


def published(shared: Path) -> None:
    from transferscope.ingest.sources import load_source

    data = shared / "data"
    cols = ["model", "rank", "rank_low", "rank_high", "estimate", "ci_low", "ci_high", "p_best"]
    vtab = load_source("vtab", from_dir=data).frame
    table = rank_methods(vtab, "gain", entity="model", bootstrap=1000, seed=0)
    r_cols = ["method", "rank", "estimate", "ci_low", "ci_high", "df", "diff_se", "p_best"]
    r_cols += ["n_tasks", "n_suites", "pool_model"]
    with pd.option_context("display.width", 200, "display.precision", 3):
        for shots, part in table.groupby(table["shots"].astype("string").fillna("full")):
            print(
                f"VTAB-1k, gain over From-Scratch (fraction), regime {shots}, 19 tasks in 3 groups:"
            )
            print(part[cols].to_string(index=False))
        print(suite_agreement(vtab, "gain", entity="model", bootstrap=199).to_string(index=False))
        for name in ("pythia", "clip-benchmark", "mlf-scaling"):
            runs = load_source(name, from_dir=data).frame
            metric, reason = default_metric(runs)
            rank_methods(runs, metric, bootstrap=10)  # warm up imports
            start = time.perf_counter()
            ranked = rank_methods(runs, metric, bootstrap=1000, seed=0)
            took = time.perf_counter() - start
            print(f"{name}: default ranking ({metric}: {reason}), {len(runs)} runs, {took:.1f} s")
            print(ranked[r_cols].to_string(index=False))
        pythia = load_source("pythia", from_dir=data).frame
        pair = pairwise_comparisons(pythia, "slope", downstream_metric="acc")
        flat = pairwise_comparisons(pythia, "slope", downstream_metric="acc", suites=None)
        print("Pythia acc, five-shot minus zero-shot slope: with suites / as independent tasks")
        p_cols = ["method_a", "method_b", "estimate", "se", "df", "pvalue", "pool_model"]
        print(pd.concat([pair, flat])[p_cols].to_string(index=False))
        ms = method_slopes(pythia, downstream_metric="acc")
        print(ms[["method", "slope", "se", "status"]].to_string(index=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared"
    )
    parser.add_argument("--replicates", type=int, default=100)
    args = parser.parse_args()
    metafor(args.shared / "reference")
    metafor_mv(args.shared / "reference")
    lme4(args.shared / "reference")
    suite_coverage(4 * args.replicates)
    recovery(args.replicates)
    published(args.shared)


if __name__ == "__main__":
    main()
