"""The watch as a background thread of `coffre serve`: follow the journal while requests are
served, so a rule's response takes effect within a second or two of the entry that fired it.

    watcher = Watcher(coffre, watch.shipped_rules())
    watcher.start()
    ...
    watcher.stop()

The thread runs `worker.run_once` (the journal) and `imports.run_imports_once` (other
systems' imported logs, with a detector and profiles of their own) in a loop, sleeping
`poll` seconds when both are at their end. While another process holds the cursors (a
`coffre watch run`, another server) it waits, trying again every `BUSY_PAUSE` seconds, and
starts afresh from the cursors once it has them.
A failed batch is rolled back and retried with a new detector after a pause that doubles up
to a minute; the failure is logged by its kind only (never an event's content). After
`STUCK_AFTER` failures in a row the watch is stuck (a batch that always fails, or a database
gone): it says so once at error level and `stuck` turns true, until a batch succeeds.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from coffre.watch import follow
from coffre.watch.detector import Detector
from coffre.watch.errors import WatchBusy
from coffre.watch.imports import READER as IMPORTS_READER
from coffre.watch.imports import SourceDetectors, run_imports_once
from coffre.watch.profiles import Profiles
from coffre.watch.worker import Installation, run_once

if TYPE_CHECKING:
    from coffre.watch.ruleset import RuleSet  # pySigma: imported when rules are loaded

log = logging.getLogger("coffre.watch")

READER = "alerts"
STUCK_AFTER = 5  # failed batches in a row before the watch reports itself stuck
BUSY_PAUSE = 5.0  # seconds between tries while another process holds the cursor


class Watcher:
    """Follows the journal in a daemon thread until `stop`."""

    def __init__(
        self,
        coffre_like: Installation,
        rules: RuleSet,
        *,
        name: str = READER,
        poll: float = 0.5,
        batch: int = follow.DEFAULT_BATCH,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._coffre, self._rules, self._name = coffre_like, rules, name
        self._poll, self._batch, self._clock = poll, batch, clock
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.batches = 0  # batches committed, for tests and status
        self.failures = 0
        self.stuck = False
        self.waiting = False  # another process holds the cursor

    def _fresh(self) -> tuple[Detector, SourceDetectors, Profiles, Profiles]:
        """Detectors for the journal and for imported events, and the profiles of each."""
        journal_ = Detector(self._rules, id_field="seq", time_field="time")
        return journal_, SourceDetectors(self._rules), Profiles(), Profiles()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="coffre-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._thread is None or not self._thread.is_alive():
            for name in (self._name, IMPORTS_READER):
                with contextlib.suppress(Exception):  # else its lease runs out
                    follow.release(self._coffre.uow(), name, follow.here())

    def _loop(self) -> None:
        detector, imported, profiles, imported_profiles = self._fresh()
        pause, failed = self._poll, 0
        while not self._stopping.is_set():
            try:
                now = self._clock()
                done = run_once(
                    self._coffre,
                    detector,
                    name=self._name,
                    batch=self._batch,
                    profiles=profiles,
                    now=now,
                )
                done += run_imports_once(
                    self._coffre,
                    imported,
                    batch=self._batch,
                    profiles=imported_profiles,
                    now=now,
                )
            except WatchBusy:
                # Another process follows (a `coffre watch run`, another server): wait for
                # it to stop or its lease to run out, then start afresh from the cursors.
                if not self.waiting:
                    log.warning("another watcher follows the journal; this one waits")
                self.waiting = True
                detector, imported, profiles, imported_profiles = self._fresh()
                self._stopping.wait(BUSY_PAUSE)
                continue
            except Exception as exc:  # noqa: BLE001 (the thread must outlive any batch)
                self.failures += 1
                failed += 1
                if failed == STUCK_AFTER:
                    self.stuck = True
                    log.error(
                        "the watch is stuck: %d batches failed in a row (%s); no alert is "
                        "raised until a batch succeeds",
                        failed,
                        type(exc).__name__,
                    )
                log.warning(
                    "watch batch failed (%s); retrying in %.1f s", type(exc).__name__, pause
                )
                # They counted the rolled-back events: start afresh from the cursors.
                detector, imported, profiles, imported_profiles = self._fresh()
                self._stopping.wait(pause)
                pause = min(pause * 2, 60.0)
                continue
            pause, failed, self.stuck, self.waiting = self._poll, 0, False, False
            self.batches += 1
            if not done:
                self._stopping.wait(self._poll)
