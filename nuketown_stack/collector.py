"""Python's cyclic garbage collector, set for one run of the program (imports nothing from the project).

The program makes millions of short-lived objects (the SDK's Outputs, futures, protobuf structs) and
keeps every resource alive to the end. With the default thresholds (700, 10, 10) the collector runs a
full collection over that growing heap again and again: at 1,000 agents it took 25.5 s of a 47.3 s
plan, 19.7 s of it in 21 full collections (issue 25, measured with `gc.callbacks`). Freezing what
the imports made and raising the thresholds cut that plan to 30.3 s, with the same peak memory, and
the same output. A young collection every million net allocations instead of every 50,000 then took
it from 22.7 to 16.8 s (the typed floor from 17.1 to 14.8 s), for 7 % more peak memory (803 to
861 MiB): at 50,000, a run of 1,000 agents made 135 young and 6 middle collections, 5.6 s of its
time. The price is that cycles the program drops wait longer to be freed: a young one until the next
million, one that lived through a young collection until a middle one (20 young ones). docs/performance.md
has the figures.
"""

import gc

# Net allocations before a young collection; young collections before a middle one; middle ones before
# a full one (the defaults are 700, 10, 10). Measured in docs/performance.md.
THRESHOLDS = (1_000_000, 20, 100)


def tune() -> None:
    """Freeze everything alive now (modules, classes, the SDK's tables: never garbage) so no collection
    walks it again, and collect in larger, rarer batches. Call it once the imports are done."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


def is_tuned() -> bool:
    """Whether `tune` ran in this process: its thresholds are set and something is frozen."""
    return gc.get_threshold() == THRESHOLDS and gc.get_freeze_count() > 0
