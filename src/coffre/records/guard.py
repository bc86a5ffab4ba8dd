"""The inline guard: a per-actor sliding count of the distinct patients opened.

A scrape is cut at the gate, at the threshold exactly, without waiting for the watch to read
the journal: each account or machine client may open at most so many distinct patients
within a sliding window (`COFFRE_GUARD_PATIENTS` for people, `COFFRE_GUARD_CLIENT_PATIENTS`
for machine clients, over `COFFRE_GUARD_WINDOW_SECONDS`). Opening a patient already opened
within the window is free; the first patient past the threshold is refused, journaled as
denied (`watch:guard:stop`, rule `guard-distinct-patients`, the patient aimed at), and so is
every further new patient until older ones leave the window. The shipped watch rules turn
that entry into an alert and suspend the account or client, which ends the scrape for good.

The counts are held in the memory of the process that serves the requests (one per
installation: SQLite has one writer process). Several serving processes would each count
their own requests; a restart starts counting afresh.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from coffre import journal
from coffre.access import AccessDenied, Decision, Purpose
from coffre.identity import Actor, ActorKind
from coffre.journal import Entry, EventKind, Outcome
from coffre.store import UnitOfWork

RULE = "guard-distinct-patients"


@dataclass(frozen=True)
class GuardLimits:
    people: int = 20  # distinct patients per window for an account (a person, or their token)
    clients: int = 50  # distinct patients per window for a machine client
    window: timedelta = timedelta(minutes=10)


class Guard:
    """The distinct patients each actor opened within the window, oldest first."""

    def __init__(self, limits: GuardLimits | None = None) -> None:
        self.limits = limits or GuardLimits()
        self._opened: dict[str, OrderedDict[str, datetime]] = {}
        self._lock = threading.Lock()

    def limit_for(self, actor: Actor) -> int | None:
        """The actor's threshold; None for whom the guard does not count (the operator, and
        Coffre itself)."""
        if actor.kind is ActorKind.ACCOUNT:
            return self.limits.people
        if actor.kind is ActorKind.CLIENT:
            return self.limits.clients
        return None

    def admit(self, actor: Actor, patient_ids: Sequence[str], now: datetime) -> bool:
        """Count these patients as opened by the actor now and return True, or return False
        and count nothing when the new ones would take the actor past its threshold."""
        limit = self.limit_for(actor)
        if limit is None or not patient_ids:
            return True
        key = f"{actor.kind.value}:{actor.id}"
        with self._lock:
            opened = self._opened.setdefault(key, OrderedDict())
            oldest = now - self.limits.window
            while opened and next(iter(opened.values())) < oldest:
                opened.popitem(last=False)
            new = {p for p in patient_ids if p not in opened}
            if len(opened) + len(new) > limit:
                return False
            for patient_id in patient_ids:
                opened[patient_id] = now
                opened.move_to_end(patient_id)
            return True

    def opened(self, actor: Actor, now: datetime) -> int:
        """How many distinct patients the actor opened within the window ending now."""
        key = f"{actor.kind.value}:{actor.id}"
        with self._lock:
            times = self._opened.get(key, OrderedDict()).values()
            return sum(1 for t in times if t >= now - self.limits.window)


def guard(
    uow: UnitOfWork,
    keeper: Guard,
    actor: Actor,
    patient_ids: Sequence[str],
    purpose: Purpose | None,
    now: datetime,
) -> None:
    """Let the actor open these patients, or journal the refusal, commit it and raise
    AccessDenied (the caller has written nothing yet)."""
    if keeper.admit(actor, patient_ids, now):
        return
    limit = keeper.limit_for(actor)
    minutes = int(keeper.limits.window.total_seconds() // 60)
    decision = Decision(
        False,
        RULE,
        f"the actor opened {limit} distinct patients within {minutes} minutes, "
        "as many as the guard allows",
        {"limit": str(limit), "window_minutes": str(minutes)},
    )
    entry = Entry(
        EventKind.GUARD_STOP, actor, decision, Outcome.DENIED, purpose, tuple(patient_ids), ()
    )
    journal.append(uow, [entry])
    uow.commit()
    raise AccessDenied(decision.rule, decision.explanation)
