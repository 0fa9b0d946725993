"""The default model's card carries no typed-in figure (issue 13, part 4).

Rule for "a number in the card" (documented here because the test is the rule):
- The committed MODEL_CARD.md is read as text. Inline code spans (`...`) are removed first: they hold
  commands, paths, model and row names (`wvm-tiny`, `bench_r4`, `prefix_p1`), not figures.
- A number is a decimal token `[-+]?D[.D]`, optionally in scientific notation, that is not glued to a
  word: a digit run preceded by a letter, digit, `_`, `.` or `-` (L6, v2, Wan2.2, Table A.1, T-1) or followed
  by a letter, digit or `_` (5B) is part of a name, not a figure. `AxB` between digits (64x64, 2x32) is
  read as two numbers.
- Each number must equal, at the card's own rounding (half a unit of its last printed digit), a number
  found in a source file: any JSON under bench/results/, the checkpoint's build.json, history.json and
  wvm.json, the shipped baselines' build.json and baseline.json, or the paper's reported numbers
  (value_labeling/bench/paper_results.json, transcribed once from the paper). Numbers inside those JSONs'
  strings count (build.json's data descriptions are strings a script wrote). A figure may also be a
  source value in seconds printed in minutes (x / 60).
- One figure is checked against its own source instead: the weights' size in MiB ("N MiB") must equal
  the shipped *.safetensors files' size.

That check alone is weak for short decimals (the pool holds thousands of numbers: a typed-in 0.17 would
match some loss in history.json), so two more make it strict: the committed card is exactly what
`python -m bench.build_default_model --card-only` writes from those files today (rerun it after new
results), and the writer's source holds no numeric literal but formatting
and unit constants (digits, 2**20 bytes per MiB, 60 s per min, a float tolerance): every figure it prints
is read from a file.
"""

import ast
import json
import re
from pathlib import Path

from bench.build_default_model import card_text
from value_labeling.baselines import SHIPPED
from value_labeling.models.default import DEFAULT_DIR
from value_labeling.models.default_card import RESULTS

ROOT = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"(?<![\w.\-])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w])")


def card_numbers(text: str) -> list[tuple[str, float]]:
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"(?<=\d)x(?=\d)", " x ", text)
    return [(m.group(), float(m.group())) for m in NUMBER.finditer(text)]


def numbers_in(obj) -> list[float]:
    """Every number of a JSON value: numeric leaves and the numbers inside its strings (card rule)."""
    if isinstance(obj, bool) or obj is None:
        return []
    if isinstance(obj, (int, float)):
        return [float(obj)]
    if isinstance(obj, str):
        return [v for _, v in card_numbers(obj)]
    items = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list) else []
    return [v for x in items for v in numbers_in(x)]


def source_numbers() -> list[float]:
    files = [
        *RESULTS.glob("*.json"),
        DEFAULT_DIR / "build.json",
        DEFAULT_DIR / "history.json",
        DEFAULT_DIR / "wvm.json",
        ROOT / "value_labeling" / "bench" / "paper_results.json",
    ]
    files += [d / f for d in SHIPPED.values() for f in ("build.json", "baseline.json")]
    return [v for f in files if f.is_file() for v in numbers_in(json.loads(f.read_text()))]


def matches(token: str, value: float, pool: list[float]) -> bool:
    """The card's rounding of a source number, or of a source number of seconds printed in minutes."""
    tol = half_unit(token)
    return any(abs(s - value) <= tol or abs(s / 60 - value) <= tol for s in pool)


