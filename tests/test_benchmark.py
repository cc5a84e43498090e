"""The benchmark script still runs (its figures go in docs/performance.md; nothing here is timed)."""

import subprocess
import sys

from conftest import ROOT


def test_the_benchmark_runs_on_one_agent() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--agents", "1", "--cloud", "aws", "--repeat", "1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr + run.stdout
    rows = [line.split() for line in run.stdout.splitlines() if line.split()[:1] == ["1"]]
    assert len(rows) == 1 and rows[0][1] == "20"  # one agent, twenty resources, every stage measured
    assert all(float(cell) > 0 for cell in rows[0][2:])
