"""A spinner on the terminal while something slow runs (nix evaluation); silent when not a terminal."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


@contextmanager
def progress(message: str, stream: TextIO | None = None) -> Iterator[None]:
    stream = stream if stream is not None else sys.stderr
    if not stream.isatty():  # CI logs and pipes get no control characters
        yield
        return
    from rich.console import Console  # deferred: only terminals pay for the import

    with Console(file=stream, force_terminal=True).status(message):
        yield
