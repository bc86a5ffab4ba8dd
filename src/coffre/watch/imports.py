"""Other systems' audit logs: imported into an event store of their own, followed by
position and evaluated by the same rules as the journal; what fires is alerted, never
contained (docs/watch.md, "Other systems' logs").

    imported = imports.import_file(coffre, local_operator(org), path, Format.AUDITEVENT,
                                   source="old-emr", organisation_id=org)
    detectors = imports.SourceDetectors(rules)
    while imports.run_imports_once(coffre, detectors, profiles=profiles):
        pass

An import parses the whole file first: if any line cannot be read, `BadLines` names every
one and nothing is imported. Then all its events are stored in one transaction with the
journal entry that says so (`watch:import:create`), or none are.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import sqlalchemy as sa

from coffre import access, journal
from coffre.access import AccessDenied, Action, Decision, Purpose
from coffre.crypto import BLIND_INDEX_KEY, Keyring
from coffre.identity import Actor
from coffre.journal import Entry, EventKind, Outcome
from coffre.store import UnitOfWork
from coffre.watch import follow
from coffre.watch import tables as t
from coffre.watch.alerts import Stored, group_key, store_firing
from coffre.watch.detector import Detector, Firing
from coffre.watch.errors import WatchError
from coffre.watch.formats import Format, Pseudonyms
from coffre.watch.logfiles import parse_file
from coffre.watch.profiles import Profiles, imported_scope

if TYPE_CHECKING:
    from coffre.watch.ruleset import RuleSet  # pySigma: imported when rules are loaded

READER = "imports"  # the cursor of the imported store's follower
_CHUNK = 1_000


class _Installation(Protocol):
    keyring: Keyring

    def uow(self) -> UnitOfWork: ...


class BadLines(WatchError):
    """Lines of a file cannot be read: `problems` lists each (line number, reason)."""

    def __init__(self, problems: list[tuple[int, str]], file_name: str) -> None:
        count = len(problems)
        super().__init__(
            f"{count} line{'' if count == 1 else 's'} of {file_name} cannot be read; "
            "nothing was imported."
        )
        self.problems = problems


@dataclass(frozen=True)
class Import:
    """One imported file: its events hold the positions first to last."""

    id: str
    source: str
    format: Format
    file_name: str
    lines: int
    organisation_id: str | None
    imported_at: datetime
    imported_by: str
    first: int | None
    last: int | None


def pseudonyms(keyring: Keyring) -> Pseudonyms:
    """How this installation hashes imported patient ids: under a key derived from its
    blind-index key (a purpose of its own), so no foreign patient id is stored in clear."""
    return Pseudonyms(keyring.system_key(BLIND_INDEX_KEY))


def import_file(
    coffre_like: _Installation,
    actor: Actor,
    path: Path,
    fmt: Format,
    *,
    source: str | None = None,
    mapping: Mapping[str, str] | None = None,
    organisation_id: str | None = None,
    on_line: Callable[[int], None] | None = None,
    on_stored: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> Import:
    """Parse the file, then store all its events in one transaction, journaled. Raise
    AccessDenied (journaled), FormatError, or BadLines (nothing imported)."""
    fmt, now = Format(fmt), now or datetime.now(UTC)
    # Other systems' logs identify patients: importing them is the operator's, as is
    # importing patients.
    decision = access.decide(actor, Action.IMPORT, Purpose.IMPORT)
    if not decision.allowed:
        with coffre_like.uow() as uow:
            _journal(uow, actor, decision, Outcome.DENIED, None)
            uow.commit()
        raise AccessDenied(decision.rule, decision.explanation)
    parsed = parse_file(path, fmt, pseudonyms(coffre_like.keyring), mapping, on_line)
    if parsed.problems:
        raise BadLines(parsed.problems, path.name)
    # In time order, so that positions follow time as the rules' windows expect.
    events = sorted((event for _, event in parsed.events), key=lambda e: e["time"])
    batch_id, source = str(uuid.uuid4()), (source or path.stem).strip()[:120] or "unnamed"
    with coffre_like.uow() as uow:
        conn = uow.connection
        if conn.dialect.name == "postgresql":
            # One import at a time: positions then become visible in order, and a follower
            # never moves its cursor past an import still being written.
            conn.exec_driver_sql("LOCK TABLE watch_imported_events IN EXCLUSIVE MODE")
        conn.execute(
            t.watch_imports.insert().values(
                id=batch_id,
                source=source,
                format=fmt.value,
                file_name=path.name[:255],
                lines=len(events),
                organisation_id=organisation_id,
                imported_at=now,
                imported_by=actor.id[:120],
            )
        )
        for start in range(0, len(events), _CHUNK):
            chunk = events[start : start + _CHUNK]
            conn.execute(
                t.watch_imported_events.insert(),
                [
                    {"batch_id": batch_id, "source": source, "time": e["time"], "event": _json(e)}
                    for e in chunk
                ],
            )
            if on_stored is not None:
                on_stored(len(chunk))
        columns = t.watch_imported_events.c
        first, last = conn.execute(
            sa.select(sa.func.min(columns.id), sa.func.max(columns.id)).where(
                columns.batch_id == batch_id
            )
        ).one()
        facts = {"format": fmt.value, "events": str(len(events))}
        decision = Decision(True, decision.rule, decision.explanation, {**decision.facts, **facts})
        _journal(uow, actor, decision, Outcome.SUCCESS, batch_id)
        uow.commit()
    return Import(
        batch_id,
        source,
        fmt,
        path.name[:255],
        len(events),
        organisation_id,
        now,
        actor.id[:120],
        first,
        last,
    )


def _json(event: Mapping[str, Any]) -> str:
    stored = {k: v for k, v in event.items() if k != "seq"}
    stored["time"] = event["time"].astimezone(UTC).isoformat(timespec="microseconds")
    return json.dumps(stored, sort_keys=True, separators=(",", ":"))


def _journal(
    uow: UnitOfWork, actor: Actor, decision: Decision, outcome: Outcome, batch_id: str | None
) -> None:
    # The source's name and the file's are the operator's free text: they stay in
    # watch_imports, out of the journal.
    named = (f"watch-import:{batch_id}",) if batch_id else ()
    entry = Entry(EventKind.IMPORT_CREATE, actor, decision, outcome, Purpose.SECURITY, (), named)
    journal.append(uow, [entry])


class Imported(NamedTuple):
    """An imported event, the organisation its import was made for, and the source's name."""

    event: dict[str, Any]
    organisation_id: str | None
    source: str


