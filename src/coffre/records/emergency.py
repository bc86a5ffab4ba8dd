"""Break-the-glass: a clinician without a care relationship opens a record in an emergency,
for a short time, with a coded reason and a free-text one sealed under the patient's key;
the patient and the data-protection officers are told."""

from __future__ import annotations

from datetime import UTC, datetime

from coffre import access, identity, notify
from coffre.access import (
    BreakGlass,
    EmergencyReason,
    Purpose,
)
from coffre.identity import Actor
from coffre.journal import EventKind, Outcome
from coffre.notify import NotificationKind, Recipient
from coffre.records.errors import InvalidChoice
from coffre.records.gate import patient_facts, record, refuse
from coffre.records.patients import load_or_journal_failure
from coffre.records.tables import emergency_reasons
from coffre.records.vault import Vault
from coffre.store import UnitOfWork

REASON_LIMIT = 2000


def break_glass(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    patient_id: str,
    reason: EmergencyReason,
    explanation: str,
) -> BreakGlass:
    """Open an emergency access to the patient's record for a short time (the configured
    longest, 4 hours by default). The free-text explanation is sealed under the patient's
    key; the patient and the data-protection officers of the professional's organisation
    and of the patient's are told."""
    text = explanation.strip()
    if not text:
        raise InvalidChoice("An emergency access needs a reason written in words.")
    if len(text) > REASON_LIMIT:
        raise InvalidChoice(f"The reason is longer than {REASON_LIMIT} characters.")
    purpose = Purpose.BREAK_GLASS
    kind = EventKind.BREAK_GLASS
    now = datetime.now(UTC)
    with uow:
        facts = patient_facts(uow, actor, patient_id, now)
        decision = access.decide_break_glass(actor, facts)
        if not decision.allowed:
            refuse(uow, actor, decision, kind, purpose, [patient_id])
        row = load_or_journal_failure(uow, actor, decision, kind, purpose, patient_id)
        lasts = vault.settings.durations.break_glass
        grant = access.record_break_glass(uow, patient_id, actor.id, reason, now, lasts)
        assert grant.id is not None
        box = vault.box(row.organisation_id, patient_id, row.key_version)
        uow.connection.execute(
            emergency_reasons.insert().values(
                fact_id=grant.id,
                patient_id=patient_id,
                organisation_id=row.organisation_id,
                key_version=row.key_version,
                reason=box.seal_json("emergency_reasons", "reason", grant.id, text),
            )
        )
        seq = record(
            uow,
            actor,
            decision,
            kind,
            Outcome.SUCCESS,
            purpose,
            [patient_id],
            [f"break-the-glass:{grant.id}", f"reason:{reason.value}"],
        )
        params = {
            "at": now.isoformat(),
            "until": grant.expires_at.isoformat(),
            "by": identity.find_account(uow, actor.id).display_name,
            "reason": reason.value,
        }
        notify.enqueue(
            uow, Recipient.PATIENT, patient_id, NotificationKind.BREAK_GLASS, params, seq
        )
        officers = {o for o in (actor.organisation_id, row.organisation_id) if o is not None}
        for organisation in sorted(officers):
            notify.enqueue(
                uow,
                Recipient.DATA_PROTECTION_OFFICER,
                organisation,
                NotificationKind.BREAK_GLASS_REVIEW,
                {**params, "patient": patient_id, "grant": grant.id},
                seq,
            )
        uow.commit()
    return grant
