"""The outbox: notifications recorded with the change they report, delivered later.

A change made by someone else (a consent revoked at the desk, a relationship recorded by a
clinic, an emergency access) is seen because the patient is told, in their language.
E-mail delivery reads this outbox; until then `list_notifications` and `render` show it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from babel.dates import format_datetime

from coffre.config.texts import LANGUAGES, catalogue
from coffre.notify.tables import notifications
from coffre.store import UnitOfWork

_ROOT = Path(__file__).parent / "locales"
# Coffre serves France and Belgium, one time zone.
_ZONE = ZoneInfo("Europe/Paris")


class Recipient(StrEnum):
    PATIENT = "patient"
    DATA_PROTECTION_OFFICER = "dpo"  # the organisation's data-protection officer
    ACCOUNT = "account"  # the holder of an account, about the account itself
    SECURITY_OFFICER = "security-officer"  # the organisation's security officer


class NotificationKind(StrEnum):
    CONSENT_GRANTED = "consent-granted"
    CONSENT_REVOKED = "consent-revoked"
    RELATIONSHIP_STARTED = "relationship-started"
    RELATIONSHIP_ENDED = "relationship-ended"
    EXCLUSION_SET = "exclusion-set"
    EXCLUSION_LIFTED = "exclusion-lifted"
    DOCUMENT_MASKED = "document-masked"
    DOCUMENT_UNMASKED = "document-unmasked"
    BREAK_GLASS = "break-the-glass"
    BREAK_GLASS_REVIEW = "break-the-glass-review"  # to the data-protection officer
    PASSWORD_CHANGED = "password-changed"  # noqa: S105 (a notification kind)
    SECOND_FACTOR_CHANGED = "second-factor-changed"
    ACCOUNT_SUSPENDED = "account-suspended"
    ACCOUNT_RESUMED = "account-resumed"
    SESSION_ENDED = "session-ended"
    # Its `link` parameter is sealed ("sealed:…"); the sender opens it when delivering.
    PASSWORD_RESET = "password-reset"  # noqa: S105 (a notification kind)
    CLIENT_CEILING = "client-ceiling"  # to the security officer
    # To the address a patient's record holds; `link` is sealed like a reset link's.
    SIGN_UP_LINK = "sign-up-link"
    SIGN_UP_AMBIGUOUS = "sign-up-ambiguous"  # several records share the address
    SIGN_UP_EXISTING = "sign-up-existing"  # to the account the record already has
    ACCOUNT_CREATED = "account-created"
    WATCH_ALERT = "watch-alert"  # to the security officer: a detection rule fired


# English subject and body of each kind; {placeholders} are filled from the parameters.
_TEXTS: dict[NotificationKind, tuple[str, str]] = {
    NotificationKind.CONSENT_GRANTED: (
        "Your consent to sharing was given",
        "Your consent to share your health data between the professionals who care for you "
        "was given on {at} by {by}.",
    ),
    NotificationKind.CONSENT_REVOKED: (
        "Your consent to sharing was withdrawn",
        "Your consent to share your health data was withdrawn on {at} by {by}. "
        "Professionals no longer see your record, except in an emergency.",
    ),
    NotificationKind.RELATIONSHIP_STARTED: (
        "A care relationship was recorded",
        "A care relationship ({relationship}) with {subject} was recorded on {at} by {by}.",
    ),
    NotificationKind.RELATIONSHIP_ENDED: (
        "A care relationship was ended",
        "The care relationship ({relationship}) with {subject} was ended on {at} by {by}.",
    ),
    NotificationKind.EXCLUSION_SET: (
        "A professional was excluded from your record",
        "{subject} was excluded from your record on {at} by {by}.",
    ),
    NotificationKind.EXCLUSION_LIFTED: (
        "An exclusion was lifted",
        "The exclusion of {subject} from your record was lifted on {at} by {by}.",
    ),
    NotificationKind.DOCUMENT_MASKED: (
        "A document was masked",
        "A document of your record was masked from everyone but its author on {at} by {by}.",
    ),
    NotificationKind.DOCUMENT_UNMASKED: (
        "A document was unmasked",
        "A document of your record was unmasked on {at} by {by}.",
    ),
    NotificationKind.BREAK_GLASS: (
        "Your record was opened in an emergency",
        "{by} opened your record in an emergency ({reason}) on {at}, without an existing care "
        "relationship. The access ends at {until}. You can see it in your access history.",
    ),
    NotificationKind.BREAK_GLASS_REVIEW: (
        "Emergency access to review",
        "{by} opened the record of patient {patient} in an emergency ({reason}) on {at}; the "
        "access ends at {until}. Please review it (emergency access {grant}).",
    ),
    NotificationKind.PASSWORD_CHANGED: (
        "Your password was changed",
        "The password of your Coffre account was changed on {at}. If you did not do it, "
        "contact your organisation at once.",
    ),
    NotificationKind.SECOND_FACTOR_CHANGED: (
        "Your second factor was changed",
        "The second factor of your Coffre account was set up or changed on {at}. If you did "
        "not do it, contact your organisation at once.",
    ),
    NotificationKind.ACCOUNT_SUSPENDED: (
        "Your account was suspended",
        "Your Coffre account was suspended on {at} for security; your organisation's "
        "security officer can tell you more.",
    ),
    NotificationKind.ACCOUNT_RESUMED: (
        "Your account was resumed",
        "Your Coffre account can be used again since {at}.",
    ),
    NotificationKind.PASSWORD_RESET: (
        "Choose a new password",
        "To choose a new password for your Coffre account, open {link} within 30 minutes. "
        "If you did not ask for it, ignore this message: your password is unchanged.",
    ),
    NotificationKind.SESSION_ENDED: (
        "One of your sessions was ended",
        "One of your Coffre sessions was ended on {at} for security. Sign in again; if "
        "something looks wrong, contact your organisation.",
    ),
    NotificationKind.CLIENT_CEILING: (
        "A machine client reached its volume ceiling",
        "The machine client {subject} reached its ceiling of {reason} on {at}; its requests "
        "are refused until its count falls below it. If this volume is unexpected, suspend "
        "the client.",
    ),
    NotificationKind.SIGN_UP_LINK: (
        "Open your Coffre account",
        "To open the Coffre account of your health record, open {link} within 30 minutes "
        "and choose a password. If you did not ask for it, ignore this message: no "
        "account is opened.",
    ),
    NotificationKind.SIGN_UP_AMBIGUOUS: (
        "Your Coffre account",
        "Someone asked to open a Coffre account with this address, which several health "
        "records share. An account cannot be opened this way for a shared address: ask "
        "your practice to invite you. If you did not ask for it, ignore this message.",
    ),
    NotificationKind.SIGN_UP_EXISTING: (
        "You already have a Coffre account",
        "Someone asked to open a Coffre account with this address on {at}, but your "
        "record already has one: sign in with your username {username}, or choose a new "
        "password from the sign-in page if you forgot it. If you did not ask for it, "
        "ignore this message.",
    ),
    NotificationKind.ACCOUNT_CREATED: (
        "Your Coffre account is open",
        "Your Coffre account was opened on {at}. Your username is {username}. If you did "
        "not open it, contact your practice.",
    ),
    NotificationKind.WATCH_ALERT: (
        "A detection rule fired",
        'The detection rule "{subject}" fired on {at} (severity: {reason}). Its alert is '
        "open in Coffre: review it, then acknowledge or close it.",
    ),
}

# Words that fill the placeholders, translated as well.
_WORDS = {
    "you": "you",
    "operator": "Coffre's staff at your request",
    "general-practitioner": "general practitioner",
    "appointment": "appointment",
    "admission": "admission",
    "teleconsultation": "teleconsultation",
    "referral": "referral",
    "declaration": "your declaration",
    "life-threatening": "life-threatening situation",
    "patient-unconscious": "patient unconscious",
    "urgent-care": "urgent care",
    "care-team": "a care team",
    "hour-ceiling": "records per hour",
    "day-ceiling": "records per 24 hours",
    "informational": "informational",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "critical": "critical",
}


@dataclass(frozen=True)
class Notification:
    id: str
    recipient: Recipient
    recipient_id: str
    kind: NotificationKind
    params: dict[str, str]
    created_at: datetime
    delivered_at: datetime | None
    journal_seq: int | None


def enqueue(
    uow: UnitOfWork,
    recipient: Recipient,
    recipient_id: str,
    kind: NotificationKind,
    params: dict[str, str],
    journal_seq: int | None = None,
) -> str:
    """Record a notification in the caller's unit of work (it is sent once committed)."""
    notification_id = str(uuid.uuid4())
    uow.connection.execute(
        notifications.insert().values(
            id=notification_id,
            recipient_kind=recipient.value,
            recipient_id=recipient_id,
            kind=kind.value,
            params=json.dumps(params, sort_keys=True),
            journal_seq=journal_seq,
            created_at=datetime.now(UTC),
        )
    )
    return notification_id


