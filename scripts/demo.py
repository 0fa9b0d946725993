"""`make demo`: the most complete real path the toolkit has, on data it makes itself.

Now: build a small annotated bench dataset (LeRobot v3.0 + annotation table), score the value
models on it with `value_labeling bench`, and save the tables and Figure-4-style plots.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from value_labeling.bench.synthetic import make_synthetic_bench
    from value_labeling.cli import main as value_labeling

    out = ROOT / "demo_out"
    t0 = time.perf_counter()
    data = out / "synthetic_bench"
    if data.exists():
        shutil.rmtree(data)
    make_synthetic_bench(data, n_expert=2, n_hesitation=2, n_retry=2, seed=0)
    value_labeling(["bench", "--data", str(data), "--model", "time",
                    "--out", str(out / "bench_results.json"), "--plots", str(out / "plots")])
    print(f"\ndemo finished in {time.perf_counter() - t0:.0f} s; pictures: {out / 'plots'}")


if __name__ == "__main__":
    main()
