"""What an insurer (mutuelle) offering the service may learn: whether a member is covered,
and how much the service was used. Never a name, never a clinical category.

An insurer names its members by its own member number; Coffre keeps only a keyed digest of
it (bound to the insurer), so the number cannot be read back from the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa

from coffre import access, identity
from coffre.access import Action, Purpose, RelationshipKind
from coffre.identity import Actor, OrganisationKind
from coffre.journal import EventKind, Outcome
from coffre.records.errors import InvalidChoice
from coffre.records.gate import decide_or_refuse, record, refuse
from coffre.records.tables import memberships, patients
from coffre.records.vault import Vault
from coffre.store import UnitOfWork, lock_keys


@dataclass(frozen=True)
class Member:
    member_id: str
    patient_id: str
    covered_from: date
    covered_until: date | None = None


@dataclass(frozen=True)
class Eligibility:
    """The answer to "is this member covered on that day"."""

    member_id: str
    on: date
    covered: bool


@dataclass(frozen=True)
class Usage:
    """Teleconsultations started by the insurer's members, by month ("YYYY-MM")."""

    since: date
    until: date
    members: int
    teleconsultations: dict[str, int]


def enrol_members(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    insurer_id: str,
    members: Iterable[Member],
    purpose: Purpose = Purpose.INSURANCE,
) -> int:
    """Record an insurer's members (all or none); return how many."""
    new = list(members)
    with uow:
        decision = decide_or_refuse(
            uow,
            actor,
            Action.ENROL,
            purpose,
            EventKind.MEMBER_ENROL,
            [m.patient_id for m in new],
        )
        if identity.get_organisation(uow, insurer_id).kind is not OrganisationKind.INSURER:
            raise InvalidChoice("Members are enrolled with an insurer organisation.")
        wanted = sorted({m.patient_id for m in new})
        found = set(
            uow.connection.execute(
                sa.select(patients.c.id).where(patients.c.id.in_(wanted))
            ).scalars()
        )
        if missing := [p for p in wanted if p not in found]:
            raise InvalidChoice(f"There is no patient with id {missing[0]}.")
        for m in new:
            if not m.member_id.strip():
                raise InvalidChoice("A member number cannot be empty.")
            if m.covered_until is not None and m.covered_until < m.covered_from:
                raise InvalidChoice("A period of cover must end after it starts.")
        digests = [vault.blind.member(insurer_id, m.member_id) for m in new]
        # Two enrolments of one member number at once are judged one after the other.
        lock_keys(uow.connection, [f"member:{insurer_id}:{d.hex()}" for d in digests])
        if (
            len(set(digests)) != len(digests)
            or uow.connection.execute(
                sa.select(sa.func.count()).where(
                    memberships.c.insurer_id == insurer_id, memberships.c.member_digest.in_(digests)
                )
            ).scalar_one()
        ):
            raise InvalidChoice("A member number is enrolled twice with this insurer.")
        if new:
            uow.connection.execute(
                memberships.insert(),
                [
                    {
                        "insurer_id": insurer_id,
                        "member_digest": digest,
                        "patient_id": m.patient_id,
                        "covered_from": m.covered_from,
                        "covered_until": m.covered_until,
                    }
                    for m, digest in zip(new, digests, strict=True)
                ],
            )
        record(
            uow,
            actor,
            decision,
            EventKind.MEMBER_ENROL,
            Outcome.SUCCESS,
            purpose,
            wanted,
            [f"insurer:{insurer_id}"],
        )
        uow.commit()
    return len(new)


# What an insurer's token must allow: reading the coverage of one member (eligibility) or
# searching coverage figures (usage).
INSURANCE_RESOURCE = frozenset({"Coverage"})


def check_eligibility(
    uow: UnitOfWork, vault: Vault, actor: Actor, member_id: str, on: date | None = None
) -> Eligibility:
    """Whether the member (by the actor's insurer's member number) is covered on `on`
    (today by default). The patient sees in their history that their insurer asked."""
    day = on or datetime.now(UTC).date()
    kind, purpose = EventKind.ELIGIBILITY_READ, Purpose.INSURANCE
    with uow:
        decision = access.decide_token(actor, INSURANCE_RESOURCE, "r") or access.decide_insurer(
            actor, Action.ELIGIBILITY
        )
        if not decision.allowed:
            refuse(uow, actor, decision, kind, purpose)
        assert actor.organisation_id is not None
        row = uow.connection.execute(
            sa.select(memberships).where(
                memberships.c.insurer_id == actor.organisation_id,
                memberships.c.member_digest == vault.blind.member(actor.organisation_id, member_id),
            )
        ).first()
        covered = (
            row is not None
            and row.covered_from <= day
            and (row.covered_until is None or day <= row.covered_until)
        )
        patient_ids = [row.patient_id] if row is not None else []
        record(
            uow,
            actor,
            decision,
            kind,
            Outcome.SUCCESS,
            purpose,
            patient_ids,
            [f"eligibility:{'covered' if covered else 'not-covered'}"],
        )
        uow.commit()
    return Eligibility(member_id, day, covered)


def usage_figures(uow: UnitOfWork, vault: Vault, actor: Actor, since: date, until: date) -> Usage:
    """How many teleconsultations the actor's insurer's members started in [since, until),
    by month; counts only, no patient named."""
    if until <= since:
        raise InvalidChoice("The period must end after it starts.")
    kind, purpose = EventKind.USAGE_READ, Purpose.INSURANCE
    with uow:
        decision = access.decide_token(actor, INSURANCE_RESOURCE, "s") or access.decide_insurer(
            actor, Action.USAGE
        )
        if not decision.allowed:
            refuse(uow, actor, decision, kind, purpose)
        members = sa.select(memberships.c.patient_id).where(
            memberships.c.insurer_id == actor.organisation_id
        )
        count = uow.connection.execute(
            sa.select(sa.func.count()).select_from(members.subquery())
        ).scalar_one()
        months = access.started_by_month(
            uow,
            RelationshipKind.TELECONSULTATION,
            members,
            datetime.combine(since, datetime.min.time(), UTC),
            datetime.combine(until, datetime.min.time(), UTC),
        )
        record(
            uow,
            actor,
            decision,
            kind,
            Outcome.SUCCESS,
            purpose,
            [],
            [f"usage:{since.isoformat()}/{until.isoformat()}"],
        )
        uow.commit()
    return Usage(since, until, int(count), months)
