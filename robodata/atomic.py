"""One way to change files on disk so that a kill, a full disk or an error never leaves a mix.

Every writer in the toolkit (curate's dataset rewrite, the RoboSuite recorder, checkpoints, staged
results, sidecar tables) writes beside the target and then renames or swaps it into place:

- `write_bytes` / `write_text` / `write_json` (`write_strict_json`: NaN as null) / `replace_file`: one file, written to a temporary
  name in the same directory, fsynced, then `os.replace`d over the target (atomic on POSIX).
- `replace_dir`: a whole directory tree, built beside the target and swapped in with one
  `renameat2(RENAME_EXCHANGE)`, or two renames where the filesystem cannot exchange (`recover_dir`
  completes or undoes a swap cut between them).
- `writer_lock`: one writer per target at a time.

A replaced file or tree keeps the mode (and, where the process may chown, the owner and group) of
what it replaces, so a dataset shared through group permissions stays shared. On any failure the
partial file or tree is removed at once: on a full disk it would otherwise hold the space.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import math
import os
import shutil
from pathlib import Path

MARKER = ".commit_complete"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


class DiskFullError(ValueError):
    """No space left while writing beside a target; the target is unchanged and the partial copy gone."""


def _disk_full(err: BaseException, where: Path, target: Path) -> DiskFullError | None:
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(
            f"no space left on the device of {where} while writing beside {target}; the partial "
            f"copy was removed and {target} is unchanged: free space there (a rewrite needs room "
            "for the rewritten files) and rerun"
        )
    return None


def keep_owner_and_mode(src: Path, dst: Path) -> None:
    """Give `dst` the permission bits (setgid included) of `src`, and its owner/group where allowed."""
    st = os.stat(src)
    try:
        os.chown(dst, st.st_uid, st.st_gid)  # before chmod: chown clears setuid/setgid bits
    except PermissionError:
        try:
            os.chown(dst, -1, st.st_gid)  # a member of the group may still set the group
        except PermissionError:
            pass
    os.chmod(dst, st.st_mode & 0o7777)


def fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(top: Path) -> None:
    """fsync every file written under `top` (hard links point at files that are already durable)."""
    for dirpath, _, filenames in os.walk(top):
        for f in filenames:
            p = Path(dirpath) / f
            if p.stat().st_nlink == 1:
                fsync_file(p)


@contextlib.contextmanager
def replace_file(path: str | Path):
    """Yield a temporary path beside `path`; when the block succeeds it replaces `path` atomically.

    The temporary file is fsynced and takes the mode/owner of the file it replaces; on any failure
    it is removed and `path` is untouched.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        fsync_file(tmp)
        if path.exists():
            keep_owner_and_mode(path, tmp)
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        full = _disk_full(err, tmp, path)
        if full is not None:
            raise full from err
        raise
    fsync_dir(path.parent)


def write_bytes(path: str | Path, data: bytes) -> None:
    with replace_file(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    with replace_file(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, obj, indent: int | None = 2) -> None:
    write_text(path, json.dumps(obj, indent=indent) + ("\n" if indent is not None else ""))


def strict(obj):
    """NaN and infinities become null (numpy scalars plain numbers), so the file is JSON that strict parsers
    (browsers, jq, Go, Rust) accept; Python's json would otherwise write the non-standard `NaN`."""
    if hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:  # numpy scalar
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    return obj


def write_strict_json(path: str | Path, obj, indent: int = 2) -> None:
    """`write_json` of `strict(obj)`, refusing anything else a strict parser would reject."""
    write_text(path, json.dumps(strict(obj), indent=indent, allow_nan=False) + "\n")


def sibling(path: Path, tag: str) -> Path:
    """`.<name>.<tag>` beside `path`: hidden, on the same filesystem (renames stay atomic)."""
    return path.parent / f".{path.name}.{tag}"


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap two directory entries; False when the OS or filesystem cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, f"renameat2({a}, {b}, RENAME_EXCHANGE) failed: {os.strerror(err)}")