def half_unit(token: str) -> float:
    mantissa = re.split(r"[eE]", token)[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    exp = int(re.split(r"[eE]", token)[1]) if re.search(r"[eE]", token) else 0
    return 0.5 * 10 ** (exp - decimals) + 1e-12


def test_number_rule_skips_names_and_reads_figures():
    got = [t for t, _ in card_numbers("wvm-tiny 64x64, L6-v2 Wan2.2 Table A.1 t/(T-1) 5B `bench_r4 0.5` -0.306 (n=48)")]
    assert got == ["64", "64", "-0.306", "48"]
    assert half_unit("0.060") == 0.0005 + 1e-12 and half_unit("16") == 0.5 + 1e-12


def test_every_number_in_the_card_comes_from_a_result_file():
    card = (DEFAULT_DIR / "MODEL_CARD.md").read_text()
    pool = source_numbers()
    size = sum(f.stat().st_size for f in DEFAULT_DIR.glob("*.safetensors")) / 2**20
    for m in re.finditer(r"(\d+(?:\.\d+)?) MiB", card):
        assert abs(float(m.group(1)) - size) <= half_unit(m.group(1)), f"card says {m.group(1)} MiB, files {size:.2f}"
    card = re.sub(r"\d+(?:\.\d+)? MiB", "MiB", card)
    missing = [token for token, v in card_numbers(card) if not matches(token, v, pool)]
    assert not missing, f"numbers in MODEL_CARD.md found in no result file: {sorted(set(missing))}"


def test_committed_card_is_what_the_writer_makes_from_the_files():
    assert (DEFAULT_DIR / "MODEL_CARD.md").read_text() == card_text(), (
        "MODEL_CARD.md is stale: rewrite it with `python -m bench.build_default_model --card-only`"
    )


def test_card_writer_types_in_no_figure():
    import value_labeling.models.default_card as writer

    allowed = {0, 1, 2, 3, 20, 60, 1e-9}  # indices, format digits, 2**20 bytes per MiB, s per min, a tolerance
    tree = ast.parse(Path(writer.__file__).read_text())
    found = {
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)) and not isinstance(n.value, bool)
    }
    assert found <= allowed, f"numeric literals in default_card.py that could be typed-in figures: {found - allowed}"


def test_card_states_targets_segments_and_foreign_checkpoints(tmp_path):
    from value_labeling.models.default_card import model_card_text

    def h(mean, lo, hi):
        return {"mean": mean, "ci95": [lo, hi], "n_scored": 10, "n_dropped": 0}

    bench = {
        "bench_sizes": {"hesitation": 25, "retry": 25, "expert": 5},
        "models": {"wvm-tiny-default": {"spec": "default", "fingerprint": "fp"}, "time": {"spec": "time"}},
        "trajectories": [{"task": "lift"}, {"task": "stack"}],
        "headline": {
            "wvm-tiny-default": {
                "hesitation_rmse": h(0.06, 0.055, 0.07),
                "retry_voc": h(0.8, 0.76, 0.9),
                "expert_voc": h(0.96, 0.95, 0.97),
            },
            "time": {"hesitation_rmse": h(0.1, 0.09, 0.11)},
        },
        "targets": {"hesitation_rmse": ["<=", 0.05], "retry_voc": [">=", 0.75]},
        "segments": {"hesitation": {"median_scored_frames": 9, "mean_T_seconds": 21.04, "mean_segment_seconds": 4.5}},
    }
    bench["below_time"] = {
        "wvm-tiny-default": {"rule": "r", "mean": -0.01, "ci95": [-0.02, 0.0], "n_pairs": 10, "met": True}
    }
    probe = {
        "models": {"wvm-tiny-default": {"fingerprint": "fp"}},
        "features": {"wvm-tiny-default": {"end_within_005": {"mean": 0.9, "ci95": [0.8, 1.0], "n": 10}}},
        "table_md": "",
        "command": "c",
    }
    text = model_card_text(bench, probe=probe, results=tmp_path, fingerprint="fp")
    assert "2 tasks x 25 hesitation + 25 retry + 5 expert" in text
    assert "| Hesitation-RMSE | 0.060 [0.055, 0.070] | 0.100 [0.090, 0.110] | 0.04 (Suboptimal-RoboSuite row) |" in text
    assert "Hesitation-RMSE 0.060 [0.055, 0.070] misses <= 0.05; Retry-VOC 0.800 [0.760, 0.900] meets >= 0.75." in text
    bench["headline"]["wvm-tiny-default"]["hesitation_rmse"] = h(0.049, 0.042, 0.057)
    straddling = model_card_text(bench, probe=probe, results=tmp_path, fingerprint="fp")
    assert "0.049 [0.042, 0.057] meets <= 0.05 (at the mean; the interval straddles the target);" in straddling
    bench["headline"]["wvm-tiny-default"]["hesitation_rmse"] = h(0.06, 0.055, 0.07)
    assert "at least 30% below `time`'s (r, paired over 10 trajectories): -0.010 [-0.020, +0.000], met." in text
    assert "end within 0.05 of 1" in text and "0.900 of 10 trajectories [0.800, 1.000], missed" in text
    assert "hesitation: median 9 scored frames inside [m, n], mean trajectory 21.0 s, mean segment 4.5 s" in text
    assert "another checkpoint" not in text and "What was tried" not in text  # no result files in tmp_path
    other = model_card_text(bench, results=tmp_path, fingerprint="a-newer-model")
    assert "note: `wvm-tiny-default` there is another checkpoint than the one shipped here" in other


