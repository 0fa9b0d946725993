"""Runs that can be compared: the same seed gives the same losses, a resume of another config is refused,
several datasets train as one set (features checked first), and plain BC needs no value column."""

import json
from pathlib import Path

import numpy as np
import pytest

from policy_ft.config import TrainConfig
from policy_ft.train import Trainer
from testing.synthetic_policy import make_value_dataset


@pytest.fixture(scope="module")
def two_datasets(tmp_path_factory):
    base = tmp_path_factory.mktemp("cmp")
    make_value_dataset(base / "a", episodes=2, length=12, image_size=16, seed=0)
    make_value_dataset(base / "b", episodes=3, length=10, image_size=16, seed=1)
    return base / "a", base / "b"


def _losses(out: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (out / "train_log.jsonl").read_text().splitlines()]


def _cfg(dataset, out, **kw):
    base = dict(
        dataset=dataset,
        out=out,
        policy="act",
        size="tiny",
        steps=3,
        batch_size=4,
        lr=1e-3,
        weighting="awr",
        chunk_length=4,
        save_every=1000,
    )
    return TrainConfig(**{**base, **kw})


def test_same_seed_same_losses_other_seed_other_losses(two_datasets, tmp_path):
    a, _ = two_datasets
    runs = [Trainer(_cfg(a, tmp_path / name, seed=seed)).run() for name, seed in (("r1", 0), ("r2", 0), ("r3", 1))]
    assert all(r["steps"] == 3 for r in runs)
    l1, l2, l3 = (_losses(tmp_path / n) for n in ("r1", "r2", "r3"))
    assert l1 == l2  # bit-identical, initial weights included
    assert l1[0] != l3[0]  # the seed reaches the initial weights (the step-1 loss differs)


def test_resume_with_another_config_is_refused_naming_the_fields(two_datasets, tmp_path):
    a, _ = two_datasets
    out = tmp_path / "run"
    Trainer(_cfg(a, out, steps=2)).run()
    record = (out / "weights_summary.json").read_text(), (out / "run_config.json").read_text()
    with pytest.raises(ValueError, match=r"another config: .*lr .*weighting \('awr' there, 'binary' now\)"):
        Trainer(_cfg(a, out, steps=2, weighting="binary", lr=5e-4))
    assert ((out / "weights_summary.json").read_text(), (out / "run_config.json").read_text()) == record
    # more steps of the same config resume; --no-resume starts over on purpose
    more = Trainer(_cfg(a, out, steps=4)).run()
    assert more["resumed"] and more["steps"] == 4
    assert not Trainer(_cfg(a, out, steps=1, weighting="binary", resume=False)).run()["resumed"]


def test_several_datasets_train_as_one_set(two_datasets, tmp_path):
    a, b = two_datasets
    tr = Trainer(_cfg((a, b), tmp_path / "ab", weighting="binary"))
    n_a, n_b = 2 * 12, 3 * 10
    assert len(tr.dataset) == len(tr.delta) == n_a + n_b
    # every frame has its own index in the concatenated space, the one the weight table is looked up with
    assert sorted(int(tr.dataset[i]["index"]) for i in range(len(tr.dataset))) == list(range(n_a + n_b))
    # Δ is computed within each dataset (a's second episode regresses, b's first one progresses)
    from policy_ft.data import chunk_deltas

    assert np.array_equal(tr.delta, np.concatenate([chunk_deltas(a, 4), chunk_deltas(b, 4)]))
    assert tr.delta[n_a - 2] < 0 < tr.delta[n_a]
    assert tr.run()["steps"] == 3


def test_datasets_with_different_features_are_refused_before_any_model(two_datasets, tmp_path):
    a, _ = two_datasets
    other = tmp_path / "c"
    make_value_dataset(other, episodes=1, length=8, image_size=16, state_dim=5)
    with pytest.raises(ValueError, match=r"does not match .* on feature 'observation.state'"):
        Trainer(_cfg((a, other), tmp_path / "o"))
    assert not (tmp_path / "o").exists()


def test_plain_bc_needs_no_value_column(tmp_path):
    bare = tmp_path / "bare"
    make_value_dataset(bare, episodes=2, length=8, image_size=16, with_value=False)
    with pytest.raises(ValueError, match="no 'value' column"):
        Trainer(_cfg(bare, tmp_path / "awr"))
    res = Trainer(_cfg(bare, tmp_path / "bc", weighting="none", steps=2)).run()
    assert res["steps"] == 2 and res["weights"]["kept_fraction"] == 1.0


def test_cli_takes_repeated_dataset_flags(two_datasets):
    import tyro

    a, b = two_datasets
    cfg = tyro.cli(TrainConfig, args=["--dataset", str(a), "--dataset", str(b), "--out", "x"])
    assert cfg.dataset == (a, b)
    assert np.array_equal(TrainConfig(dataset=a, out=Path("x")).resolved().dataset, (a,))