def swap_in(new: Path, path: Path, old: Path) -> None:
    """Put the tree `new` at `path`. The previous tree ends at `new` (exchange) or `old` (two renames);
    `recover_dir` removes it."""
    if not path.exists():
        os.rename(new, path)
    elif not exchange(path, new):
        os.rename(path, old)  # a kill here leaves nothing at `path`: recover_dir finishes the swap
        os.rename(new, path)
    fsync_dir(path.parent)


def recover_dir(path: Path, new: Path, old: Path, marker: str | None = MARKER) -> None:
    """Finish or undo whatever an interrupted `replace_dir` left behind. Idempotent.

    With a `marker`, a complete new tree (it holds the marker) cut between the two renames is moved
    into place; without one, the previous tree is restored.
    """
    path, new, old = Path(path), Path(new), Path(old)
    if not path.exists():
        if marker is not None and (new / marker).exists():
            os.rename(new, path)
        elif old.exists():
            os.rename(old, path)
    _drop_leftovers(path, new, old, marker)


def _drop_leftovers(path: Path, new: Path, old: Path, marker: str | None) -> None:
    if marker is not None and (path / marker).exists():
        (path / marker).unlink()
    for leftover in (new, old):
        if leftover.exists():
            shutil.rmtree(leftover)


@contextlib.contextmanager
def replace_dir(
    path: str | Path,
    tag: str = "commit",
    new: Path | None = None,
    old: Path | None = None,
    marker: str | None = MARKER,
    create: bool = True,
):
    """Yield a new directory beside `path` (`.<name>.<tag>-new`); on success it replaces `path`.

    The caller fills the directory; then every file in it is fsynced, the marker written, and the
    tree swapped in. On ANY failure (an error, a full disk, Ctrl-C) the partial tree is removed and
    `path` keeps its old contents. `create=False` yields the path without making it (for writers
    that insist on creating their root themselves). The new root takes the old root's mode/owner;
    files and subdirectories are the caller's (see `keep_owner_and_mode`).

    Call `recover_dir` once before (a killed swap may have left nothing at `path`); here a leftover
    beside an existing `path` is only an abandoned partial tree and is removed.
    """
    path = Path(path)
    new = sibling(path, f"{tag}-new") if new is None else Path(new)
    old = sibling(path, f"{tag}-old") if old is None else Path(old)
    if not path.exists() and (new.exists() or old.exists()):
        raise RuntimeError(f"{path} is missing beside {new} / {old}: run recover_dir first")
    _drop_leftovers(path, new, old, None)
    try:
        if create:
            new.mkdir()
            if path.exists():
                keep_owner_and_mode(path, new)
        yield new
        if marker is not None:
            (new / marker).write_text("complete\n")
        fsync_tree(new)
        swap_in(new, path, old)
    except BaseException as err:
        if path.exists() or marker is None or not (new / marker).exists():
            shutil.rmtree(new, ignore_errors=True)
        with contextlib.suppress(OSError):
            recover_dir(path, new, old, marker)
        full = _disk_full(err, new, path)
        if full is not None:
            raise full from err
        raise
    _drop_leftovers(path, new, old, marker)  # the marker and the previous tree


def lock_path(path: Path, tag: str = "commit") -> Path:
    return sibling(Path(path), f"{tag}-lock")


@contextlib.contextmanager
def writer_lock(path: str | Path, tag: str = "commit", busy: str = "another writer"):
    """One writer per target at a time (`.<name>.<tag>-lock` beside it, an flock).

    Without it a second run's recovery would delete the tree the first run is building. The kernel
    releases an flock when its process dies, so a killed run never leaves a stale lock; the small
    file stays on purpose (unlinking it would let two later runs lock two different files). Where
    the parent is not writable nothing can be written anyway, and no lock is taken.
    """
    import fcntl

    path = Path(path)
    if not os.access(path.parent, os.W_OK):
        yield
        return
    lock = lock_path(path, tag)
    with open(lock, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(
                f"{busy} is writing to {path} right now (it holds {lock}); wait for it to finish, then rerun"
            ) from None
        yield
