"""The one error type for bad input: every problem is a line naming its path."""

import re
from collections.abc import Iterable

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """`text` with control characters escaped (`\\n`), so a problem naming bad input stays on one line."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


class InputError(Exception):
    """Input (spec, settings, source) that cannot be declared, one line per problem."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: tuple[str, ...] = tuple(one_line(p) for p in problems)
        super().__init__("\n".join(self.problems))

    def __reduce__(self) -> tuple[type["InputError"], tuple[tuple[str, ...]]]:
        """Pickled as its problems (a run in another process raises it in this one), not as its message."""
        return InputError, (self.problems,)


def raise_if_any(problems: Iterable[str]) -> None:
    collected = list(problems)
    if collected:
        raise InputError(collected)
