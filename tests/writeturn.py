"""A thread of the test process holding the database's write turn, for the tests of what
waits for it (the API's calls, the journal's upkeep)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from coffre.bootstrap import Coffre


@contextmanager
def write_turn_held(coffre: Coffre) -> Iterator[threading.Event]:
    """Within: a thread holds an open unit of work (the write turn, SQLite's write lock)
    until the yielded event is set or the block ends."""
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with coffre.uow():
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    assert holding.wait(5)
    try:
        yield release
    finally:
        release.set()
        thread.join(5)
