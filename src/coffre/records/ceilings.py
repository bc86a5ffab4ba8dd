"""The volume ceilings of machine clients, charged at the gate.

Every patient a machine client reads or writes through the gate counts as one record against
its ceilings per hour and per 24 hours (people and personal tokens are not counted). Reaching
a ceiling exactly is allowed; past it the request is refused and journaled as denied with the
patient it aimed at, and, at the first refusal of the hour, the security officers of the
client's organisation and of the patient's organisation are told.
"""

from __future__ import annotations

from datetime import datetime

from coffre import journal, notify
from coffre.access import Decision, Purpose
from coffre.identity import Actor, ActorKind, CeilingReached, usage
from coffre.identity import clients as machine
from coffre.journal import Entry, EventKind, Outcome
from coffre.notify import NotificationKind, Recipient
from coffre.store import UnitOfWork


def charge(
    uow: UnitOfWork,
    actor: Actor,
    patient_ids: list[str],
    purpose: Purpose | None,
    now: datetime,
    patient_organisation_id: str | None = None,
) -> None:
    """Count these patients against the client's ceilings, in the open transaction. Past a
    ceiling: journal the refusal, tell the security officers, commit that and raise
    CeilingReached (the caller has written nothing yet)."""
    if actor.kind is not ActorKind.CLIENT or not patient_ids:
        return
    try:
        usage.charge(uow, actor.id, len(patient_ids), now)
    except CeilingReached as exc:
        client = machine.get_client(uow, actor.id)
        decision = Decision(
            False,
            f"client-ceiling-{exc.period}",
            f"the client reached its ceiling of records per {exc.period}",
            {"period": exc.period, "records": str(len(patient_ids))},
        )
        entry = Entry(
            EventKind.CLIENT_CEILING,
            actor,
            decision,
            Outcome.DENIED,
            purpose,
            tuple(patient_ids),
            (f"client:{client.id}",),
        )
        [seq] = journal.append(uow, [entry])
        if exc.first:
            told = dict.fromkeys([client.organisation_id, patient_organisation_id])
            for organisation_id in filter(None, told):
                notify.enqueue(
                    uow,
                    Recipient.SECURITY_OFFICER,
                    organisation_id,
                    NotificationKind.CLIENT_CEILING,
                    {
                        "at": now.isoformat(),
                        "subject": client.name,
                        "reason": f"{exc.period}-ceiling",
                    },
                    seq,
                )
        uow.commit()
        raise