def list_notifications(
    uow: UnitOfWork,
    recipient: Recipient | None = None,
    recipient_id: str | None = None,
    *,
    limit: int = 100,
) -> list[Notification]:
    """The newest notifications first, for one recipient or all."""
    query = sa.select(notifications).order_by(notifications.c.created_at.desc(), notifications.c.id)
    if recipient is not None:
        query = query.where(notifications.c.recipient_kind == recipient.value)
    if recipient_id is not None:
        query = query.where(notifications.c.recipient_id == recipient_id)
    return [
        Notification(
            row.id,
            Recipient(row.recipient_kind),
            row.recipient_id,
            NotificationKind(row.kind),
            json.loads(row.params),
            row.created_at,
            row.delivered_at,
            row.journal_seq,
        )
        for row in uow.connection.execute(query.limit(limit))
    ]


def _when(value: str, language: str) -> str:
    moment = datetime.fromisoformat(value)
    return str(format_datetime(moment, "d MMMM y, HH:mm", tzinfo=_ZONE, locale=language))


def render(notification: Notification, language: str) -> tuple[str, str]:
    """The subject and body of a notification in French, Dutch or English."""
    if language not in LANGUAGES:
        language = "en"
    table = catalogue(_ROOT, language)

    def t(text: str) -> str:
        return table.get(text, text)

    values: dict[str, Any] = {}
    for key, value in notification.params.items():
        if key in ("at", "until"):
            values[key] = _when(value, language)
        elif value in _WORDS:
            values[key] = t(_WORDS[value])
        else:
            values[key] = value
    subject, body = _TEXTS[notification.kind]
    return t(subject), t(body).format(**values)
