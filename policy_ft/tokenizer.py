"""`policy_ft make-tokenizer`: a small word-level tokenizer for offline π0/π0.5 smoke tests.

π0/π0.5 need a PaliGemma tokenizer, which this toolkit never downloads. A real one is only needed with
a real checkpoint (`--pretrained`): its token ids must match the ones the model was trained on. A
policy trained from scratch (`--size tiny`) only needs some tokenizer that covers its prompts
("Task: <instruction>, State: 12 200 ...;\\nAction: "); this one knows π0.5's prompt words, the state
bins 0-255 and the words of the datasets' task instructions, and maps anything else to <unk>. It is
small enough for the tiny variants' 1024-token vocabulary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

#: What a user can do offline; every "needs a tokenizer" error names these.
OFFLINE_CHOICES = (
    "a local PaliGemma tokenizer directory (tokenizer.json / tokenizer.model, e.g. copied from a machine with hub "
    "access: google/paligemma-3b-pt-224), needed with --pretrained; or, for a policy trained from scratch "
    "(--size tiny smoke tests), `policy_ft make-tokenizer --out DIR [--dataset DS]`, a word-level tokenizer"
)


def tokenizer_problem(policy: str, tokenizer: Path | None) -> str | None:
    """Why `--tokenizer` cannot serve a π0/π0.5 run (None: it can), naming the offline choices."""
    if tokenizer is None:
        return f"{policy} needs a PaliGemma tokenizer and never downloads one: pass --tokenizer DIR, {OFFLINE_CHOICES}"
    if not Path(tokenizer).is_dir():
        return f"--tokenizer {tokenizer} is not a directory; pass {OFFLINE_CHOICES}"
    if not any((Path(tokenizer) / f).is_file() for f in ("tokenizer.json", "tokenizer.model")):
        return f"--tokenizer {tokenizer} holds no tokenizer.json or tokenizer.model; pass {OFFLINE_CHOICES}"
    return None


BASE_WORDS = (
    "<pad>",
    "<unk>",
    "<bos>",
    "<eos>",
    "Task",
    "State",
    "Action",
    ":",
    ",",
    ";",
    ".",
    "lift",
    "the",
    "cube",
    "pick",
    "place",
    "bread",
    "open",
    "door",
)
VOCAB_LIMIT = 1024  # the tiny Gemma variants' vocabulary (policy_ft.pi_variants)


@dataclass(frozen=True)
class MakeTokenizerConfig:
    """Write a word-level tokenizer for offline π0/π0.5 smoke tests (not for pretrained checkpoints)."""

    out: Path
    """Directory to write (tokenizer.json and its config); pass it to `policy_ft train --tokenizer`."""
    dataset: tuple[Path, ...] = ()
    """LeRobot datasets whose task instructions the vocabulary covers (repeat the flag for several)."""
    words: tuple[str, ...] = ()
    """Extra words to cover."""


def task_words(root: Path) -> list[str]:
    """The words of a LeRobot v3.0 dataset's task strings (meta/tasks.parquet)."""
    import pyarrow.parquet as pq

    path = Path(root) / "meta" / "tasks.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"{root} is not a LeRobot v3.0 dataset: {path} does not exist")
    table = pq.read_table(path)
    # lerobot writes the task strings as the pandas index of a task_index table.
    column = "task" if "task" in table.column_names else "__index_level_0__"
    tasks = table.column(column).to_pylist()
    return [w for t in tasks for w in re.findall(r"\w+|[^\w\s]", str(t))]


def make_word_tokenizer(directory: str | Path, extra_words: tuple[str, ...] = ()) -> Path:
    """A PreTrainedTokenizerFast saved to `directory` covering π0.5's prompt words and the digits 0-255."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = [*BASE_WORDS, *extra_words, *map(str, range(256))]
    vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
    if len(vocab) > VOCAB_LIMIT:
        raise ValueError(f"{len(vocab)} words exceed the tiny π0/π0.5 vocabulary of {VOCAB_LIMIT}; pass fewer")
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<bos>", eos_token="<eos>"
    )
    directory = Path(directory)
    fast.save_pretrained(directory)
    return directory


def run_make_tokenizer(cfg: MakeTokenizerConfig) -> Path:
    words = [w for root in cfg.dataset for w in task_words(root)] + list(cfg.words)
    out = make_word_tokenizer(cfg.out, tuple(words))
    print(
        f"wrote a word-level tokenizer ({len(set(words) | set(BASE_WORDS)) + 256} words at most) to {out}; "
        f"use it with `policy_ft train --policy pi05 --size tiny --tokenizer {out}` (smoke tests only)"
    )
    return out
