"""Pulumi entry point: the whole program lives in nuketown_stack.program."""

from nuketown_stack.program.program import main

main()
