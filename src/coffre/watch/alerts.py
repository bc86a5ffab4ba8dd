"""Alerts: what a rule's firings become, for the security officer of the organisation of
the actor they are about.

One alert per (rule, group) and episode. A firing for a (rule, group) whose open or
acknowledged alert saw its last event at most one episode gap before the firing's first
event extends that alert (its entries are added, its last time moves on); otherwise it
opens a new alert, which is journaled and told to the organisation's security officer
(ids, the rule's title and severity; never patient data). A firing whose entries all
belong to an alert of its (rule, group) already changes nothing, so replaying a batch
after a crash is harmless.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from coffre import access, journal, notify
from coffre.access import Decision, Purpose
from coffre.crypto import DecryptionFailed, SecretBox
from coffre.identity import Actor, ActorKind
from coffre.journal import Entry, EventKind, Outcome
from coffre.notify import NotificationKind, Recipient
from coffre.store import UnitOfWork
from coffre.watch import tables as t
from coffre.watch.detector import Firing
from coffre.watch.errors import AlertClosed, AlertNotFound, WatchError
from coffre.watch.rules import CorrelationRule, Rule

# The longest note an officer may write on an alert, in characters.
NOTE_LIMIT = 2000

# How long after its last event a detection rule's alert still takes new firings.
EPISODE_GAP = timedelta(hours=1)


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


@dataclass(frozen=True)
class Alert:
    id: str
    organisation_id: str | None
    rule_ref: str
    rule_title: str
    severity: str | None
    group_key: str
    state: AlertState
    changed_by: str | None
    changed_at: datetime | None
    first_at: datetime
    last_at: datetime
    created_at: datetime
    seqs: tuple[int, ...]  # the journal entries behind it, in order
    # For an alert on imported events (its group starts with `imported:`): their positions
    # in the imported store (watch/imports.py), in order; its `seqs` are then empty.
    positions: tuple[int, ...] = ()
    explanation: str | None = None  # the rule's description when the alert was opened


@dataclass(frozen=True)
class Stored:
    """What storing a firing did: the alert, whether it was opened now, and the entries
    added to it (none when the firing was already recorded)."""

    alert: Alert
    created: bool
    added: tuple[int, ...]


def watch_actor(organisation_id: str | None) -> Actor:
    """Coffre's detection engine as the journal names it, acting within an organisation."""
    return Actor(
        kind=ActorKind.SYSTEM, id="system:watch", organisation_id=organisation_id, source="watch"
    )


def group_key(firing: Firing, event: dict[str, Any]) -> str:
    """The text an alert is grouped by: a correlation's group (its one value, or
    `name=value` pairs joined by `;`), or for a detection rule the actor of its event."""
    if isinstance(firing.rule, CorrelationRule):
        values = ["null" if v is None else str(v) for v in firing.group]
        if len(values) == 1:
            return values[0][:300]
        return ";".join(f"{k}={v}" for k, v in zip(firing.rule.group_by, values, strict=True))[:300]
    return str(event.get("actor_id"))[:300]


def episode_gap(rule: Rule) -> timedelta:
    """How close to an alert's last event a new firing must start to extend it: the
    correlation's timespan, or EPISODE_GAP for a detection rule."""
    return rule.timespan if isinstance(rule, CorrelationRule) else EPISODE_GAP


def extends(alert: Alert, rule: Rule, first_at: datetime) -> bool:
    """True when a firing whose first event is at `first_at` belongs to the alert's episode."""
    return alert.state is not AlertState.CLOSED and first_at - alert.last_at <= episode_gap(rule)


def _alerts(uow: UnitOfWork, where: Any, *, locked: bool = False) -> list[Alert]:
    """The alerts matching `where`, oldest first; `locked`: their rows locked until commit
    (PostgreSQL), so that a close decided meanwhile is seen before they are extended."""
    query = sa.select(t.watch_alerts).where(where).order_by(t.watch_alerts.c.created_at)
    rows = uow.connection.execute(query.with_for_update() if locked else query).all()
    if not rows:
        return []
    ids = [row.id for row in rows]
    seqs: dict[str, list[int]] = {i: [] for i in ids}
    for alert_id, seq in uow.connection.execute(
        sa.select(t.watch_alert_entries.c.alert_id, t.watch_alert_entries.c.seq)
        .where(t.watch_alert_entries.c.alert_id.in_(ids))
        .order_by(t.watch_alert_entries.c.seq)
    ):
        seqs[alert_id].append(int(seq))
    positions: dict[str, list[int]] = {i: [] for i in ids}
    imported = t.watch_alert_imported_entries.c
    for alert_id, position in uow.connection.execute(
        sa.select(imported.alert_id, imported.position)
        .where(imported.alert_id.in_(ids))
        .order_by(imported.position)
    ):
        positions[alert_id].append(int(position))
    return [
        Alert(
            row.id,
            row.organisation_id,
            row.rule_ref,
            row.rule_title,
            row.severity,
            row.group_key,
            AlertState(row.state),
            row.changed_by,
            row.changed_at,
            row.first_at,
            row.last_at,
            row.created_at,
            tuple(seqs[row.id]),
            tuple(positions[row.id]),
            row.explanation,
        )
        for row in rows
    ]


