"""The fleet's Pulumi program: the repository's program, run from this project directory."""

from nuketown_stack.program.program import main

main()
