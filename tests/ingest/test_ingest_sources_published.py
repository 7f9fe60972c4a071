"""The five published sources, loaded from ../shared/data, checked against the files themselves.

Every expected number below is read from the published file in the test (csv / json / pandas),
independently of the loader, or is a count documented in the source's spec. Scores are compared
with an absolute tolerance of 1e-12: the loader divides percentages by 100 and otherwise copies
the published floats.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from transferscope.ingest.sources import (
    LoadedSource,
    get_spec,
    known_sources,
    load_source,
    sha256_file,
)
from transferscope.schema import INPUT_COLUMNS, KEY_COLUMNS, is_accuracy_metric

TOL = 1e-12  # published floats are copied; percent / 100 is exact to ~1 ulp

EXPECTED = {  # documented in each spec (expected_rows) and in the report
    "vtab": {"rows": 608, "tasks": 19, "models": 16, "methods": {"full_ft": 608}},
    "timm": {"rows": 7779, "tasks": 5, "models": 1266, "methods": {"zero_shot": 7779}},
    "clip-benchmark": {"rows": 4752, "tasks": 21, "models": 12, "methods": {"linear_probe": 4752}},
    "pythia": {
        "rows": 105024,
        "tasks": 87,
        "models": 432,
        "methods": {"zero_shot": 74304, "five_shot": 30720},
    },
    "mlf-scaling": {
        "rows": 4784,
        "tasks": 46,
        "models": 104,
        "methods": {"few_shot": 3848, "zero_shot": 936},
    },
}

_CACHE: dict[str, LoadedSource] = {}


def _load(name: str, shared_data: Path) -> LoadedSource:
    if name not in _CACHE:
        _CACHE[name] = load_source(name, from_dir=shared_data)
    return _CACHE[name]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _one(frame: pd.DataFrame, **where: object) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        mask &= frame[column] == value
    hits = frame[mask]
    assert len(hits) == 1, f"{len(hits)} rows match {where}"
    return hits.iloc[0]


def test_known_sources_are_the_five() -> None:
    assert known_sources() == ["clip-benchmark", "mlf-scaling", "pythia", "timm", "vtab"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_spec_checksums_match_the_published_files(name: str, shared_data: Path) -> None:
    spec = get_spec(name)
    for item in spec.files:
        assert sha256_file(shared_data / spec.folder / item.name) == item.sha256, item.name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_counts_shape_and_types(name: str, shared_data: Path) -> None:
    loaded = _load(name, shared_data)
    frame, expected = loaded.frame, EXPECTED[name]
    assert get_spec(name).expected_rows == expected["rows"]
    assert len(frame) == expected["rows"]
    assert frame["task"].nunique() == expected["tasks"]
    assert frame["model"].nunique() == expected["models"]
    assert frame["method"].value_counts().to_dict() == expected["methods"]
    assert list(frame.columns) == list(INPUT_COLUMNS)
    # run key unique within the source
    assert not frame.duplicated([c for c in KEY_COLUMNS if c != "source"]).any()
    # accuracy-type scores are fractions
    for side in ("upstream", "downstream"):
        acc = frame[f"{side}_metric"].map(is_accuracy_metric) & frame[f"{side}_score"].notna()
        scores = frame.loc[acc, f"{side}_score"]
        assert scores.between(0.0, 1.0).all(), side
    # hparams is JSON text with sorted keys
    for text in frame["hparams"].dropna().drop_duplicates().head(200):
        parsed = json.loads(text)
        assert list(parsed) == sorted(parsed)
    # provenance
    info = loaded.info
    assert info.name == name
    assert info.commit is not None and info.commit in (info.url or "")
    assert info.sha256 is not None and len(info.sha256) == 64
    assert loaded.require_upstream == (name != "vtab")
    if loaded.require_upstream:
        assert frame.loc[frame["pretrained"], "upstream_score"].notna().all()
    record = loaded.to_record()
    assert json.loads(json.dumps(record))["n_rows"] == expected["rows"]
    summary = loaded.summary()
    assert summary["n_rows"].sum() == expected["rows"]
    assert "<table" in loaded._repr_html_()


def test_vtab_equals_the_long_copy(shared_data: Path) -> None:
    frame = _load("vtab", shared_data).frame
    regime = frame["hparams"].map(lambda text: json.loads(text)["regime"])
    long_rows = _rows(shared_data / "vtab" / "results_long.csv")
    assert len(long_rows) == len(frame) == 608
    loaded = {
        (m, r, t): s
        for m, r, t, s in zip(
            frame["model"], regime, frame["task"], frame["downstream_score"], strict=True
        )
    }
    for row in long_rows:
        score = loaded[(row["method"], row["regime"], row["dataset"])]
        assert math.isclose(score, float(row["accuracy"]) / 100, rel_tol=0, abs_tol=TOL)

    scratch = frame[frame["model"] == "From-Scratch"]
    assert len(scratch) == 38 and not scratch["pretrained"].any()
    assert scratch["pretrain_data"].isna().all()
    assert frame.loc[frame["model"] != "From-Scratch", "pretrained"].all()
    assert frame["upstream_score"].isna().all()
    assert (frame["shots"].eq(1000) == regime.eq("1000_examples")).all()
    assert frame["shots"].isna().sum() == 304
    row = _one(frame, model="Sup-100%", task="Pets", shots=1000)
    assert json.loads(row["hparams"])["tfhub_model"] == "https://tfhub.dev/vtab/sup-100/1"
    assert row["architecture"] == "ResNet50"


def test_timm_spot_values(shared_data: Path) -> None:
    frame = _load("timm", shared_data).frame
    folder = shared_data / "timm"
    imagenet = {(r["model"], r["img_size"]): r for r in _rows(folder / "results-imagenet.csv")}
    sketch = {(r["model"], r["img_size"]): r for r in _rows(folder / "results-sketch.csv")}
    # one name at two image sizes: two runs, each with its own upstream score
    convnext = frame[(frame["model"] == "convnext_base.fb_in1k") & (frame["task"] == "sketch")]
    sizes = convnext["hparams"].map(lambda text: str(json.loads(text)["img_size"]))
    assert sorted(sizes) == ["224", "288"]
    for size, (_, row) in zip(sizes, convnext.iterrows(), strict=True):
        key = ("convnext_base.fb_in1k", size)
        assert math.isclose(row["downstream_score"], float(sketch[key]["top1"]) / 100, abs_tol=TOL)
        assert math.isclose(row["upstream_score"], float(imagenet[key]["top1"]) / 100, abs_tol=TOL)
        assert row["shots"] == 0 and row["method"] == "zero_shot"
        assert row["upstream_task"] == "imagenet-1k" and row["upstream_metric"] == "top1"
    assert convnext["upstream_score"].nunique() == 2
    # thousands separator in param_count ("1,013.01" millions)
    giant = frame[frame["model"] == "eva_giant_patch14_336.clip_ft_in1k"]
    assert (giant["params"] == 1_013_010_000).all() and len(giant) == 5
    # the imagenet-a row without an ImageNet result is dropped; the others are kept
    assert "resmlp_24_224.fb_dino" not in set(frame["model"])
    per_task = frame["task"].value_counts().to_dict()
    assert per_task == {
        "imagenetv2-matched-frequency": 1556,
        "imagenet-real": 1556,
        "sketch": 1556,
        "imagenet-r": 1556,
        "imagenet-a": 1555,
    }
    # pretraining data from the (older, untagged) metadata names and from timm's tags
    pretrain = frame.drop_duplicates("model").set_index("model")["pretrain_data"]
    assert pretrain["tf_efficientnet_b7.ns_jft_in1k"] == "jft300m-ns"  # via tf_efficientnet_b7_ns
    assert pretrain["beit_base_patch16_224.in22k_ft_in22k_in1k"] == "in21k-selfsl"  # one variant
    assert pretrain["resnet50.a1_in1k"] == "in1k"  # no metadata match; the tag names only in1k
    assert pretrain["mixer_l16_224.goog_in21k_ft_in1k"] == "in21k"  # the tag wins over "in1k"
    assert pretrain["convnext_base.fb_in22k_ft_in1k"] == "in21k"  # in22k is ImageNet-21k
    assert pretrain["deit_base_distilled_patch16_224.fb_in1k"] == "in1k-dist"
    assert pd.isna(pretrain["eva_giant_patch14_224.clip_ft_in1k"])  # extra data the tag hides
    configs = frame[frame["task"] == "sketch"]["pretrain_data"]
    assert configs.isna().sum() == 32
    assert configs.value_counts()[["in1k", "in21k", "in12k"]].tolist() == [1115, 163, 64]
    # whole-table check: sum of sketch top-1 equals the file's
    published = sum(float(r["top1"]) for r in sketch.values()) / 100
    assert math.isclose(
        frame.loc[frame["task"] == "sketch", "downstream_score"].sum(), published, abs_tol=1e-9
    )  # 1,556 additions


def test_clip_spot_values(shared_data: Path) -> None:
    frame = _load("clip-benchmark", shared_data).frame
    folder = shared_data / "clip-benchmark"
    runs = json.loads((folder / "probe_benchmark_scaling_experiment_data2.json").read_text())
    zero_shot = {
        r["model_fullname"]: float(r["acc1"])
        for r in _rows(folder / "benchmark_benchmark.csv")
        if r["dataset"] == "imagenet1k" and r["task"] == "zeroshot_classification"
    }
    assert len(zero_shot) == 13  # 12 probed checkpoints + ViT-L-14-336 (not probed)
    picks = [
        r
        for r in runs
        if (r["model_short"], r["dataset"], r["lr"], r["epochs"])
        in {
            ("ViT-B-32 laion2b_s34b_b79k", "vtab/pets", 0.01, 20),
            ("ViT-L-14 openai", "cifar100", 0.1, 40),
        }
    ]
    assert len(picks) == 5  # k = 25 exists for cifar100 and imagenet1k-unverified only
    for run in picks:
        shots = None if run["fewshot_k"] == -1 else run["fewshot_k"]
        mask = (
            (frame["model"] == run["model_short"])
            & (frame["task"] == run["dataset"])
            & (frame["shots"].isna() if shots is None else frame["shots"].eq(shots).fillna(False))
            & frame["hparams"].str.contains(f'"epochs":{run["epochs"]},')
            & frame["hparams"].str.contains(f'"lr":{run["lr"]},')
        )
        row = frame[mask]
        assert len(row) == 1
        assert math.isclose(row["downstream_score"].iloc[0], run["lp_acc1"], abs_tol=TOL)
        assert math.isclose(
            row["upstream_score"].iloc[0], zero_shot[run["model_short"]], abs_tol=TOL
        )
        assert row["pretrain_data"].iloc[0] == run["upstream_dataset"]
        assert row["seed"].iloc[0] == 0 and row["method"].iloc[0] == "linear_probe"
    assert frame["shots"].isna().sum() == 2268
    assert frame["shots"].value_counts().to_dict() == {10: 2268, 25: 216}
    upstream = frame.drop_duplicates("model").set_index("model")["upstream_score"]
    assert upstream["ViT-B-32 laion2b_s34b_b79k"] == pytest.approx(0.665, abs=TOL)
    params = frame.drop_duplicates("architecture").set_index("architecture")["params"]
    assert params["ViT-B-32"] == 87_850_000  # image_mparams 87.85 in clip_table_2.csv


def test_pythia_spot_values(shared_data: Path) -> None:
    frame = _load("pythia", shared_data).frame
    published = _rows(shared_data / "pythia" / "pythia_v1_evals_long.csv")
    lambada = {
        (r["model"], r["step"]): float(r["value"])
        for r in published
        if r["task"] == "lambada_openai" and r["metric"] == "acc" and r["setting"] == "zero-shot"
    }
    assert len(lambada) == 432
    wanted = [
        ("pythia-1.4b-deduped", "five-shot", "103000", "hendrycksTest-nutrition", "acc"),
        ("pythia-12b", "zero-shot", "143000", "piqa", "acc_norm"),
        ("pythia-70m", "zero-shot", "0", "lambada_openai", "ppl"),
        ("pythia-410m-deduped", "zero-shot", "512", "arc_easy", "acc"),
    ]
    for model, setting, step, task, metric in wanted:
        (src,) = [
            r
            for r in published
            if (r["model"], r["setting"], r["step"], r["task"], r["metric"])
            == (model, setting, step, task, metric)
        ]
        row = _one(
            frame,
            model=f"{model}@step{step}",
            task=task,
            downstream_metric=metric,
            method=setting.replace("-", "_"),
        )
        assert math.isclose(row["downstream_score"], float(src["value"]), rel_tol=1e-15)
        assert math.isclose(row["downstream_stderr"], float(src["stderr"]), rel_tol=1e-15)
        assert math.isclose(row["upstream_score"], lambada[(model, step)], abs_tol=TOL)
        assert row["shots"] == int(src["num_fewshot"])
        assert row["pretrain_steps"] == int(step)
        assert row["pretrained"] == (step != "0")
        assert row["pretrain_data"] == ("pile-deduped" if "deduped" in model else "pile")
        assert json.loads(row["hparams"]) == {"series": model}
    assert (
        _one(
            frame,
            model="pythia-1.4b-deduped@step103000",
            task="piqa",
            downstream_metric="acc",
            method="zero_shot",
        )["params"]
        == 1_414_647_808
    )
    # the batch-size ablations have no zero-shot LAMBADA score: left out
    ablations = {r["model"] for r in published if "tokBS" in r["model"]}
    assert ablations == {"pythia-1b-0.5MtokBS", "pythia-70m-0.25MtokBS"}
    assert not frame["hparams"].str.contains("tokBS").any()
    n_ablation_rows = sum(1 for r in published if r["model"] in ablations)
    assert len(published) - n_ablation_rows == len(frame)
    step0 = frame[frame["pretrain_steps"] == 0]
    assert len(step0) == 2752 and not step0["pretrained"].any()


def test_mlf_scaling_spot_values(shared_data: Path) -> None:
    frame = _load("mlf-scaling", shared_data).frame
    folder = shared_data / "mlf-scaling"
    models = {r["name"]: r for r in _rows(folder / "models_flat.csv")}
    evals = _rows(folder / "evals_long.csv")
    for name, task, shots in [
        ("c4_original-d=1024_l=24_h=8-0.25", "agi_eval_lsat_ar", 3),
        ("rpj-open_lm_7b-1.0", "mmlu_zeroshot", 0),
        ("rw_original-d=96_l=8_h=4-32.0", "hellaswag", 10),
    ]:
        (src,) = [r for r in evals if r["name"] == name and r["task"] == task]
        row = _one(frame, model=name, task=task)
        assert math.isclose(row["downstream_score"], float(src["accuracy"]), abs_tol=TOL)
        assert math.isclose(row["upstream_score"], float(models[name]["loss_c4_val"]), abs_tol=TOL)
        assert row["upstream_metric"] == "loss" and row["upstream_task"] == "c4_val"
        assert row["shots"] == shots
        assert row["method"] == ("zero_shot" if shots == 0 else "few_shot")
        assert row["params"] == int(models[name]["params"])
        assert row["pretrain_data"] == models[name]["dataset"]
        assert row["architecture"] == models[name]["arch"]
        hparams = json.loads(row["hparams"])
        assert hparams["tokens"] == int(models[name]["tokens"])
        assert math.isclose(
            hparams["loss_paloma_ptb"], float(models[name]["loss_paloma_ptb"]), abs_tol=TOL
        )
        assert "loss_c4_val" not in hparams
