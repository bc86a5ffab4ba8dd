"""Each actor's rolling profile, learnt from the journal as the watch follows it, and the
fields it adds to each event so that rules compare an actor with their own normal.

A profile keeps, for each of the 168 hours of the week (UTC, Monday 00:00 first), a rolling
mean of the actor's events and of the distinct patients they opened in that hour, each week
weighing `WEIGHT` of the mean (about a month of memory; a week without activity decays it),
plus when the actor was first and last seen and the patients they opened in the last hour.
Only allowed entries teach the profile (refusals and failed sign-ins of unknown names do not
create profiles); Coffre's own entries (`system`) are left alone. Other systems' imported
events teach profiles of their own, keyed apart (`actor_key` with a scope from `imported_scope`),
by the same code. An event more than an hour older than what its actor's profile has seen
(an older log imported after a newer one) neither teaches it nor is judged by it.

Fields added to an event whose actor has a profile (docs/watch.md lists them):
`actor_idle_days`, `actor_known_days`, `actor_usual_hour`, `actor_patients_hour`,
`actor_patients_usual` and `actor_patients_ratio`.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from coffre.store import UnitOfWork
from coffre.watch.tables import watch_profiles

SLOTS = 168
HOUR = 3600.0
DAY = 86400.0
WEIGHT = 0.25  # the weight of the newest week in a slot's rolling mean
KNOWN_DAYS = 14  # history needed before an hour is judged usual or not
USUAL_EVENTS = 0.25  # events per week in an hour (or the hours beside it) that make it usual
FORMAT = 1
KEY_LENGTH = 200  # watch_profiles.actor_key
IMPORTED = "imported:"  # how the key of an imported actor's profile starts
KEPT = 20_000  # profiles held in memory; past it, all are dropped once saved
OPENING = ("records", "import")  # modules whose allowed events open the patients they name


def _hour_slot_week(moment: float) -> tuple[int, int, int]:
    """The hour since the epoch, its hour of the week (Monday 00:00 UTC = 0), and the week."""
    hour = int(moment // HOUR)
    day = hour // 24
    return hour, ((day + 3) % 7) * 24 + hour % 24, (day + 3) // 7  # 1970-01-01 was a Thursday


@dataclass
class Profile:
    first_seen: float
    last_seen: float
    events: list[float] = field(default_factory=lambda: [0.0] * SLOTS)
    patients: list[float] = field(default_factory=lambda: [0.0] * SLOTS)
    folded: list[int] = field(default_factory=lambda: [-1] * SLOTS)  # week last folded in
    hour: int = -1  # the hour being counted
    hour_events: int = 0
    hour_patients: set[str] = field(default_factory=set)
    recent: OrderedDict[str, float] = field(default_factory=OrderedDict)  # last hour's patients

    def _first_week(self) -> int:
        return _hour_slot_week(self.first_seen)[2]

    def _mean(self, means: list[float], slot: int, week: int) -> float:
        """The slot's mean as of `week`, decayed for the weeks it was not folded into."""
        last = self.folded[slot] if self.folded[slot] >= 0 else self._first_week() - 1
        return means[slot] * (1 - WEIGHT) ** max(0, week - last - 1)

    def _fold(self) -> None:
        """Fold the hour being counted into its slot's means."""
        if self.hour < 0:
            return
        _, slot, week = _hour_slot_week(self.hour * HOUR)
        for means, count in (
            (self.events, self.hour_events),
            (self.patients, len(self.hour_patients)),
        ):
            mean = self._mean(means, slot, week)
            means[slot] = count if week == self._first_week() else mean + WEIGHT * (count - mean)
        self.folded[slot] = week

    def learn(self, moment: float, patient_ids: list[str]) -> None:
        hour = int(moment // HOUR)
        if hour > self.hour:
            self._fold()
            self.hour, self.hour_events, self.hour_patients = hour, 0, set()
        self.hour_events += 1
        self.hour_patients.update(patient_ids)
        for patient_id in patient_ids:
            self.recent[patient_id] = moment
            self.recent.move_to_end(patient_id)
        self.last_seen = max(self.last_seen, moment)

    def fields(self, moment: float, previous_seen: float) -> dict[str, Any]:
        """The profile's fields for an event at `moment` (after `learn`, if it taught)."""
        while self.recent and next(iter(self.recent.values())) < moment - HOUR:
            self.recent.popitem(last=False)
        _, slot, week = _hour_slot_week(moment)
        near = [(slot + d) % SLOTS for d in (-1, 0, 1)]
        known = (moment - self.first_seen) / DAY
        usual_patients = max(self._mean(self.patients, s, week) for s in near)
        opened = len(self.recent)
        found: dict[str, Any] = {
            "actor_idle_days": round((moment - previous_seen) / DAY, 3),
            "actor_known_days": round(known, 3),
            "actor_patients_hour": opened,
            "actor_patients_usual": round(usual_patients, 3),
            "actor_patients_ratio": round(opened / max(usual_patients, 1.0), 3),
        }
        if known >= KNOWN_DAYS:
            usual = max(self._mean(self.events, s, week) for s in near)
            found["actor_usual_hour"] = usual >= USUAL_EVENTS
        return found

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "first_seen": self.first_seen,
                "last_seen": self.last_seen,
                "events": self.events,
                "patients": self.patients,
                "folded": self.folded,
                "hour": self.hour,
                "hour_events": self.hour_events,
                "hour_patients": sorted(self.hour_patients),
                "recent": list(self.recent.items()),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Profile:
        data = json.loads(text)
        return cls(
            data["first_seen"],
            data["last_seen"],
            data["events"],
            data["patients"],
            data["folded"],
            data["hour"],
            data["hour_events"],
            set(data["hour_patients"]),
            OrderedDict((p, t) for p, t in data["recent"]),
        )


def imported_scope(organisation_id: str | None, source: str) -> str:
    """The scope of another system's log imported for the organisation (None: the
    operator's) under the source name, `imported:ORG:SOURCE:`, which starts the keys of
    its actors' profiles and the groups of its alerts. The source is the operator's free
    text: its `%` and `:` are escaped (`%25`, `%3A`), so no two scopes and actors make
    the same key."""
    escaped = source.replace("%", "%25").replace(":", "%3A")
    return f"{IMPORTED}{organisation_id or '-'}:{escaped}:"


def actor_key(event: dict[str, Any], scope: str = "") -> str | None:
    """The key of the event's actor's profile: `kind:id` for the journal, the same after
    `scope` for an imported event (hashed when too long for the table); None for Coffre's
    own entries and for events that name no actor."""
    kind, actor_id = event.get("actor_kind"), event.get("actor_id")
    if not kind or not actor_id or kind == "system":
        return None
    key = f"{scope}{kind}:{actor_id}"
    if len(key) <= KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{IMPORTED if scope else ''}sha256:{digest}"


def _seconds(moment: Any) -> float:
    if isinstance(moment, datetime):
        return moment.timestamp()
    return datetime.fromisoformat(str(moment).replace("Z", "+00:00")).timestamp()


class Profiles:
    """The profiles of the actors seen, loaded from and saved to `watch_profiles`."""

    def __init__(self) -> None:
        self._kept: dict[str, Profile | None] = {}  # None: looked up, not in the table
        self._changed: set[str] = set()

    def load(
        self,
        uow: UnitOfWork,
        events: list[dict[str, Any]],
        scopes: Sequence[str] | None = None,
    ) -> None:
        """Read the profiles of the actors of these events (each in its scope, as `observe`
        will be given it) that are not held yet."""
        keys = map(actor_key, events, scopes) if scopes is not None else map(actor_key, events)
        wanted = {k for k in keys if k is not None and k not in self._kept}
        for keys in _chunks(sorted(wanted), 500):
            rows = uow.connection.execute(
                sa.select(watch_profiles.c.actor_key, watch_profiles.c.state).where(
                    watch_profiles.c.actor_key.in_(keys)
                )
            )
            found = {key: Profile.from_json(state) for key, state in rows}
            self._kept.update((key, found.get(key)) for key in keys)

    def observe(self, event: dict[str, Any], scope: str = "") -> None:
        """Learn from the event if it was allowed, and add the actor's fields to it; `scope`
        keeps imported actors apart (`imported_scope`)."""
        key = actor_key(event, scope)
        if key is None:
            return
        moment = _seconds(event["time"])
        profile = self._kept.get(key)
        if profile is not None and moment < profile.last_seen - HOUR:
            return  # too late to be counted in its hour, and the profile is past it
        previous = profile.last_seen if profile is not None else moment
        if event.get("decision") == "allow":
            if profile is None:
                profile = self._kept[key] = Profile(moment, moment)
            opened = event.get("module") in OPENING
            profile.learn(moment, list(event.get("patient_id") or ()) if opened else [])
            self._changed.add(key)
        if profile is not None:
            event.update(profile.fields(moment, previous))

    def save(self, uow: UnitOfWork, now: datetime | None = None) -> None:
        """Write the profiles changed since the last save, in the open transaction. Past
        `KEPT` profiles held, all are dropped from memory (read back when next needed)."""
        if self._changed:
            self._write(uow, now or datetime.now(UTC))
        if len(self._kept) > KEPT:
            self._kept.clear()

    def _write(self, uow: UnitOfWork, moment: datetime) -> None:
        keys = sorted(self._changed)
        for chunk in _chunks(keys, 500):
            uow.connection.execute(
                watch_profiles.delete().where(watch_profiles.c.actor_key.in_(chunk))
            )
        uow.connection.execute(
            watch_profiles.insert(),
            [
                {"actor_key": key, "state": profile.to_json(), "updated_at": moment}
                for key in keys
                if (profile := self._kept[key]) is not None
            ],
        )
        self._changed.clear()


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