def get_alert(uow: UnitOfWork, alert_id: str) -> Alert:
    """The alert with this id; raise AlertNotFound."""
    found = _alerts(uow, t.watch_alerts.c.id == alert_id)
    if not found:
        raise AlertNotFound(f"There is no alert {alert_id[:40]!r}.")
    return found[0]


def list_alerts(
    uow: UnitOfWork, organisation_id: str | None = None, state: AlertState | None = None
) -> list[Alert]:
    """The alerts, oldest first, of one organisation and in one state, or all."""
    columns = t.watch_alerts.c
    where = sa.true()
    if organisation_id is not None:
        where = sa.and_(where, columns.organisation_id == organisation_id)
    if state is not None:
        where = sa.and_(where, columns.state == AlertState(state).value)
    return _alerts(uow, where)


def store_firing(
    uow: UnitOfWork,
    firing: Firing,
    *,
    organisation_id: str | None,
    key: str,
    first_at: datetime,
    last_at: datetime,
    now: datetime | None = None,
    imported: bool = False,
) -> Stored:
    """Record a firing in the open transaction: extend its episode's alert, or open one
    (journaled, and told to the organisation's security officer); nothing when its
    entries are all recorded already. With `imported`, the firing's event ids are
    positions in the imported store, and `key` starts with `imported:`."""
    now = now or datetime.now(UTC)
    rule = firing.rule
    seqs = tuple(sorted({int(s) for s in firing.event_ids}))
    entries, column = (
        (t.watch_alert_imported_entries, "position") if imported else (t.watch_alert_entries, "seq")
    )
    same = _alerts(
        uow,
        sa.and_(t.watch_alerts.c.rule_ref == rule.ref[:200], t.watch_alerts.c.group_key == key),
        locked=True,
    )
    for alert in same:
        if set(seqs) <= set(alert.positions if imported else alert.seqs):
            return Stored(alert, False, ())
    current = [a for a in same if extends(a, rule, first_at)]
    if current:
        alert = current[-1]
        known = set(alert.positions if imported else alert.seqs)
        added = tuple(s for s in seqs if s not in known)
        uow.connection.execute(entries.insert(), [{"alert_id": alert.id, column: s} for s in added])
        uow.connection.execute(
            t.watch_alerts.update()
            .where(t.watch_alerts.c.id == alert.id)
            .values(last_at=max(alert.last_at, last_at))
        )
        return Stored(get_alert(uow, alert.id), False, added)
    alert_id = str(uuid.uuid4())
    uow.connection.execute(
        t.watch_alerts.insert().values(
            id=alert_id,
            organisation_id=organisation_id,
            rule_ref=rule.ref[:200],
            rule_title=rule.title[:300],
            explanation=(rule.description or "")[:1000] or None,
            severity=rule.level,
            group_key=key,
            state=AlertState.OPEN.value,
            first_at=first_at,
            last_at=last_at,
            created_at=now,
        )
    )
    uow.connection.execute(entries.insert(), [{"alert_id": alert_id, column: s} for s in seqs])
    facts = {"rule": rule.ref[:200], "severity": rule.level, "entries": str(len(seqs))}
    if imported:
        facts["source"] = "imported"  # its entries are imported events, not journal entries
    decision = Decision(True, "detection-rule", "a detection rule fired", facts)
    entry = Entry(
        EventKind.ALERT_CREATE,
        watch_actor(organisation_id),
        decision,
        Outcome.SUCCESS,
        Purpose.SECURITY,
        (),
        (f"alert:{alert_id}",),
    )
    [seq] = journal.append(uow, [entry])
    if organisation_id is not None:
        notify.enqueue(
            uow,
            Recipient.SECURITY_OFFICER,
            organisation_id,
            NotificationKind.WATCH_ALERT,
            {
                "at": now.isoformat(),
                "subject": rule.title[:300],
                "reason": rule.level,
                "alert": alert_id,
            },
            seq,
        )
    return Stored(get_alert(uow, alert_id), True, seqs)


