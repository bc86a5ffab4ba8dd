"""The patient's controls: consent, care relationships, exclusions, masked documents, and
the emergency access that bypasses them.

Each change is decided by `access` (the patient, the operator at the patient's request, or
a professional for the relationships their care creates), journaled, recorded, and reported
to the patient through the outbox, all in one transaction: a change someone else made is
seen. Free text (an emergency's reason) is sealed under the patient's key, never in clear.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from coffre import access, identity, notify
from coffre.access import (
    Control,
    ControlRequest,
    Decision,
    PatientFacts,
    Purpose,
    Relationship,
    RelationshipKind,
)
from coffre.identity import Actor, ActorKind
from coffre.journal import EventKind, Outcome
from coffre.notify import NotificationKind, Recipient
from coffre.records.errors import DocumentNotFound, InvalidChoice, NothingToChange
from coffre.records.gate import patient_facts, record, refuse
from coffre.records.patients import load_or_journal_failure
from coffre.records.tables import documents
from coffre.records.vault import Vault
from coffre.store import UnitOfWork


@dataclass(frozen=True)
class RelationshipView:
    """A care relationship as the patient sees it (ids, kind and dates; no data)."""

    id: str
    kind: str
    professional_id: str | None
    care_team_id: str | None
    started_at: datetime
    ended_at: datetime | None
    active: bool


def _by(uow: UnitOfWork, actor: Actor, patient_id: str) -> str:
    """Who made a change, as the patient's notification names them."""
    if actor.kind is ActorKind.OPERATOR:
        return "operator"
    if actor.patient_id == patient_id:
        return "you"
    return identity.find_account(uow, actor.id).display_name


def _subject(uow: UnitOfWork, professional_id: str | None) -> str:
    if professional_id is None:
        return "care-team"
    return identity.find_account(uow, professional_id).display_name


class _Change:
    """One decided change to a patient's choices, inside an open unit of work."""

    def __init__(
        self,
        uow: UnitOfWork,
        vault: Vault,
        actor: Actor,
        patient_id: str,
        request: ControlRequest,
        kind: EventKind,
    ) -> None:
        self.uow, self.actor, self.patient_id, self.kind = uow, actor, patient_id, kind
        self.purpose = request.purpose
        self.now = datetime.now(UTC)
        self.facts: PatientFacts = patient_facts(uow, actor, patient_id, self.now)
        self.decision: Decision = access.decide_control(
            actor, request, self.facts, self.now, durations=vault.settings.durations
        )
        if not self.decision.allowed:
            refuse(uow, actor, self.decision, kind, self.purpose, [patient_id])
        load_or_journal_failure(uow, actor, self.decision, kind, self.purpose, patient_id)

    def done(
        self,
        resource_ids: list[str],
        notice: NotificationKind,
        commit: bool = True,
        **params: str,
    ) -> int:
        """Journal the change, tell the patient, commit (unless it is one of several in the
        transaction); return the journal position."""
        seq = record(
            self.uow,
            self.actor,
            self.decision,
            self.kind,
            Outcome.SUCCESS,
            self.purpose,
            [self.patient_id],
            resource_ids,
        )
        notify.enqueue(
            self.uow,
            Recipient.PATIENT,
            self.patient_id,
            notice,
            {
                "at": self.now.isoformat(),
                "by": _by(self.uow, self.actor, self.patient_id),
                **params,
            },
            seq,
        )
        if commit:
            self.uow.commit()
        return seq

    def unchanged(self, what: str) -> NothingToChange:
        record(
            self.uow,
            self.actor,
            self.decision,
            self.kind,
            Outcome.FAILED,
            self.purpose,
            [self.patient_id],
            ["unchanged"],
        )
        self.uow.commit()
        return NothingToChange(what)


def set_consent(
    uow: UnitOfWork, vault: Vault, actor: Actor, patient_id: str, granted: bool, purpose: Purpose
) -> None:
    """Give or withdraw the patient's consent to sharing; it applies from the next request.
    Raises NothingToChange if it is already so."""
    with uow:
        change = _Change(
            uow,
            vault,
            actor,
            patient_id,
            ControlRequest(Control.CONSENT, purpose),
            EventKind.CONSENT_UPDATE,
        )
        if not access.record_consent(uow, patient_id, granted, change.now):
            raise change.unchanged(
                "The patient's consent is already given."
                if granted
                else "The patient has not given consent; there is nothing to withdraw."
            )
        change.done(
            [f"consent:{'granted' if granted else 'withdrawn'}"],
            NotificationKind.CONSENT_GRANTED if granted else NotificationKind.CONSENT_REVOKED,
        )


def start_relationship(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    patient_id: str,
    kind: RelationshipKind,
    purpose: Purpose,
    *,
    professional: str | None = None,
    care_team: str | None = None,
) -> str:
    """Record a care relationship of a professional (username or id) or a care team with
    the patient; return its id."""
    if (professional is None) == (care_team is None):
        raise InvalidChoice("Name either a professional or a care team.")
    with uow:
        if professional is not None:
            account = identity.find_account(uow, professional)
            if account.profession is None:
                raise InvalidChoice(f"The account {professional!r} is not a professional's.")
            subject, organisation = account.id, account.organisation_id
        else:
            assert care_team is not None
            found = identity.team_organisation(uow, care_team)
            if found is None:
                raise InvalidChoice(f"There is no care team with id {care_team}.")
            subject, organisation = care_team, found
        change = _Change(
            uow,
            vault,
            actor,
            patient_id,
            ControlRequest(
                Control.START_RELATIONSHIP,
                purpose,
                kind,
                subject,
                colleague=organisation == actor.organisation_id,
            ),
            EventKind.RELATIONSHIP_CREATE,
        )
        relationship_id = access.start_relationship(
            uow,
            patient_id,
            kind,
            change.now,
            professional_id=subject if professional is not None else None,
            care_team_id=subject if care_team is not None else None,
        )
        change.done(
            [f"relationship:{relationship_id}"],
            NotificationKind.RELATIONSHIP_STARTED,
            relationship=kind.value,
            subject=_subject(uow, subject if professional is not None else None),
        )
    return relationship_id


