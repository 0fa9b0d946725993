"""`make demo`: the most complete real path the toolkit has, on data it makes itself.

Now: build a small annotated bench dataset (LeRobot v3.0 + annotation table), score the value
models on it with `value_labeling bench`, label every frame with `curate label-values` on Ray
workers, write the chunk advantages, flag stalls and falls, and draw the report.
The model is the embedded default when one ships, else the `time` reference.
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
    from curate.cli import main as curate
    from value_labeling.cli import main as value_labeling
    from value_labeling.models import default_model_name

    out = ROOT / "demo_out"
    t0 = time.perf_counter()
    data = out / "synthetic_bench"
    if data.exists():
        shutil.rmtree(data)
    make_synthetic_bench(data, n_expert=2, n_hesitation=2, n_retry=2, seed=0)
    model = default_model_name() or "time"
    value_labeling(["bench", "--data", str(data), "--model", model,
                    "--out", str(out / "bench_results.json"), "--plots", str(out / "plots")])
    curate(["label-values", str(data), "--model", model])
    curate(["advantages", str(data), "--chunk-length", "10"])
    curate(["flag", str(data), "--plots", str(out / "flags")])
    curate(["report", str(data), "--out", str(out / "report")])
    print(f"\ndemo finished in {time.perf_counter() - t0:.0f} s; pictures: {out / 'plots'} (bench), "
          f"{out / 'flags'} (flagged segments), {out / 'report'} (value curves, advantages)")


if __name__ == "__main__":
    main()
