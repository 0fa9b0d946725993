"""The MLP chunk policy (`policy_ft train --policy mlp_chunk`): its loss against a hand-computed L1 with
padding, its registration as a LeRobot plugin, and the whole path a downstream arm takes on real data:
`policy_ft train` on a RoboSuite dataset -> the checkpoint loaded back by lerobot's factory -> rolled out in
real physics locally and over the openpi websocket protocol (`policy_ft serve`)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import torch


def _policy(state_dim=3, env_dim=2, action_dim=2, chunk=3):
    from lerobot.configs.types import FeatureType, PolicyFeature

    from policy_ft.mlp_chunk import MLPChunkPolicy
    from policy_ft.policies import make_config

    cfg = make_config("mlp_chunk", chunk_length=chunk, size="tiny")
    cfg.input_features = {
        "observation.state": PolicyFeature(FeatureType.STATE, (state_dim,)),
        "observation.environment_state": PolicyFeature(FeatureType.ENV, (env_dim,)),
    }
    cfg.output_features = {"action": PolicyFeature(FeatureType.ACTION, (action_dim,))}
    return MLPChunkPolicy(cfg)


def test_per_sample_loss_is_the_l1_over_unpadded_steps():
    from policy_ft.policies import per_sample_loss

    policy = _policy()
    with torch.no_grad():  # a constant prediction: every output is its bias, 0.5
        for p in policy.net.parameters():
            p.zero_()
        policy.net[-1].bias.fill_(0.5)
    batch = {
        "observation.state": torch.zeros(2, 3),
        "observation.environment_state": torch.zeros(2, 2),
        "action": torch.tensor([[[1.0, 0.0], [0.5, 0.5], [9.0, 9.0]], [[0.0, 0.0], [0.0, 1.0], [2.5, 0.5]]]),
        "action_is_pad": torch.tensor([[False, False, True], [False, False, False]]),
    }
    losses = per_sample_loss(policy, batch)
    # sample 0: |0.5-1| + |0.5-0| + 0 + 0 over 2 steps x 2 dims (the padded step is out) = 1.0 / 4
    # sample 1: 0.5 + 0.5 + 0.5 + 0.5 + 2.0 + 0 over 3 x 2 = 4.0 / 6
    assert torch.allclose(losses, torch.tensor([0.25, 4.0 / 6]))
    mean, info = policy.forward(batch)
    assert torch.isclose(mean, losses.mean()).item() and info["l1_loss"] == pytest.approx(float(losses.mean()))


def test_sizes_and_refusals():
    from lerobot.configs.types import FeatureType, PolicyFeature

    from policy_ft.mlp_chunk import MLPChunkPolicy
    from policy_ft.policies import make_config

    assert [(c.n_layers, c.hidden_dim) for c in (make_config("mlp_chunk", 10, s) for s in ("small", "default"))] == [
        (2, 256),
        (2, 512),
    ]
    cfg = make_config("mlp_chunk", 10, "tiny")
    cfg.input_features = {"observation.images.agentview": PolicyFeature(FeatureType.VISUAL, (3, 32, 32))}
    cfg.output_features = {"action": PolicyFeature(FeatureType.ACTION, (7,))}
    with pytest.raises(ValueError, match="state vectors only"):
        MLPChunkPolicy(cfg)
    with pytest.raises(ValueError, match="n_action_steps"):
        make_config("mlp_chunk", 10, "tiny").__class__(chunk_size=4, n_action_steps=5)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """policy_ft train on one recorded Lift episode (state-only), 30 steps."""
    from policy_ft.config import TrainConfig
    from policy_ft.train import run_train
    from robosuite_eval.config import GenerateConfig
    from robosuite_eval.generate import run_generate

    tmp = tmp_path_factory.mktemp("mlp")
    root = tmp / "lift"
    run_generate(
        GenerateConfig(out=root, task="lift", mode="expert", episodes=1, seed=3, cameras=(), workers=0, generator="v2")
    )
    result = run_train(
        TrainConfig(
            dataset=(root,),
            out=tmp / "run",
            policy="mlp_chunk",
            size="tiny",
            weighting="none",
            preset="none",
            chunk_length=4,
            steps=30,
            batch_size=16,
            lr=1e-3,
            inputs=("observation.state", "observation.environment_state"),
            save_every=30,
            device="cpu",
        )
    )
    return result


def test_trained_checkpoint_loads_through_lerobots_factory(trained):
    from lerobot.configs.policies import PreTrainedConfig

    from policy_ft.policies import load_checkpoint

    path = Path(trained["checkpoint"])
    assert json.loads((path / "config.json").read_text())["type"] == "mlp_chunk"
    log = [json.loads(x) for x in (path.parents[2] / "train_log.jsonl").read_text().splitlines() if x.strip()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert losses and losses[-1] < losses[0]  # it learns
    policy, pre, post = load_checkpoint(path)
    assert isinstance(PreTrainedConfig.from_pretrained(str(path)), type(policy.config))
    assert policy.input_keys == ["observation.environment_state", "observation.state"]


def test_rolled_out_locally_and_over_the_websocket(trained, tmp_path):
    from policy_ft.serve import PolicyRunner, make_server
    from robosuite_eval.config import RolloutConfig
    from robosuite_eval.rollout import run_rollout

    ckpt = str(trained["checkpoint"])
    local = run_rollout(
        RolloutConfig(policy=ckpt, task="lift", trials=1, seed=5, max_steps=16, videos=0, out=tmp_path / "a")
    )
    assert local["cameras"] == {} and local["replan_steps"] == 4
    assert local["per_trial"][0]["control_steps"] == 16 and local["per_trial"][0]["inferences"] == 2
    server = make_server(PolicyRunner(Path(trained["checkpoint"])), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        remote = run_rollout(
            RolloutConfig(
                policy=f"ws://127.0.0.1:{server.socket.getsockname()[1]}",
                task="lift",
                trials=1,
                seed=5,
                max_steps=16,
                videos=0,
                out=tmp_path / "b",
            )
        )
    finally:
        server.shutdown()
    # the same policy on the same placement: the same trajectory whichever way it is served
    assert remote["per_trial"][0]["control_steps"] == local["per_trial"][0]["control_steps"]
    assert remote["per_trial"][0]["success"] == local["per_trial"][0]["success"]
