"""The annotation table as the page edits it: one episode's row saved at a time, never a torn file.

Each save re-reads the table from disk, replaces (or removes) one episode's row, validates every row
with the bench's own rules (`write_annotations`) and writes the file beside, then `os.replace`s it, so
a killed server leaves the previous table or the new one. Saves are serialised twice: a thread lock
for the tabs of one server, and an flock on the lock file that `curate` commands take (beside the
dataset), so a second server or a `curate label-values` rewriting the dataset tree never interleaves
with a save (where the dataset's parent directory is read-only, the lock file lives in meta/ instead).
The flock is waited for briefly; if it stays busy the save fails with a clear message and the page
keeps the edit.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq

from robodata.annotations import ANNOTATIONS_FILE, SCHEMA, validate_rows, write_annotations
from robodata.columns import lock_path
from robodata.ground_truth import validate_annotation


class SaveBusy(RuntimeError):
    """Another process holds the dataset's writer lock."""


class AnnotationStore:
    def __init__(self, root: Path, lengths: dict[int, int], lock_wait_s: float = 10.0):
        self.root = Path(root)
        self.lengths = lengths  # episode -> T from the dataset
        self.lock_wait_s = lock_wait_s
        self._thread_lock = threading.Lock()
        meta = self.root / "meta"
        if not os.access(meta, os.W_OK):
            raise PermissionError(
                f"cannot write {meta}: the annotation table could not be saved; annotate a writable copy of the dataset"
            )
        self.lock_file = lock_path(self.root) if os.access(self.root.parent, os.W_OK) else meta / ".annotate.lock"
        self.rows()  # fail at start, with the bench's message, on a table the bench would reject

    @property
    def path(self) -> Path:
        return self.root / ANNOTATIONS_FILE

    def rows(self) -> dict[int, dict]:
        """The saved rows, read through one open file: `pq.read_table(path)` opens the path more than
        once, so a save swapping the file in between tears the read (seen under concurrent saves)."""
        try:
            with open(self.path, "rb") as fh:
                table = pq.read_table(fh)
        except FileNotFoundError:
            return {}
        missing = set(SCHEMA.names) - set(table.column_names)
        if missing:
            raise ValueError(f"{self.path} lacks columns {sorted(missing)}; see robodata/annotations.py")
        rows = table.to_pylist()
        validate_rows(rows)
        return {int(r["episode_index"]): r for r in rows}

    def mismatched(self) -> dict[int, str]:
        """Episodes whose saved row the bench would reject against this dataset (unknown episode, wrong T)."""
        out = {}
        for ep, r in self.rows().items():
            if ep not in self.lengths:
                out[ep] = f"episode {ep} is not in the dataset"
            elif int(r["T"]) != self.lengths[ep]:
                out[ep] = f"saved T={r['T']} but the episode has {self.lengths[ep]} frames"
        return out

    def check(self, ep: int, mode: str, m: int | None, n: int | None, T: int | None = None) -> dict:
        """The row to save for `ep`, or ValueError saying which rule it breaks."""
        if ep not in self.lengths:
            raise KeyError(ep)
        true_T = self.lengths[ep]
        if T is not None and T != true_T:
            raise ValueError(f"episode {ep}: T={T} does not match the dataset's {true_T} frames")
        if mode == "expert" and (m is not None or n is not None):
            raise ValueError(
                f"episode {ep}: an expert trajectory has no segment (got m={m}, n={n}); "
                f"delete the segment or choose hesitation/retry"
            )
        validate_annotation(mode, true_T, m, n)
        return {"episode_index": ep, "mode": mode, "m": m, "n": n, "T": true_T}

    def save(self, row: dict) -> dict:
        """Insert or replace one episode's row (keys of the bench's SCHEMA) and write the table."""
        ep = int(row["episode_index"])
        with self._locked():
            rows = self.rows()
            rows[ep] = row
            write_annotations(self.root, list(rows.values()))
        return row

    def delete(self, ep: int) -> bool:
        with self._locked():
            rows = self.rows()
            if ep not in rows:
                return False
            del rows[ep]
            if rows:
                write_annotations(self.root, list(rows.values()))
            else:
                self.path.unlink()
            return True

    @contextlib.contextmanager
    def _locked(self):
        with self._thread_lock, open(self.lock_file, "a") as fh:
            deadline = time.monotonic() + self.lock_wait_s
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise SaveBusy(
                            f"{self.lock_file} is held by another process (a curate command "
                            f"or a second annotate server is writing {self.root}); save again "
                            f"when it finishes"
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
