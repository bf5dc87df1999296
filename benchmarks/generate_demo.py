"""Benchmark: wall time and peak RSS of ``generate_demo`` for N persons.

Usage: ``python benchmarks/generate_demo.py --persons 1000000 [--workdir DIR] [--seed 7]``.
The generator runs in a fresh child process (``_measure.run_measured``), so the peak RSS
reported is its own.
Target (2 cores): 1,000,000 persons in under 120 s and under 4 GB peak RSS.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from _measure import run_measured

_CHILD = """
import json, sys
from pathlib import Path
from journey_mining.demo import generate_demo
s = generate_demo(Path(sys.argv[1]), persons=int(sys.argv[2]), seed=int(sys.argv[3]),
                  progress=lambda m: print(m, file=sys.stderr, flush=True))
print(json.dumps({"events": s.events, "product_events": s.product_events,
                  "crm_rows": s.crm_rows, "files": s.files, "seconds": s.seconds,
                  "by_source": s.events_by_source}))
"""


def _disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="journeymap-demo-bench-"))
    done = run_measured(
        [sys.executable, "-c", _CHILD, str(workdir), str(args.persons), str(args.seed)]
    )
    if done.returncode != 0:
        sys.exit(f"generator failed ({done.returncode}):\n{done.stderr[-4000:]}")
    wall, peak_mb = done.wall_s, done.peak_mib
    result = done.report()
    size_mb = _disk_bytes(workdir / "landing") / 1e6
    print(f"persons:          {args.persons:,}")
    print(
        f"events written:   {result['events']:,} (product {result['product_events']:,}, "
        f"CRM rows {result['crm_rows']:,})"
    )
    print(f"by source:        {result['by_source']}")
    print(f"files:            {result['files']:,} ({size_mb:,.0f} MB on disk)")
    print(f"wall time:        {wall:.1f} s (generator {result['seconds']:.1f} s)")
    print(f"peak RSS:         {peak_mb:,.0f} MB")
    print(f"throughput:       {result['events'] / result['seconds']:,.0f} events/s")
    if not args.keep and args.workdir is None:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
