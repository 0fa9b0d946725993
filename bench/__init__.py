"""Benchmark modules: `python -m bench.NAME --help`. Each writes its results under bench/results/."""

from __future__ import annotations

from pathlib import Path

from robodata import atomic


def write_results_json(path: str | Path, obj, indent: int = 2) -> None:
    """A results file, written atomically; undefined numbers (e.g. precision with no prediction) are null
    (robodata.atomic.strict, which `value_labeling bench` shares)."""
    atomic.write_strict_json(path, obj, indent)


def replace_readme_block(name: str, text: str, readme: Path | None = None) -> bool:
    """Replace what lies between `<!-- NAME: begin -->` and `<!-- NAME: end -->` in the README (atomically),
    so a figure there is always the one a script last wrote; False when the markers are absent."""
    readme = readme or Path(__file__).resolve().parents[1] / "README.md"
    begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
    doc = readme.read_text()
    if begin not in doc or end not in doc:
        return False
    head, rest = doc.split(begin, 1)
    atomic.write_text(readme, f"{head}{begin}\n{text.strip()}\n{end}{rest.split(end, 1)[1]}")
    return True


def dataset_fingerprint(root: Path) -> str:
    """12 hex digits of SHA-256 over the dataset's metadata files (info, per-episode table with its lengths
    and statistics, the annotation table): what changes when episodes are regenerated, read in milliseconds
    where hashing the videos would take seconds."""
    import hashlib

    h = hashlib.sha256()
    meta = root / "meta"
    for f in sorted(p for p in meta.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(meta)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:12]
