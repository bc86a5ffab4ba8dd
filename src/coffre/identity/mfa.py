"""Second factors: TOTP (RFC 6238, with pyotp) whose codes are accepted once, and single-use
recovery codes, of which only a SHA-256 is kept (80 random bits each: beyond guessing).

TOTP secrets are sealed under the system-secrets key, bound to the account's username.
Passkeys (WebAuthn) are in `identity.passkeys`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import datetime

import pyotp
import sqlalchemy as sa

from coffre.crypto import SecretBox
from coffre.identity.errors import IdentityError
from coffre.identity.tables import accounts, passkeys, recovery_codes
from coffre.store import UnitOfWork

ISSUER = "Coffre"
RECOVERY_CODES = 10
STEP = 30  # seconds, RFC 6238's default


class SecondFactorError(IdentityError):
    """A second factor cannot be set up as asked."""


def _context(username: str) -> str:
    return f"totp:{username}"


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// URI an authenticator app reads (as a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (now, or one either side for clock drift) whose code this is."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP
    for step in (current, current - 1, current + 1):
        if secrets.compare_digest(totp.at(step * STEP), code):
            return step
    return None


def enable_totp(
    uow: UnitOfWork, box: SecretBox, account_id: str, secret: str, code: str, now: datetime
) -> None:
    """Store the TOTP secret once the person proved their app has it (a current code)."""
    step = _matching_step(secret, code, now)
    if step is None:
        raise SecondFactorError("The code does not match; check the app's clock and try again.")
    username = uow.connection.execute(
        sa.select(accounts.c.username).where(accounts.c.id == account_id)
    ).scalar_one()
    uow.connection.execute(
        accounts.update()
        .where(accounts.c.id == account_id)
        .values(totp_secret=box.seal(secret.encode(), _context(username)), totp_last_step=step)
    )


def verify_totp(uow: UnitOfWork, box: SecretBox, account_id: str, code: str, now: datetime) -> bool:
    """Whether the code is the account's current TOTP code, not used before (a code, or an
    older one, is never accepted twice)."""
    row = uow.connection.execute(
        sa.select(accounts.c.username, accounts.c.totp_secret, accounts.c.totp_last_step).where(
            accounts.c.id == account_id
        )
    ).first()
    if row is None or row.totp_secret is None:
        return False
    secret = box.open(row.totp_secret, _context(row.username)).decode()
    step = _matching_step(secret, code, now)
    if step is None or (row.totp_last_step is not None and step <= row.totp_last_step):
        return False
    # Conditional on the step read: two requests racing with one code cannot both win.
    done = uow.connection.execute(
        accounts.update()
        .where(
            accounts.c.id == account_id,
            sa.or_(accounts.c.totp_last_step.is_(None), accounts.c.totp_last_step < step),
        )
        .values(totp_last_step=step)
    ).rowcount
    return bool(done)


def _digest(code: str) -> bytes:
    return hashlib.sha256(code.strip().replace("-", "").upper().encode()).digest()


def new_recovery_codes(uow: UnitOfWork, account_id: str, now: datetime) -> list[str]:
    """Replace the account's recovery codes by new ones; return them (shown once)."""
    uow.connection.execute(recovery_codes.delete().where(recovery_codes.c.account_id == account_id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = base64.b32encode(secrets.token_bytes(10)).decode()  # 80 bits, 16 characters
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    uow.connection.execute(
        recovery_codes.insert(),
        [{"code_hash": _digest(c), "account_id": account_id, "created_at": now} for c in codes],
    )
    return codes


def use_recovery_code(uow: UnitOfWork, account_id: str, code: str, now: datetime) -> bool:
    """Whether the code is one of the account's unused recovery codes (it is then used)."""
    return bool(
        uow.connection.execute(
            recovery_codes.update()
            .where(
                recovery_codes.c.code_hash == _digest(code),
                recovery_codes.c.account_id == account_id,
                recovery_codes.c.used_at.is_(None),
            )
            .values(used_at=now)
        ).rowcount
    )


def has_second_factor(uow: UnitOfWork, account_id: str) -> bool:
    """Whether the account has a TOTP app or a passkey set up."""
    totp = uow.connection.execute(
        sa.select(accounts.c.totp_secret.is_not(None)).where(accounts.c.id == account_id)
    ).scalar()
    if totp:
        return True
    return (
        uow.connection.execute(
            sa.select(passkeys.c.credential_id).where(passkeys.c.account_id == account_id).limit(1)
        ).first()
        is not None
    )
