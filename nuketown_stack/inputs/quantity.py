"""Kubernetes resource quantities ("500m", "4Gi", "1e3"), parsed to compare tiers."""

import json
import re
from decimal import Decimal
from importlib import resources

# One grammar for nix (nix/spec.nix reads the same file) and Python: Kubernetes' resource.Quantity,
# without a sign and without zero, since every quantity here is a size.
_GRAMMAR = json.loads(resources.files("nuketown_stack.inputs").joinpath("grammar.json").read_text())["quantity"]
_QUANTITY = re.compile(_GRAMMAR["pattern"])  # group 1 is the number; the rest of the text is the suffix
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


def parse_quantity(text: str) -> Decimal:
    """The value of a quantity; ValueError when it is not one."""
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not {_GRAMMAR['description']}")
    number = Decimal(match[1])
    suffix = text[len(match[1]) :]
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number * (Decimal(10) ** int(suffix[1:]))
