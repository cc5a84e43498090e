"""The garbage collector is tuned wherever the program runs: under `pulumi up` and under the command line.

Each check runs in a fresh interpreter, since the collector's settings belong to the whole process
(and this one's must stay as pytest left them). Its effect is measured by benchmarks/scale.py, never here.
"""

import subprocess
import sys
import textwrap

from conftest import EXAMPLE, ROOT


def _run(script: str) -> str:
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.strip().splitlines()[-1]


def test_the_pulumi_entry_point_tunes_the_collector() -> None:
    """With no `main:` in Pulumi.yaml, `pulumi up` runs the project directory's __main__.py: run that very file."""
    found = _run(
        f"""
        import runpy
        from nuketown_stack import collector
        from nuketown_stack.program.engine import run_program

        before = collector.is_tuned()
        run_program(lambda: runpy.run_path("__main__.py") and {{}}, "dev", {{"nuketown:source": "{EXAMPLE}"}})
        print(before, collector.is_tuned())
        """
    )
    assert found == "False True"


def test_the_command_line_tunes_the_collector() -> None:
    found = _run(
        f"""
        import contextlib, io
        from nuketown_stack import cli, collector

        before = collector.is_tuned()
        with contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(["plan", "{EXAMPLE}", "--defaults"])
        print(code, before, collector.is_tuned())
        """
    )
    assert found == "0 False True"
