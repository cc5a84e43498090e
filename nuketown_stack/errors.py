"""The one error type for bad input: every problem is a line naming its path."""

from collections.abc import Iterable


class InputError(Exception):
    """Input (spec, settings, source) that cannot be declared, one line per problem."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("\n".join(self.problems))


def raise_if_any(problems: Iterable[str]) -> None:
    collected = list(problems)
    if collected:
        raise InputError(collected)
