"""The embedded default value model ships, loads by name, and labels a fresh RoboSuite expert episode
with rising progress."""

from __future__ import annotations

import json

import numpy as np


def test_default_model_ships_small_with_a_model_card():
    from value_labeling.models import available_models, default_model_name
    from value_labeling.models.default import DEFAULT_DIR

    assert default_model_name() == "default" and "default" in available_models()
    size = sum(f.stat().st_size for f in DEFAULT_DIR.iterdir() if f.is_file())
    assert size <= 25 * 2**20, f"{size / 2**20:.1f} MiB"
    assert not list(DEFAULT_DIR.glob("optimizer*")), "optimizer state must not ship"
    card = (DEFAULT_DIR / "MODEL_CARD.md").read_text()
    assert "Hesitation-RMSE" in card and "Not scored yet" not in card
    assert json.loads((DEFAULT_DIR / "wvm.json").read_text())["model"]["preset"] == "wvm-tiny"


def test_default_model_rises_on_an_unseen_robosuite_expert_episode(tmp_path):
    from robodata.dataset import open_dataset, read_episode_frames, resolve_camera
    from robosuite_eval.config import GenerateConfig
    from robosuite_eval.generate import run_generate
    from value_labeling.bench.metrics import value_order_correlation
    from value_labeling.models import load_value_model, model_camera
    from value_labeling.models.default import DEFAULT_DIR

    root = tmp_path / "lift"
    # seed 900000: neither the bench's seeds (0..) nor the training seeds (100000.., 200000..); the generator
    # the default was trained on (its build.json records it), human-paced since recipe v2
    generator = json.loads((DEFAULT_DIR / "build.json").read_text())["recipe_fields"]["generator"] or "v1"
    run_generate(
        GenerateConfig(
            out=root,
            task="lift",
            mode="expert",
            episodes=1,
            seed=900_000,
            image_size=64,
            workers=0,
            generator=generator,
        )
    )
    ds = open_dataset(root)
    model = load_value_model("default")
    camera = resolve_camera(ds, None, model_camera(model))
    assert camera == "observation.images.robot0_eye_in_hand"  # its training view, picked without --camera
    frames = read_episode_frames(ds, 0, camera)
    v = model.predict(frames, float(ds.meta.fps), "lift the red cube")
    assert v.shape == (len(frames),) and np.all((v >= 0) & (v <= 1))
    np.testing.assert_array_equal(v, model.predict(frames, float(ds.meta.fps), "lift the red cube"))  # seeded
    assert v[-5:].mean() - v[:5].mean() > 0.5, v
    assert value_order_correlation(v) > 0.8
