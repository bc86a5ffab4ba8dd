"""A patient opens their own account, from the e-mail address their record holds.

`request_sign_up` takes an address and always answers the same, in the same time: whether
a record holds it, whether that record already has an account, or nothing at all. What
happens behind the answer goes only to the address on file, through the outbox:

- one record holds it and has no account: a single-use link, valid 30 minutes;
- one record holds it and has an account: a reminder of the username (and of password
  reset);
- several records share it (a family address): a message to ask the practice for an
  invitation, since the link could not say whose record it opens;
- no record holds it: nothing is sent.

`complete_sign_up` uses the link once: the account is a patient account of the record's
organisation, with a username Coffre chooses (no name, no address in clear) and the address
kept sealed for password resets. Requests count against the per-address and per-source
failure limits, so the form cannot probe faster than the sign-in page.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn

import sqlalchemy as sa

from coffre import access, identity, notify
from coffre.access import Action, Decision
from coffre.crypto import IndexKind, SecretBox
from coffre.identity import Actor, ActorKind, NewAccount, passwords, resets, throttle
from coffre.journal import EventKind, Outcome
from coffre.notify import NotificationKind, Recipient
from coffre.records.errors import PatientErased, PatientNotFound, SignUpRefused
from coffre.records.gate import record
from coffre.records.patients import load_patient_row
from coffre.records.tables import patient_index, sign_up_links
from coffre.records.vault import Vault
from coffre.store import UnitOfWork, lock_keys

LINK_LIFETIME = timedelta(minutes=30)
# Every request takes at least this long, so its time says nothing either.
SIGN_UP_FLOOR = 0.3
USERNAME_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
_NOT_VALID = "This link is not valid any more; ask for a new one."


@dataclass(frozen=True)
class SignUpKeys:
    """What sign-up needs besides the vault: the system-secrets box (it seals the link in
    the outbox and the address kept for resets) and the failure limits with their key."""

    box: SecretBox
    throttle_key: bytes
    limits: throttle.Limits


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _normalised(email: str) -> str:
    text = email.strip()
    if "@" not in text or len(text) > 254 or any(c.isspace() for c in text):
        raise SignUpRefused("Give the e-mail address your practice has on file.")
    return text


def _applicant(keys: SignUpKeys, email: str, source: str) -> tuple[Actor, list[bytes]]:
    address_key = throttle.username_key(keys.throttle_key, f"sign-up:{email}")
    limit_keys = [address_key, throttle.source_key(keys.throttle_key, source)]
    actor = Actor(
        kind=ActorKind.ACCOUNT, id=f"applicant:{address_key[:8].hex()}", source=source[:120]
    )
    return actor, limit_keys


def request_sign_up(
    uow: UnitOfWork,
    vault: Vault,
    keys: SignUpKeys,
    email: str,
    source: str,
    now: datetime | None = None,
) -> None:
    """Send what the address calls for (see the module), journaled; the same answer and at
    least SIGN_UP_FLOOR seconds either way. Raises SignUpRefused only for something that is
    not an e-mail address."""
    started = time.monotonic()
    now = now or datetime.now(UTC)
    email = _normalised(email)
    actor, limit_keys = _applicant(keys, email, source)
    allowed = access.decide(actor, Action.SIGN_UP, None)
    if not allowed.allowed:  # the policy opens sign-up to anyone; kept should that change
        raise SignUpRefused("Signing up is not open.")
    with uow:
        locked = throttle.locked_until(uow, limit_keys, now) is not None
        for key, kind in zip(limit_keys, ("username", "source"), strict=True):
            throttle.record_failure(uow, key, kind, now, keys.limits)
        found = (
            []
            if locked
            else sorted(
                uow.connection.execute(
                    sa.select(patient_index.c.patient_id)
                    .where(
                        patient_index.c.kind == IndexKind.EMAIL.value,
                        patient_index.c.digest == vault.blind.email(email),
                    )
                    .distinct()
                ).scalars()
            )
        )
        sent = _send(uow, keys, found, email, now)
        decision = Decision(
            allowed.allowed,
            allowed.rule,
            allowed.explanation,
            {**allowed.facts, "sent": sent, "locked": str(locked).lower()},
        )
        outcome = Outcome.SUCCESS if sent != "nothing" else Outcome.FAILED
        record(uow, actor, decision, EventKind.SIGN_UP_REQUEST, outcome, None, found)
        uow.commit()
    time.sleep(max(0.0, SIGN_UP_FLOOR - (time.monotonic() - started)))


def _send(uow: UnitOfWork, keys: SignUpKeys, found: list[str], email: str, now: datetime) -> str:
    """Queue the message the address calls for; return what was sent."""
    at = {"at": now.isoformat()}
    if not found:
        return "nothing"
    if len(found) > 1:
        notify.enqueue(uow, Recipient.PATIENT, found[0], NotificationKind.SIGN_UP_AMBIGUOUS, at)
        return "ambiguous"
    [patient_id] = found
    # Requests for one record at once (from its two addresses) leave one live link.
    lock_keys(uow.connection, [f"patient-account:{patient_id}"])
    existing = identity.account_of_patient(uow, patient_id)
    if existing is not None:
        notify.enqueue(
            uow,
            Recipient.ACCOUNT,
            existing.id,
            NotificationKind.SIGN_UP_EXISTING,
            {**at, "username": existing.username},
        )
        return "existing"
    uow.connection.execute(
        sign_up_links.update()
        .where(sign_up_links.c.patient_id == patient_id, sign_up_links.c.used_at.is_(None))
        .values(used_at=now)
    )
    token = secrets.token_urlsafe(32)
    uow.connection.execute(
        sign_up_links.insert().values(
            id_hash=_hash(token),
            patient_id=patient_id,
            email=keys.box.seal(email.encode(), f"sign-up-email:{patient_id}"),
            created_at=now,
            expires_at=now + LINK_LIFETIME,
        )
    )
    sealed = base64.urlsafe_b64encode(keys.box.seal(token.encode(), f"sign-up:{patient_id}"))
    notify.enqueue(
        uow,
        Recipient.PATIENT,
        patient_id,
        NotificationKind.SIGN_UP_LINK,
        {**at, "link": "sealed:" + sealed.decode()},
    )
    return "link"


def _refuse(
    uow: UnitOfWork,
    source: str,
    rule: str,
    why: str,
    patient_id: str | None = None,
    message: str = _NOT_VALID,
) -> NoReturn:
    """Journal a refused completion (a stream of them is someone guessing links), commit
    it and raise SignUpRefused. Called before anything else is written."""
    applicant = Actor(kind=ActorKind.ACCOUNT, id="applicant:link", source=source[:120])
    decision = Decision(False, rule, why, {"action": Action.SIGN_UP.value})
    patients = [patient_id] if patient_id else []
    record(uow, applicant, decision, EventKind.ACCOUNT_CREATE, Outcome.DENIED, None, patients)
    uow.commit()
    raise SignUpRefused(message)


def new_username() -> str:
    """A username that names nobody: `p-` and 8 characters easy to read back."""
    return "p-" + "".join(secrets.choice(USERNAME_ALPHABET) for _ in range(8))


def complete_sign_up(
    uow: UnitOfWork,
    keys: SignUpKeys,
    token: str,
    password: str,
    source: str,
    now: datetime | None = None,
) -> str:
    """Open the patient's account with a sign-up link (once, within 30 minutes) and this
    password; return the username Coffre chose. Raises SignUpRefused or WeakPassword;
    nothing is then changed."""
    now = now or datetime.now(UTC)
    username = new_username()
    with uow:
        link = uow.connection.execute(
            sa.select(sign_up_links).where(sign_up_links.c.id_hash == _hash(token))
        ).first()
        if link is None or link.used_at is not None or now >= link.expires_at:
            _refuse(uow, source, "sign-up-link", "the link is unknown, used or expired")
        try:
            patient = load_patient_row(uow, link.patient_id)
        except (PatientNotFound, PatientErased):
            _refuse(uow, source, "sign-up-link", "the link's record is gone")
        # Two links of one record (two addresses on file) used at once: judged one after
        # the other, so that the record gets one account.
        lock_keys(uow.connection, [f"patient-account:{patient.id}"])
        if identity.account_of_patient(uow, patient.id) is not None:
            _refuse(
                uow,
                source,
                "sign-up-existing",
                "the record already has an account",
                patient.id,
                "This record already has an account: sign in, or choose a new password "
                "from the sign-in page.",
            )
        passwords.check_new_password(password, patient=True, context=[username])
        used = uow.connection.execute(
            sign_up_links.update()
            .where(sign_up_links.c.id_hash == link.id_hash, sign_up_links.c.used_at.is_(None))
            .values(used_at=now)
        ).rowcount
        if not used:  # used by a request that committed meanwhile
            _refuse(uow, source, "sign-up-link", "the link was used meanwhile", patient.id)
        [account_id] = identity.create_accounts(
            uow,
            [
                NewAccount(
                    patient.organisation_id,
                    username,
                    password,
                    "patient",
                    "Patient account",
                    patient_id=patient.id,
                )
            ],
        )
        email = keys.box.open(link.email, f"sign-up-email:{patient.id}").decode()
        resets.set_email(uow, keys.box, account_id, email)
        actor = Actor(
            kind=ActorKind.ACCOUNT,
            id=account_id,
            organisation_id=patient.organisation_id,
            role="patient",
            source=source[:120],
            patient_id=patient.id,
        )
        decision = access.decide(actor, Action.SIGN_UP, None)
        record(
            uow,
            actor,
            decision,
            EventKind.ACCOUNT_CREATE,
            Outcome.SUCCESS,
            None,
            [patient.id],
            [f"account:{account_id}"],
        )
        notify.enqueue(
            uow,
            Recipient.ACCOUNT,
            account_id,
            NotificationKind.ACCOUNT_CREATED,
            {"at": now.isoformat(), "username": username},
        )
        uow.commit()
    return username