def change_alert(
    uow: UnitOfWork,
    actor: Actor,
    alert_id: str,
    state: AlertState,
    note: str | None = None,
    *,
    box: SecretBox | None = None,
    now: datetime | None = None,
) -> Alert:
    """Acknowledge or close an alert, with an optional note sealed with `box`; journaled,
    refusals too. Raises AccessDenied, AlertNotFound, AlertClosed (a closed alert stays
    closed), or WatchError (a note too long)."""
    state = AlertState(state)
    now = now or datetime.now(UTC)
    note = note.strip() if note else None
    if note and len(note) > NOTE_LIMIT:
        raise WatchError(f"A note is at most {NOTE_LIMIT:,} characters.")
    if note and box is None:
        raise ValueError("a note is sealed: the system-secrets box is needed")
    note_id = str(uuid.uuid4()) if note else None
    with uow:
        alert = get_alert(uow, alert_id)
        decision = _officer_decision(
            actor, alert, {"state": state.value, "from": alert.state.value}
        )
        resources = (f"alert:{alert.id}",) + ((f"alert-note:{note_id}",) if note_id else ())

        def _journal(outcome: Outcome) -> None:
            entry = Entry(
                EventKind.ALERT_UPDATE, actor, decision, outcome, Purpose.SECURITY, (), resources
            )
            journal.append(uow, [entry])

        if not decision.allowed:
            _journal(Outcome.DENIED)
            uow.commit()
            raise access.AccessDenied(decision.rule, decision.explanation)
        if alert.state is AlertState.CLOSED:
            raise AlertClosed("A closed alert stays closed.")
        if state is AlertState.OPEN:
            raise WatchError("An alert is acknowledged or closed, not reopened.")
        changed = uow.connection.execute(
            t.watch_alerts.update()
            .where(
                t.watch_alerts.c.id == alert.id, t.watch_alerts.c.state != AlertState.CLOSED.value
            )
            .values(state=state.value, changed_by=actor.id[:120], changed_at=now)
        ).rowcount
        if not changed:  # closed by someone else since it was read
            raise AlertClosed("A closed alert stays closed.")
        if note and note_id and box is not None:
            uow.connection.execute(
                t.watch_alert_notes.insert().values(
                    id=note_id,
                    alert_id=alert.id,
                    state=state.value,
                    author=actor.id[:120],
                    written_at=now,
                    sealed=box.seal(note.encode("utf-8"), _note_context(alert.id, note_id)),
                )
            )
        _journal(Outcome.SUCCESS)
        uow.commit()
        return replace(alert, state=state, changed_by=actor.id[:120], changed_at=now)


@dataclass(frozen=True)
class AlertNote:
    id: str
    state: AlertState  # the state the alert was given with the note
    author: str  # an actor id
    written_at: datetime
    text: str


def alert_notes(uow: UnitOfWork, box: SecretBox, actor: Actor, alert_id: str) -> list[AlertNote]:
    """The notes on an alert, oldest first, for those who may handle it; journaled (they
    may name people), refusals too. Raises AccessDenied, AlertNotFound, or WatchError when
    a note does not open (it was altered, or moved from another alert)."""
    with uow:
        alert = get_alert(uow, alert_id)
        decision = _officer_decision(actor, alert, {})
        columns = t.watch_alert_notes.c
        rows = uow.connection.execute(
            sa.select(t.watch_alert_notes)
            .where(columns.alert_id == alert.id)
            .order_by(columns.written_at, columns.id)
        ).all()
        outcome = Outcome.SUCCESS if decision.allowed else Outcome.DENIED
        entry = Entry(
            EventKind.ALERT_READ,
            actor,
            decision,
            outcome,
            Purpose.SECURITY,
            (),
            (f"alert:{alert.id}", *(f"alert-note:{row.id}" for row in rows)),
        )
        journal.append(uow, [entry])
        uow.commit()
    if not decision.allowed:
        raise access.AccessDenied(decision.rule, decision.explanation)
    notes = []
    for row in rows:
        try:
            text = box.open(bytes(row.sealed), _note_context(alert.id, row.id)).decode("utf-8")
        except DecryptionFailed:
            raise WatchError(
                f"Note {row.id} of alert {alert.id} does not open: it was altered or moved."
            ) from None
        notes.append(AlertNote(row.id, AlertState(row.state), row.author, row.written_at, text))
    return notes


def _officer_decision(actor: Actor, alert: Alert, facts: dict[str, str]) -> Decision:
    decision = access.decide_alert(actor, alert.organisation_id)
    return Decision(
        decision.allowed, decision.rule, decision.explanation, {**decision.facts, **facts}
    )


def _note_context(alert_id: str, note_id: str) -> str:
    return f"watch-alert-note:{alert_id}:{note_id}"
