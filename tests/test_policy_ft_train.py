"""Training tiny ACT and tiny π0.5 with value weights on a dataset the test writes, checkpoints, resume,
serving over the openpi protocol, and bad input refused before any step."""

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from policy_ft.config import TrainConfig  # noqa: E402
from policy_ft.train import Trainer  # noqa: E402
from testing.synthetic_policy import make_value_dataset, make_word_tokenizer  # noqa: E402


@pytest.fixture(scope="module")
def value_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("pft") / "lift"
    make_value_dataset(root, episodes=4, length=20, image_size=32)
    return root


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return make_word_tokenizer(tmp_path_factory.mktemp("tok") / "paligemma_like")


def _losses(out: Path, key="loss_unweighted"):
    return [json.loads(line)[key] for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_act_per_sample_loss_mean_equals_lerobot_loss(value_dataset, tmp_path):
    from policy_ft.policies import per_sample_loss

    tr = Trainer(
        TrainConfig(
            dataset=value_dataset,
            out=tmp_path / "o",
            policy="act",
            size="tiny",
            steps=1,
            batch_size=4,
            weighting="none",
            chunk_length=5,
        )
    )
    batch = tr.pre(next(iter(torch.utils.data.DataLoader(tr.dataset, batch_size=4))))
    tr.policy.train()
    torch.manual_seed(3)
    ours = per_sample_loss(tr.policy, batch)
    torch.manual_seed(3)
    theirs, _ = tr.policy.forward(batch)
    assert ours.shape == (4,)
    torch.testing.assert_close(ours.mean(), theirs, rtol=1e-5, atol=1e-6)


def test_tiny_act_trains_checkpoints_and_resumes(value_dataset, tmp_path):
    out = tmp_path / "act"
    cfg = TrainConfig(
        dataset=value_dataset,
        out=out,
        policy="act",
        size="tiny",
        steps=24,
        batch_size=8,
        lr=1e-3,
        weighting="awr",
        preset="robosuite",
        save_every=12,
    )
    trainer = Trainer(cfg)
    result = trainer.run()
    losses = _losses(out)
    assert len(losses) == 24 and np.mean(losses[-5:]) < 0.5 * np.mean(losses[:3])
    log = json.loads((out / "train_log.jsonl").read_text().splitlines()[0])
    assert {"weight_raw_mean", "weight_frac_zero", "weight_frac_clipped", "loss"} <= set(log)
    ckpt = Path(result["checkpoint"])
    assert ckpt.parent.name == "000024" and (out / "checkpoints" / "000012" / "pretrained_model").is_dir()

    # lerobot's own from_pretrained loads it, with the trained weights.
    from lerobot.policies.act.modeling_act import ACTPolicy

    loaded = ACTPolicy.from_pretrained(str(ckpt))
    assert loaded.config.chunk_size == 10  # the robosuite preset's H
    trained = trainer.policy.state_dict()
    for k, v in loaded.state_dict().items():
        torch.testing.assert_close(v, trained[k].cpu(), rtol=0, atol=0)

    # Resume: asking for 30 steps continues at 24 and only runs 6 more.
    more = Trainer(TrainConfig(**{**cfg.__dict__, "steps": 30})).run()
    assert more["resumed"] and more["steps"] == 30 and len(_losses(out)) == 30


def test_tiny_pi05_trains_and_serves_over_openpi_protocol(value_dataset, tokenizer, tmp_path):
    out = tmp_path / "pi05"
    cfg = TrainConfig(
        dataset=value_dataset,
        out=out,
        policy="pi05",
        size="tiny",
        steps=60,
        batch_size=8,
        lr=3e-3,
        weighting="binary",
        tokenizer=tokenizer,
        save_every=1000,
    )
    result = Trainer(cfg).run()
    losses = _losses(out)
    assert np.mean(losses[-10:]) < 0.85 * np.mean(losses[:10])
    frac_zero = [json.loads(x)["weight_frac_zero"] for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert 0 < np.mean(frac_zero) < 1  # regressing episodes are filtered out

    from openpi_client.websocket_client_policy import WebsocketClientPolicy

    from policy_ft.serve import PolicyRunner, make_server

    runner = PolicyRunner(result["checkpoint"])
    # The loaded weights are the trained ones, not lerobot's silent random fallback.
    from safetensors.torch import load_file

    saved = load_file(str(Path(result["checkpoint"]) / "model.safetensors"))
    k = "model.action_out_proj.weight"
    torch.testing.assert_close(runner.policy.state_dict()[k], saved[k])

    server = make_server(runner, "127.0.0.1", 0)
    port = server.socket.getsockname()[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = WebsocketClientPolicy(host="127.0.0.1", port=port)
        meta = client.get_server_metadata()
        assert meta["policy_type"] == "pi05" and meta["action_dim"] == 2 and meta["chunk_size"] == 10
        obs = {
            "observation/images/cam": np.zeros((32, 32, 3), np.uint8),
            "observation/state": np.zeros(3, np.float32),
            "prompt": "lift the cube",
        }
        reply = client.infer(obs)
        assert reply["actions"].shape == (10, 2) and reply["actions"].dtype == np.float32
        assert np.all(np.isfinite(reply["actions"]))
        with pytest.raises(RuntimeError, match="missing 'observation.state'"):
            client.infer({"prompt": "lift the cube"})
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_bad_input_is_refused_before_training(value_dataset, tmp_path):
    # no value column: names the curate command
    bare = tmp_path / "bare"
    make_value_dataset(bare, episodes=1, length=6, with_value=False)
    with pytest.raises(ValueError, match="curate label-values"):
        Trainer(TrainConfig(dataset=bare, out=tmp_path / "o1", policy="act", size="tiny", steps=1))
    # a weighting that keeps nothing: κ above every Δ
    with pytest.raises(ValueError, match="weight 0"):
        Trainer(
            TrainConfig(
                dataset=value_dataset,
                out=tmp_path / "o2",
                policy="act",
                size="tiny",
                steps=1,
                weighting="binary",
                kappa=5.0,
            )
        )
    # a checkpoint of another policy type
    ckpt = tmp_path / "fake_ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"type": "diffusion"}))
    with pytest.raises(ValueError, match="'diffusion' checkpoint"):
        Trainer(TrainConfig(dataset=value_dataset, out=tmp_path / "o3", policy="act", pretrained=ckpt, steps=1))
    # π0.5 without a local tokenizer
    with pytest.raises(ValueError, match="--tokenizer"):
        Trainer(TrainConfig(dataset=value_dataset, out=tmp_path / "o4", policy="pi05", size="tiny", steps=1))
    # nothing was written by any of them
    assert not any((tmp_path / f"o{i}" / "checkpoints").exists() for i in range(1, 5))


def test_pretrained_act_with_mismatched_features_is_refused(value_dataset, tmp_path):
    out = tmp_path / "act"
    res = Trainer(TrainConfig(dataset=value_dataset, out=out, policy="act", size="tiny", steps=1, batch_size=4)).run()
    other = tmp_path / "other"
    make_value_dataset(other, episodes=1, length=12, state_dim=5)
    with pytest.raises(ValueError, match="observation.state"):
        Trainer(
            TrainConfig(dataset=other, out=tmp_path / "o", policy="act", pretrained=Path(res["checkpoint"]), steps=1)
        )


def test_cli_presets_and_help(capsys):
    from policy_ft.cli import main

    main(["presets"])
    out = capsys.readouterr().out
    assert "robosuite" in out and "agilex" in out and "0.02" in out and "0.06" in out


def test_tiny_diffusion_per_sample_loss_trains_and_infers(value_dataset, tmp_path):
    from policy_ft.policies import per_sample_loss
    from policy_ft.serve import PolicyRunner

    cfg = TrainConfig(
        dataset=value_dataset,
        out=tmp_path / "diff",
        policy="diffusion",
        size="tiny",
        steps=30,
        batch_size=8,
        lr=1e-3,
        weighting="percentile",
    )
    tr = Trainer(cfg)
    assert tr.policy.config.horizon == 12  # H=10 rounded up to the U-Net's multiple of 4
    batch = tr.pre(next(iter(torch.utils.data.DataLoader(tr.dataset, batch_size=4))))
    torch.manual_seed(5)
    ours = per_sample_loss(tr.policy, batch)
    torch.manual_seed(5)
    theirs, _ = tr.policy.forward(batch)
    torch.testing.assert_close(ours.mean(), theirs, rtol=1e-5, atol=1e-6)
    result = tr.run()
    losses = _losses(tmp_path / "diff")
    assert np.mean(losses[-10:]) < np.mean(losses[:5])
    assert result["weights"]["kept_fraction"] == pytest.approx(0.7, abs=0.03)  # top 70% of the training set
    runner = PolicyRunner(result["checkpoint"])
    runner.reset()
    obs = {"observation.images.cam": np.zeros((32, 32, 3), np.uint8), "observation.state": np.zeros(3, np.float32)}
    assert runner.infer(obs)["actions"].shape == (10, 2)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tiny_act_trains_data_parallel_on_two_cpu_processes(value_dataset, tmp_path):
    """`accelerate launch --multi_gpu --num_processes 2` really starts 2 processes (DDP over gloo on a CPU);
    each draws its own batch of 4, only the main process logs and writes a lerobot checkpoint."""
    import os
    import subprocess
    import sys

    out = tmp_path / "ddp"
    script = tmp_path / "policy_ft_main.py"  # what the `policy_ft` console script runs
    script.write_text("import sys\nfrom policy_ft.cli import main\nsys.exit(main())\n")
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "PYTHONPATH": str(Path(__file__).parents[1]),
    }
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(_free_port()),
        str(script),
        "train",
        "--dataset",
        str(value_dataset),
        "--out",
        str(out),
        "--policy",
        "act",
        "--size",
        "tiny",
        "--steps",
        "4",
        "--batch-size",
        "4",
        "--chunk-length",
        "5",
        "--weighting",
        "awr",
        "--device",
        "cpu",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "4 steps on 2 processes" in proc.stdout

    logs = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logs] == [1, 2, 3, 4]  # one writer: no duplicated lines
    assert all(r["num_processes"] == 2 and r["samples"] == 8 for r in logs)  # 2 x the per-process batch
    assert all(np.isfinite(r["loss"]) for r in logs)
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["num_processes"] == 2 and summary["global_batch_size"] == 8

    ckpt = out / "checkpoints" / "000004" / "pretrained_model"
    assert Path(summary["checkpoint"]) == ckpt and not list((out / "checkpoints").glob(".*.tmp"))
    from lerobot.policies.act.modeling_act import ACTPolicy
    from safetensors.torch import load_file

    from policy_ft.serve import PolicyRunner

    saved = load_file(str(ckpt / "model.safetensors"))
    assert not any(k.startswith(("module.", "policy.")) for k in saved)  # the unwrapped policy's names
    loaded = ACTPolicy.from_pretrained(str(ckpt))
    for k, v in loaded.state_dict().items():
        torch.testing.assert_close(v, saved[k], rtol=0, atol=0)
    runner = PolicyRunner(str(ckpt))
    runner.reset()
    obs = {"observation.images.cam": np.zeros((32, 32, 3), np.uint8), "observation.state": np.zeros(3, np.float32)}
    assert runner.infer(obs)["actions"].shape == (5, 2)


def test_concatenated_datasets_keep_only_the_keys_every_one_has():
    """A value column labelled on one dataset and not yet on another must not break batching."""
    import torch

    from policy_ft.sources import concat_datasets

    a = [{"index": torch.tensor(i), "action": torch.zeros(2), "value": torch.tensor(0.5)} for i in range(2)]
    b = [{"index": torch.tensor(i), "action": torch.ones(2)} for i in range(3)]
    both = concat_datasets([a, b])
    items = [both[i] for i in range(len(both))]
    assert [int(x["index"]) for x in items] == [0, 1, 2, 3, 4]  # b's indices shifted past a's
    assert all(set(x) == {"index", "action"} for x in items)
    batch = torch.utils.data.default_collate(items)
    assert batch["action"].shape == (5, 2)