def end_relationship(
    uow: UnitOfWork, vault: Vault, actor: Actor, relationship_id: str, purpose: Purpose
) -> None:
    """End a care relationship (for an admission: the discharge)."""
    with uow:
        try:
            patient_id, relationship = access.find_relationship(uow, relationship_id)
        except access.FactNotFound:
            raise InvalidChoice(
                f"There is no care relationship with id {relationship_id}."
            ) from None
        subject = relationship.professional_id or relationship.care_team_id
        organisation = (
            identity.find_account(uow, subject).organisation_id
            if relationship.professional_id
            else identity.team_organisation(uow, subject or "")
        )
        change = _Change(
            uow,
            vault,
            actor,
            patient_id,
            ControlRequest(
                Control.END_RELATIONSHIP,
                purpose,
                relationship.kind,
                subject,
                colleague=organisation == actor.organisation_id,
            ),
            EventKind.RELATIONSHIP_END,
        )
        if relationship.ended_at is not None:
            raise change.unchanged("That care relationship has already ended.")
        access.end_relationship(uow, relationship_id, change.now)
        change.done(
            [f"relationship:{relationship_id}"],
            NotificationKind.RELATIONSHIP_ENDED,
            relationship=relationship.kind.value,
            subject=_subject(uow, relationship.professional_id),
        )


def _look(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    patient_id: str,
    request: ControlRequest,
    kind: EventKind,
    shown: Callable[[PatientFacts], list[str]],
) -> tuple[PatientFacts, datetime]:
    """Decide a look at the patient's relationships or choices, journal it naming what is
    shown, commit; return the facts and the time of the look."""
    with uow:
        change = _Change(uow, vault, actor, patient_id, request, kind)
        facts = access.load_patient_facts(uow, patient_id, change.now)
        record(
            uow,
            actor,
            change.decision,
            kind,
            Outcome.SUCCESS,
            request.purpose,
            [patient_id],
            shown(facts),
        )
        uow.commit()
    return facts, change.now


def list_relationships(
    uow: UnitOfWork, vault: Vault, actor: Actor, patient_id: str, purpose: Purpose
) -> list[RelationshipView]:
    """The patient's care relationships, active or not, oldest first."""
    facts, now = _look(
        uow,
        vault,
        actor,
        patient_id,
        ControlRequest(Control.LIST_RELATIONSHIPS, purpose),
        EventKind.RELATIONSHIP_LIST,
        lambda facts: [f"relationship:{r.id}" for r in facts.relationships],
    )
    durations = vault.settings.durations
    return [_view(r, now, durations) for r in facts.relationships]


def _view(r: Relationship, now: datetime, durations: access.Durations) -> RelationshipView:
    assert r.id is not None
    return RelationshipView(
        r.id,
        r.kind.value,
        r.professional_id,
        r.care_team_id,
        r.started_at,
        r.ended_at,
        r.active(now, durations),
    )


def set_exclusion(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    patient_id: str,
    professional: str,
    excluded: bool,
    purpose: Purpose,
) -> None:
    """Exclude a professional (username or id) from the patient's data, or lift it."""
    with uow:
        account = identity.find_account(uow, professional)
        change = _Change(
            uow,
            vault,
            actor,
            patient_id,
            ControlRequest(Control.EXCLUSION, purpose, subject_id=account.id),
            EventKind.EXCLUSION_UPDATE,
        )
        if not access.record_exclusion(uow, patient_id, account.id, excluded, change.now):
            raise change.unchanged(
                "That professional is already excluded."
                if excluded
                else "That professional is not excluded."
            )
        change.done(
            [f"professional:{account.id}"],
            NotificationKind.EXCLUSION_SET if excluded else NotificationKind.EXCLUSION_LIFTED,
            subject=account.display_name,
        )


def set_mask(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    document_id: str,
    masked: bool,
    purpose: Purpose,
) -> None:
    """Mask a document from everyone but its author, or unmask it."""
    with uow:
        doc = uow.connection.execute(
            sa.select(documents.c.patient_id, documents.c.author_id).where(
                documents.c.id == document_id
            )
        ).first()
        if doc is None:
            raise DocumentNotFound(f"There is no document with id {document_id}.")
        change = _Change(
            uow,
            vault,
            actor,
            doc.patient_id,
            ControlRequest(Control.MASK, purpose, subject_id=document_id),
            EventKind.MASK_UPDATE,
        )
        if not access.record_mask(
            uow, doc.patient_id, document_id, doc.author_id, masked, change.now
        ):
            raise change.unchanged(
                "That document is already masked." if masked else "That document is not masked."
            )
        change.done(
            [document_id],
            NotificationKind.DOCUMENT_MASKED if masked else NotificationKind.DOCUMENT_UNMASKED,
        )
