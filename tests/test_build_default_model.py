"""bench/build_default_model.py's recipes: which datasets each stage reads, the generator check, and a tiny
end-to-end build (synthetic data in place of RoboSuite generation, 1-step stages) in which the WVM and the
learned baselines learn values from exactly the same datasets."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Literal

import pytest

import bench.build_default_model as bdm
import bench.default_recipe as recipe_module
from bench.default_recipe import CAMERA, RECIPES, TASKS, check_generator, training_data, wvm_tag


def test_recipes_route_the_labelled_split_into_value_data_only_in_v2(tmp_path):
    v1 = training_data(tmp_path, RECIPES["v1"], make=False)
    assert v1.experts == [tmp_path / "train" / f"{t}_expert" for t in TASKS]  # the shipped build's names
    assert v1.sub == [tmp_path / "train_sub" / f"{t}_{m}" for m in ("hesitation", "retry") for t in TASKS]
    assert v1.value == v1.experts and v1.video == v1.experts + v1.sub
    assert "value_extra" not in v1.describe and v1.describe["world_model_extra"].endswith("video pretraining only")

    v2 = training_data(tmp_path, RECIPES["v2"], make=False)
    assert v2.experts[0] == tmp_path / "train_v2" / "lift_expert" and v2.sub[0].parent == tmp_path / "train_sub_v2"
    assert v2.value == v2.experts + v2.sub and v2.video == v2.experts + v2.sub
    assert "generator v2" in v2.describe["expert_demonstrations"] and "value_extra" in v2.describe
    assert RECIPES["v2"].baselines and RECIPES["v2"].generator == "v2"


def test_stage_names_keep_v1_caches_and_separate_other_choices():
    assert wvm_tag(RECIPES["v1"]) == CAMERA  # the shipped model's stages resume under their old names
    names = {
        wvm_tag(r)
        for r in (
            RECIPES["v1"],
            RECIPES["v2"],
            dataclasses.replace(RECIPES["v2"], prefix_p=1.0),
            dataclasses.replace(RECIPES["v1"], sub_as_value_data=True),
            dataclasses.replace(RECIPES["v1"], tasks=("lift",)),
        )
    }
    assert len(names) == 5


def test_generator_check_is_one_clear_line():
    @dataclasses.dataclass(frozen=True)
    class NoFlag:
        out: Path

    @dataclasses.dataclass(frozen=True)
    class OnlyV1:
        out: Path
        generator: Literal["v1"] = "v1"

    @dataclasses.dataclass(frozen=True)
    class Both:
        out: Path
        generator: Literal["v1", "v2"] = "v1"

    check_generator(None, NoFlag)  # v1 recipes pass nothing
    check_generator("v2", Both)
    for cfg in (NoFlag, OnlyV1):
        with pytest.raises(SystemExit) as e:
            check_generator("v2", cfg)
        msg = str(e.value)
        assert "\n" not in msg and "--generator" in msg and "v2" in msg and "--recipe v1" in msg


def test_tiny_build_trains_wvm_and_baselines_on_the_same_datasets(tmp_path, monkeypatch):
    from testing.synthetic_bench import CAMERA as SYN_CAMERA
    from testing.synthetic_bench import make_synthetic_bench

    made = []

    def fake_generate(out, mode, episodes, seed, generator=None, tasks=()):
        roots = []
        for t in tasks:
            root = out / f"{t}_{mode}"
            if not root.exists():  # like the generator: a rerun finds the data and does nothing
                counts = {m: episodes if m == mode else 0 for m in ("expert", "hesitation", "retry")}
                make_synthetic_bench(root, counts["expert"], counts["hesitation"], counts["retry"], seed=seed % 97)
                made.append(root)
            roots.append(root)
        return roots

    monkeypatch.setattr(recipe_module, "generate", fake_generate)
    recipe = dataclasses.replace(
        RECIPES["v2"],
        generator=None,  # the synthetic stand-in needs no generator flag
        tasks=("lift",),
        episodes=1,
        sub_episodes=1,
        prefix_p=1.0,
        pretrain_steps=1,
        steps=1,
        batch_size=2,
        baseline_steps=1,
        camera=SYN_CAMERA,
    )
    ckpt = bdm.build(tmp_path, recipe, "v2-tiny")
    from bench.build_baselines import train_baselines

    runs = train_baselines(tmp_path, recipe, ["frame-regressor"], install_them=False, command="test", batch=2, width=8)
    assert len(made) == 3  # expert, hesitation, retry of the one task; the baselines reused them

    from value_labeling.baselines.model import resolve as resolve_baseline
    from value_labeling.wvm.checkpoint import resolve

    wvm = json.loads((resolve(ckpt) / "wvm.json").read_text())["train"]
    base = json.loads((resolve_baseline(runs["frame-regressor"]) / "baseline.json").read_text())["train"]
    data = training_data(tmp_path, recipe, make=False)
    assert [Path(p) for p in wvm["data"]["roots"]] == data.value == [Path(p) for p in base["data"]]
    assert {p.name for p in data.value} == {"lift_expert", "lift_hesitation", "lift_retry"}
    assert wvm["objective"]["prefix_p"] == 1.0 and wvm["data"]["camera"] == SYN_CAMERA
    build = json.loads((tmp_path / f"build_{wvm_tag(recipe)}.json").read_text())
    assert build["recipe"] == "v2-tiny" and build["data"]["value_extra"].startswith("1 x 1 hesitation + 1 retry")
    # Resumable: a second build finds every stage done and trains nothing more.
    before = (resolve(ckpt) / "model.safetensors").read_bytes()
    bdm.build(tmp_path, recipe, "v2-tiny")
    assert (resolve(ckpt) / "model.safetensors").read_bytes() == before and len(made) == 3

    # The card writer reads this checkpoint's (nested) training config and the labelled value data.
    import value_labeling.models.default_card as card

    shipped = tmp_path / "shipped"
    shutil.copytree(resolve(ckpt), shipped)
    shutil.copy(tmp_path / "build.json", shipped / "build.json")
    monkeypatch.setattr(card, "DEFAULT_DIR", shipped)
    text = card.model_card_text(results=tmp_path / "no_results", fingerprint="none")
    assert "prefix p = 1," in text and "- Labelled non-expert value data: 1 x 1 hesitation + 1 retry" in text
    assert "Not scored yet" in text