#: README results rows whose figures come from the card's own sources (and the advantages bench): each
#: number in a row's figure column must be in the result files the row cites, by the card's rule.
README_SOURCES = {
    "robosuite_bench",
    "robosuite_bench_v1",
    "robosuite_bench_v1_8x8x5",
    "wvm_ablations",
    "wvm_ablations_agentview",
    "retreat_probe",
    "advantages",
    "flag_segments",
}


def test_readme_rows_from_the_cards_sources_match_their_files():
    lines = (ROOT / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("## Measured results"))
    checked, missing = 0, {}
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        cells = line.split(" | ")
        cited = set(re.findall(r"([a-z_0-9]+)\.md", cells[-1])) if line.startswith("| ") else set()
        if not cited or not cited <= README_SOURCES:
            continue
        absent = sorted(f"{stem}.json" for stem in cited if not (RESULTS / f"{stem}.json").is_file())
        if absent:
            missing[cells[0]] = [f"cites a result that is not there: {', '.join(absent)}"]
            continue
        pool = [v for stem in cited for v in numbers_in(json.loads((RESULTS / f"{stem}.json").read_text()))]
        bad = [t for t, v in card_numbers(" | ".join(cells[1:-1])) if not matches(t, v, pool)]  # the figure column
        checked += 1
        if bad:
            missing[cells[0]] = bad
    assert checked >= 4 and not missing, f"README figures found in no cited result file: {missing}"


