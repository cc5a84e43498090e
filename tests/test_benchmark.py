"""The benchmark script still runs (its figures go in docs/performance.md; nothing here is timed)."""

import re
import subprocess
import sys

import pytest
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
    assert len(rows) == 1 and rows[0][1] == "21"  # one agent, twenty-one resources, every stage measured
    header = next(line.split() for line in run.stdout.splitlines() if line.split()[:1] == ["agents"])
    figures = dict(zip(_column_titles(header), (float(cell) for cell in rows[0][2:]), strict=True))
    # A one-agent stage can round to 0.000 s (validate takes about a millisecond), so every figure must be a
    # number >= 0, and the stages that always do real work must have measured some.
    assert all(value >= 0 for value in figures.values()), figures
    assert figures["plan s"] > 0 and figures["bare s"] > 0 and figures["plan MiB"] > 0, figures


def _column_titles(header: list[str]) -> list[str]:
    """The table's titles after agents/resources, rejoined where a title is two words ("plan s", "plan MiB")."""
    titles: list[str] = []
    for word in header[2:]:
        if word in ("s", "MiB"):
            titles[-1] += " " + word
        else:
            titles.append(word)
    return titles


def test_the_fleet_benchmark_runs_on_a_tiny_fleet() -> None:
    """benchmarks/fleet.py end to end on one agent (each figure is a process of its own, importing pulumi: a
    few seconds of CPU each, so the smallest fleet): every figure printed, every ratio a number."""
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "fleet.py"), "--agents", "1", "--bound", "1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr + run.stdout
    lines = {line.split(":")[0]: line for line in run.stdout.splitlines() if ":" in line}
    assert "1 shards <= 1" in lines["placement"]
    assert "(1 agents)" in lines["shard plan"] and "s CPU" in lines["shard plan"]
    for figure in ("env diff", "stack diff"):
        assert re.search(r"\d+\.\d\dx wall, \d+\.\d\dx CPU the shard plan", lines[figure]), lines[figure]
    assert "1 plans, 2 processes at once" in lines["all shards"] and "MiB" in lines["all shards"]


def test_the_benchmark_imports_every_cloud_module_the_program_reaches(monkeypatch: pytest.MonkeyPatch) -> None:
    """benchmarks/scale.py imports these before it times a stage; one it missed would be timed in plan alone."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import scale

    for cloud, modules in scale.CLOUD_MODULES.items():
        code = "\n".join(path.read_text() for path in (ROOT / "nuketown_stack" / "clouds" / cloud).glob("*.py"))
        reached = set(re.findall(rf"\b{cloud}\.([a-z0-9_]+)\.[A-Za-z_]", code))
        assert reached == set(modules), cloud
