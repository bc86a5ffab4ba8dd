"""`coffre serve` moves what it built before serving out of the collector's full passes."""

from __future__ import annotations

import gc

from coffre.cli.app import settle_heap


def test_what_was_built_before_serving_is_out_of_the_collectors_passes() -> None:
    built = [{"n": n} for n in range(1_000)]
    before = gc.get_freeze_count()
    try:
        settle_heap()
        assert gc.get_freeze_count() >= before + len(built)
        # A frozen object is in no generation: a full pass does not walk it.
        walked = {id(o) for o in gc.get_objects(generation=2)}
        assert not any(id(o) in walked for o in built)
    finally:
        gc.unfreeze()