def test_probe_reading_names_only_differences_beyond_both_intervals():
    from value_labeling.models.default_card import probe_reading

    def feat(end_drop, end_value, climb, retreat):
        return {
            "end_drop_frac": {"mean": end_drop[0], "ci95": list(end_drop[1:])},
            "end_value": {"mean": end_value[0], "ci95": list(end_value[1:])},
            "stall_climb": {"mean": climb[0], "ci95": list(climb[1:])},
            "retreat_step": {"mean": retreat[0], "ci95": list(retreat[1:])},
        }

    probe = {
        "models": {"wvm": {"fingerprint": "abc"}, "baseline-frame": {"fingerprint": "x"}, "time": {"fingerprint": "t"}},
        "features": {
            "wvm": feat((0.2, 0.15, 0.25), (0.8, 0.78, 0.82), (0.03, 0.01, 0.05), (-0.05, -0.08, -0.02)),
            # end drop and retreat apart beyond both intervals; end value and climb overlap
            "baseline-frame": feat((0.02, 0.01, 0.04), (0.81, 0.79, 0.83), (0.02, 0.0, 0.04), (-0.14, -0.16, -0.11)),
            "time": feat((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (0.2, 0.19, 0.21), (0.1, 0.09, 0.11)),
        },
    }
    lines = [line for line in probe_reading(probe, "abc") if line.startswith("- ")]
    assert len(lines) == 2
    assert lines[0].startswith("- ends with a drop") and "+0.200, against `baseline-frame` +0.020" in lines[0]
    assert lines[1].startswith("- change across a retraction") and "-0.050, against `baseline-frame` -0.140" in lines[1]
    assert "another checkpoint" in probe_reading(probe, "other")[1]  # never reads a foreign checkpoint's curves


def test_previous_models_item_quotes_the_note_and_sets_this_model_beside_them(tmp_path):
    from value_labeling.models.default_card import previous_item

    def h(mean, lo, hi):
        return {"mean": mean, "ci95": [lo, hi], "n_scored": 10, "n_dropped": 0}

    def bench(model, fp, scores):
        keys = ("hesitation_rmse", "retry_voc", "expert_voc")
        return {
            "bench_sizes": {"hesitation": 25, "retry": 25, "expert": 5},
            "generator": "v2",
            "models": {model: {"spec": "default" if model.endswith("default") else model, "fingerprint": fp}},
            "headline": {model: dict(zip(keys, (h(*s) for s in scores)))},
        }

    prev = bench("wvm:old", "old-fp", [(0.1, 0.08, 0.12), (0.3, 0.2, 0.4), (0.9, 0.85, 0.95)])
    prev["note"] = "the checkpoint shipped before."
    (tmp_path / "robosuite_bench_previous.json").write_text(json.dumps(prev))
    cur = bench("wvm-tiny-default", "fp", [(0.05, 0.04, 0.06), (0.6, 0.5, 0.7), (0.97, 0.96, 0.98)])
    (tmp_path / "robosuite_bench.json").write_text(json.dumps(cur))
    item = previous_item(tmp_path / "robosuite_bench_previous.json", "fp")
    assert "(robosuite_bench_previous.md): the checkpoint shipped before. H-RMSE" in item
    assert "before, `wvm:old` 0.100 [0.080, 0.120] / 0.300 [0.200, 0.400] / 0.900 [0.850, 0.950]" in item
    assert item.endswith("; this model 0.050 [0.040, 0.060] / 0.600 [0.500, 0.700] / 0.970 [0.960, 0.980].")
    # the current bench scored another checkpoint than the shipped one: no "this model" row is claimed
    assert "this model" not in previous_item(tmp_path / "robosuite_bench_previous.json", "a-newer-model")


def test_retreat_probe_rows_find_this_model_by_fingerprint_and_carry_intervals(tmp_path):
    from value_labeling.models.default_card import experiment_lines

    probe = {
        "trajectories": 30,
        "fps": 2.0,
        "models": {"default": {"fingerprint": "fp"}, "time": {"fingerprint": "t"}},
        "summary": {
            "default": {"expert_voc": 0.98, "reversed": 0.9, "long_retreat": 0.8},
            "time": {"expert_voc": 1.0, "reversed": -1.0, "long_retreat": -1.0},
        },
        "ci95": {
            "default": {"expert_voc": [0.97, 0.99], "reversed": [0.85, 0.95], "long_retreat": [0.7, 0.9]},
            "time": {"expert_voc": [1.0, 1.0], "reversed": [-1.0, -1.0], "long_retreat": [-1.0, -1.0]},
        },
    }
    (tmp_path / "retreat_probe.json").write_text(json.dumps(probe))
    text = "\n".join(experiment_lines(tmp_path, "fp"))
    assert "| this model | 0.980 [0.970, 0.990] | 0.900 [0.850, 0.950] | 0.800 [0.700, 0.900] |" in text
    assert "| `time` | 1.000 [1.000, 1.000] |" in text and "mean [bootstrap 95% interval" in text
    assert "| this model |" not in "\n".join(experiment_lines(tmp_path, "another-checkpoint"))
