"""The alerts worker: follow the journal, evaluate the rules, record alerts, contain.

    detector = watch.Detector(watch.load_rules(text), id_field="seq", time_field="time")
    while True:
        if not worker.run_once(coffre, detector, profiles=profiles):
            time.sleep(1)  # at the journal's end: the windows were judged up to now

`run_once` does one batch in one write unit of work: it reads the entries after the
reader's cursor, feeds them to the detector, stores or extends an alert for each firing,
applies the rule's response, moves the cursor on and commits. A failure rolls all of it
back and the next run replays the batch (at least once; storing an alert is idempotent).

The detector keeps its correlation windows in memory. A restart (a new Detector) resumes
from the cursor but loses the open windows: correlations start counting afresh from the
first entry after the cursor, so a pattern that straddles a restart may be missed, and
old entries never alert twice. After a failed run, build a new Detector too, since the
one that failed has counted the replayed entries already. This is accepted for now.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol

import sqlalchemy as sa

from coffre import identity, signin
from coffre.identity import clients as machine
from coffre.identity import tokens
from coffre.identity.errors import IdentityError
from coffre.store import UnitOfWork
from coffre.watch import follow
from coffre.watch.alerts import Stored, group_key, store_firing, watch_actor
from coffre.watch.detector import Detector, Firing
from coffre.watch.profiles import Profiles
from coffre.watch.rules import Response


class Installation(Protocol):
    def uow(self) -> UnitOfWork: ...


class _Joined(UnitOfWork):
    """The worker's open unit of work lent to a service that opens and commits its own:
    entering, committing and leaving do nothing here, so the service's changes commit, or
    roll back, with the rest of the batch."""

    def __init__(self, outer: UnitOfWork) -> None:
        super().__init__(outer.engine)
        self._outer = outer

    def __enter__(self) -> UnitOfWork:
        return self

    @property
    def connection(self) -> sa.Connection:
        return self._outer.connection

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pass


def run_once(
    coffre_like: Installation,
    detector: Detector,
    *,
    name: str = "alerts",
    batch: int = follow.DEFAULT_BATCH,
    profiles: Profiles | None = None,
    now: datetime | None = None,
    holder: str | None = None,
) -> int:
    """Deal with the next batch of journal entries after the cursor `name`; return how
    many entries were read (0 when the reader is at the end of the journal). With
    `profiles`, each event first gets its actor's profile fields, and the profiles learnt
    from the batch are saved with it. At the journal's end, the detector's clock moves on
    to `now` (default: the current time), and the correlations whose windows can only be
    judged once over (`lt`, `lte`, `eq`) are judged and stored. The cursor is held for
    `holder` (this process by default): raises WatchBusy while another holds it."""
    with coffre_like.uow() as uow:
        follow.claim(uow, name, holder or follow.here())  # on the wall clock
        start = follow.position(uow, name)
        events = follow.read(uow, start, batch)
        by_seq = {event["seq"]: event for event in events}
        if profiles is not None:
            profiles.load(uow, events)
        for event in events:
            if profiles is not None:
                profiles.observe(event)
            for firing in detector.observe(event):
                _handle(uow, firing, by_seq)
        if not events:
            for firing in detector.advance(now or datetime.now(UTC)):
                _handle(uow, firing, by_seq)
        if events:
            follow.advance(uow, name, events[-1]["seq"] + 1)
        if profiles is not None:
            profiles.save(uow)
        uow.commit()
    return len(events)


def _handle(uow: UnitOfWork, firing: Firing, by_seq: dict[int, dict[str, Any]]) -> Stored:
    """Store the firing as an alert; apply its response when it opened or extended one."""
    last = max(int(s) for s in firing.event_ids)
    event = by_seq.get(last) or follow.read(uow, last, 1)[0]
    moment: datetime = event["time"]
    stored = store_firing(
        uow,
        firing,
        organisation_id=event["organisation_id"],
        key=group_key(firing, event),
        first_at=firing.start or moment,
        last_at=firing.end or moment,
    )
    if stored.added and firing.response is not None:
        contain(uow, firing.response, event, stored.alert.id)
    return stored


def contain(uow: UnitOfWork, response: Response, event: dict[str, Any], alert_id: str) -> None:
    """Apply a rule's response to the actor, session or token of `event`, as the watch's own
    actor, in the open transaction; the suspension's journal entry names the alert. What is
    suspended already (or gone) is left as it is."""
    actor = watch_actor(event["organisation_id"])
    lent = _Joined(uow)
    reason = f"alert {alert_id}"
    named = (f"alert:{alert_id}",)
    kind, actor_id, reference = event["actor_kind"], event["actor_id"], event["session_id"]
    if response is Response.SUSPEND_ACCOUNT and kind == "account":
        if not identity.is_suspended(uow, actor_id):
            signin.suspend_account(lent, actor, actor_id, reason, resources=named)
    elif response is Response.SUSPEND_SESSION and reference:
        if identity.session_by_reference(uow, reference) is not None:
            signin.suspend_session(lent, actor, reference, reason, resources=named)
        else:
            _suspend_token(uow, lent, actor, reference, reason, named)
    elif response is Response.SUSPEND_TOKEN and reference:
        _suspend_token(uow, lent, actor, reference, reason, named)
    elif response is Response.SUSPEND_CLIENT and kind == "client":
        try:
            client = machine.get_client(uow, actor_id)
        except IdentityError:
            return  # an unknown client (a refused assertion): nothing to suspend
        if client.suspended_at is None:
            signin.suspend_client(lent, actor, client.id, reason, resources=named)


def _suspend_token(
    uow: UnitOfWork,
    lent: UnitOfWork,
    actor: identity.Actor,
    reference: str,
    reason: str,
    named: tuple[str, ...],
) -> None:
    info = tokens.token_by_reference(uow, reference)
    if info is not None and info.suspended_at is None:
        signin.suspend_token(lent, actor, reference, reason, resources=named)