def read(uow: UnitOfWork, start: int, batch: int = follow.DEFAULT_BATCH) -> list[Imported]:
    """Up to `batch` imported events from position `start` on, in order, each with the
    organisation its import was made for and its source. An event's `seq` is its position."""
    events, imports = t.watch_imported_events, t.watch_imports
    rows = uow.connection.execute(
        sa.select(
            events.c.id, events.c.time, events.c.event, events.c.source, imports.c.organisation_id
        )
        .join(imports, imports.c.id == events.c.batch_id)
        .where(events.c.id >= start)
        .order_by(events.c.id)
        .limit(batch)
    ).all()
    found = []
    for row in rows:
        event = json.loads(row.event)
        event["seq"], event["time"] = int(row.id), row.time
        found.append(Imported(event, row.organisation_id, row.source))
    return found


def behind(uow: UnitOfWork, name: str = READER) -> int:
    """How many imported events the reader `name` has not read yet."""
    start = follow.position(uow, name)
    counted = uow.connection.execute(
        sa.select(sa.func.count()).where(t.watch_imported_events.c.id >= start)
    ).scalar()
    return int(counted or 0)


def run_imports_once(
    coffre_like: _Installation,
    detectors: SourceDetectors,
    *,
    name: str = READER,
    batch: int = follow.DEFAULT_BATCH,
    profiles: Profiles | None = None,
    now: datetime | None = None,
    holder: str | None = None,
) -> int:
    """Deal with the next batch of imported events after the cursor `name` in one write
    unit of work, as `worker.run_once` does with the journal; return how many were read.
    With `profiles`, each event first gets its actor's profile fields (the actor's of
    that source and organisation, apart from Coffre's), and the profiles learnt are
    saved with the batch; each event goes to the detector of its own log. At the end of
    the store, the detectors' clocks move on to `now` (windows that can only be judged
    once over are judged). A firing is stored as an alert whose group is
    `imported:ORGANISATION:SOURCE:` and the rule's group; no rule's response is applied:
    there is no Coffre actor to suspend, the alert is the response. The cursor is held for
    `holder` (this process by default): raises WatchBusy while another holds it."""
    with coffre_like.uow() as uow:
        follow.claim(uow, name, holder or follow.here())  # on the wall clock
        start = follow.position(uow, name)
        found = read(uow, start, batch)
        by_seq = {item.event["seq"]: item for item in found}
        scopes = [imported_scope(item.organisation_id, item.source) for item in found]
        if profiles is not None:
            profiles.load(uow, [item.event for item in found], scopes)
        firings = []
        for item, scope in zip(found, scopes, strict=True):
            if profiles is not None:
                profiles.observe(item.event, scope)
            firings.extend(detectors.observe(item.event, scope))
        if not found:
            firings = detectors.advance(now or datetime.now(UTC))
        for firing in firings:
            _handle(uow, firing, by_seq)
        if found:
            follow.advance(uow, name, found[-1].event["seq"] + 1)
        if profiles is not None:
            profiles.save(uow)
        uow.commit()
    return len(found)


class SourceDetectors:
    """A detector per imported log (the organisation it was imported for and the source's
    name), each over the same rules: another system's actors are counted and correlated
    within their own log, never together with a namesake of another log."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self._by_scope: dict[str, Detector] = {}

    def observe(self, event: dict[str, Any], scope: str) -> list[Firing]:
        """Evaluate one event of the log `scope` (`profiles.imported_scope`)."""
        detector = self._by_scope.get(scope)
        if detector is None:
            detector = Detector(self.rules, id_field="seq", time_field="time")
            self._by_scope[scope] = detector
        return detector.observe(event)

    def advance(self, now: datetime) -> list[Firing]:
        """Move every log's clock to `now`; the firings of the windows that ended."""
        return [firing for detector in self._by_scope.values() for firing in detector.advance(now)]


def _handle(
    uow: UnitOfWork,
    firing: Firing,
    by_seq: dict[int, Imported],
) -> Stored:
    last = max(int(s) for s in firing.event_ids)
    event, organisation_id, source = by_seq.get(last) or read(uow, last, 1)[0]
    moment: datetime = event["time"]
    return store_firing(
        uow,
        firing,
        organisation_id=organisation_id,
        key=(imported_scope(organisation_id, source) + group_key(firing, event))[:300],
        first_at=firing.start or moment,
        last_at=firing.end or moment,
        imported=True,
    )
