"""Evidence for issue 5: dependence on pretraining, pooled by meta-analysis, and ranking.

Prints: agreement with metafor and lme4; on seeded synthetic ladders, how often the ranking
recovers the known order and how often the pooled 95% interval covers the true slope; and the
three published analyses (VTAB-1k, Pythia, CLIP probes). Run from the repository root:

    .venv/bin/python benchmarks/ranking.py [--shared ../shared] [--replicates 100]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "dependence"))

from _dependence_ladder import synthetic_ladder

from transferscope.dependence.ranking import (
    friedman_nemenyi,
    pairwise_comparisons,
    pooled_dependence,
    rank_methods,
)
from transferscope.dependence.slopes import fit_slope_model, method_slopes
from transferscope.stats.meta import meta_regression, pool_effects

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
    truth = ["lora", "full_ft", "linear_probe"]
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
            pooled = pooled_dependence(runs, "slope", pool="REML", knha=knha).set_index("method")
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
    cols = ["model", "rank", "estimate", "ci_low", "ci_high", "p_best"]
    vtab = load_source("vtab", from_dir=data).frame
    table = rank_methods(vtab, "gain", entity="model", bootstrap=1000, seed=0)
    with pd.option_context("display.width", 200, "display.precision", 3):
        for shots, part in table.groupby(table["shots"].astype("string").fillna("full")):
            print(f"VTAB-1k, gain over From-Scratch (fraction), regime {shots}, 19 tasks:")
            print(part[cols].to_string(index=False))
        pythia = load_source("pythia", from_dir=data).frame
        pythia = pythia[pythia["task"] != "lambada_openai"]
        print("Pythia: slope of logit(acc) on logit(LAMBADA acc) across checkpoints, 64 tasks:")
        p_cols = ["method", "estimate", "ci_low", "ci_high", "tau2", "i2", "n_tasks"]
        print(
            pooled_dependence(pythia, "slope", downstream_metric="acc")[p_cols].to_string(
                index=False
            )
        )
        pair = pairwise_comparisons(pythia, "slope", downstream_metric="acc")
        print(
            pair[["method_a", "method_b", "estimate", "se", "pvalue_holm"]].to_string(index=False)
        )
        ms = method_slopes(pythia, downstream_metric="acc")
        print(ms[["method", "slope", "se", "status"]].to_string(index=False))
        clip = load_source("clip-benchmark", from_dir=data).frame
        clip = clip.assign(regime=clip["shots"].astype("string").fillna("full"))
        print("CLIP linear probes: slope of logit(probe acc) on logit(ImageNet zero-shot acc):")
        c_cols = ["regime", "estimate", "ci_low", "ci_high", "tau2", "n_tasks"]
        pooled = pooled_dependence(clip, "slope", entity="regime")
        print(pooled[c_cols].to_string(index=False))
        pair = pairwise_comparisons(clip, "slope", entity="regime")
        print(
            pair[["regime_a", "regime_b", "estimate", "se", "pvalue_holm", "n_tasks"]].to_string(
                index=False
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared"
    )
    parser.add_argument("--replicates", type=int, default=100)
    args = parser.parse_args()
    metafor(args.shared / "reference")
    lme4(args.shared / "reference")
    recovery(args.replicates)
    published(args.shared)


if __name__ == "__main__":
    main()
