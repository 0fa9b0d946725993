"""WVM chunked inference: overlap averaging, prefix chaining, padding, checkpoint round trip, registry."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from value_labeling.wvm.inference import chunked_predict, window_anchors

H = 4


class StubModel(torch.nn.Module):
    """Stands in for WVM: 'video features' are the frames' pixel values, the value head returns
    either those features / 100 or prefix + 0.1, so the averaging can be checked by hand."""

    def __init__(self, mode: str):
        super().__init__()
        self.cfg = SimpleNamespace(chunk=H, num_layers=1)
        self.mode = mode
        self.w = torch.nn.Parameter(torch.zeros(()))  # gives the stub a device
        self.clips, self.prefixes = [], []

    def context_kv(self, clip, text):  # clip (B, 1+h, H, W, 3)
        self.clips.append(clip[:, :, 0, 0, 0].clone())
        f = clip[:, 1:, 0, 0, 0].float()  # (B, h) current frames only
        return [(f, f)]

    def predict_values(self, kv, prefix, text, steps=None, generator=None):
        self.prefixes.append(float(prefix[0]))
        if self.mode == "features":
            return kv[0][0] / 100.0
        return prefix.view(-1, 1) + 0.1 * torch.ones(prefix.shape[0], H)


def _frames(n):
    return np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 2, 2, 3)).copy()


def test_window_anchors_cover_the_episode():
    assert window_anchors(8, 4, 2) == [3, 5, 7]
    assert window_anchors(9, 4, 2) == [3, 5, 7, 8]  # the last window always ends on the last frame
    assert window_anchors(4, 4, 2) == [3]


def test_overlap_average_and_prefix_chain_by_hand():
    m = StubModel("prefix")
    v = chunked_predict(m, _frames(8), torch.zeros(1, 1, 1), stride=2)
    # w0 t=3: prefix 0 -> 0.1 on 0..3; w1 t=5: prefix v1=0.1 -> 0.2 on 2..5;
    # w2 t=7: prefix v3=(0.1+0.2)/2=0.15 -> 0.25 on 4..7; overlaps averaged.
    np.testing.assert_allclose(m.prefixes, [0.0, 0.1, 0.15], atol=1e-6)
    np.testing.assert_allclose(v, [0.1, 0.1, 0.15, 0.15, 0.225, 0.225, 0.25, 0.25], atol=1e-6)
    # Each clip is [prefix frame t-h (frame 0 repeated before the start), frames t-h+1..t]: no future frames.
    clips = torch.cat(m.clips).tolist()
    assert clips == [[0, 0, 1, 2, 3], [1, 2, 3, 4, 5], [3, 4, 5, 6, 7]]


def test_predictions_are_clipped_and_per_frame():
    v = chunked_predict(StubModel("features"), _frames(11) * 20, torch.zeros(1, 1, 1), stride=2)
    want = np.clip(np.arange(11) * 20 / 100.0, 0, 1)  # each frame's own feature, whatever the overlap
    np.testing.assert_allclose(v, want, atol=1e-6)


def test_short_clip_is_padded_with_the_first_frame():
    m = StubModel("features")
    v = chunked_predict(m, _frames(2) + 7, torch.zeros(1, 1, 1))
    assert torch.cat(m.clips).tolist() == [[7, 7, 7, 7, 8]]  # padded at the front by repeating frame 0
    np.testing.assert_allclose(v, [0.07, 0.08], atol=1e-6)  # padded positions dropped


@pytest.fixture(scope="module")
def tiny_ckpt(synthetic_bench, tmp_path_factory):
    from value_labeling.wvm.config import DataConfig, ScheduleConfig, TrainConfig
    from value_labeling.wvm.train import run_train

    out = tmp_path_factory.mktemp("wvm") / "run"
    run_train(
        TrainConfig(
            out=out,
            data=DataConfig(roots=(synthetic_bench,), camera="front"),
            batch_size=2,
            log_every=1,
            save_every=100,
            schedule=ScheduleConfig(steps=2, warmup_steps=1),
        )
    )
    return out


def test_checkpoint_round_trip_through_the_registry(tiny_ckpt, synthetic_bench):
    from robodata.dataset import open_dataset, read_episode_frames, resolve_camera
    from value_labeling.models import load_value_model
    from value_labeling.wvm.checkpoint import load_model, resolve
    from value_labeling.wvm.inference import WVMValueModel

    a = load_value_model(str(tiny_ckpt))  # via the registered checkpoint loader
    assert isinstance(a, WVMValueModel) and a.target_fps == 2.0
    assert a.camera == "front"  # the training camera travels with the checkpoint
    b = WVMValueModel.from_checkpoint(resolve(tiny_ckpt), device="cpu")  # the step dir itself
    ds = open_dataset(synthetic_bench)
    frames = read_episode_frames(ds, 0, resolve_camera(ds, None), np.arange(0, 60, 5))
    va = a.predict(frames, 2.0, "slide the square to the goal")
    vb = b.predict(frames, 2.0, "slide the square to the goal")
    assert va.shape == (len(frames),) and np.all((va >= 0) & (va <= 1))
    np.testing.assert_array_equal(va, vb)  # same weights, same seeded Euler noise
    assert a.fingerprint() == b.fingerprint()
    # Weights survive the round trip exactly.
    m1, *_ = load_model(tiny_ckpt)
    m2, *_ = load_model(resolve(tiny_ckpt))
    s1, s2 = m1.state_dict(), m2.state_dict()
    assert s1.keys() == s2.keys() and all(torch.equal(s1[k], s2[k]) for k in s1)
    # Frames at another rate are resampled to 2 fps and interpolated back.
    v10 = a.predict(read_episode_frames(ds, 0, resolve_camera(ds, None), np.arange(0, 60)), 10.0, "slide")
    assert v10.shape == (60,) and np.all((v10 >= 0) & (v10 <= 1))


def test_wrong_preset_and_missing_checkpoint_are_clear_errors(tiny_ckpt, tmp_path):
    from value_labeling.models import load_value_model
    from value_labeling.wvm.checkpoint import load_model

    with pytest.raises(ValueError, match="wvm-tiny"):
        load_model(tiny_ckpt, expect_preset="wvm-5b")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a checkpoint"):
        load_value_model(str(tmp_path / "empty"))
