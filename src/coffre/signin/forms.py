"""What web forms need from signing in: CSRF tokens bound to a cookie, and values sealed
into a hidden field for the next step (a TOTP secret being set up)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from coffre.crypto import DecryptionFailed, SecretBox
from coffre.signin.common import Context


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def csrf_token(ctx: Context, bound_to: str) -> str:
    """The token a form sent with this cookie value must carry."""
    return _b64(hmac.new(ctx.forms_key, b"csrf\x00" + bound_to.encode(), hashlib.sha256).digest())


def csrf_valid(ctx: Context, bound_to: str | None, token: str) -> bool:
    return bound_to is not None and hmac.compare_digest(csrf_token(ctx, bound_to), token)


def _box(ctx: Context) -> SecretBox:
    return SecretBox(hmac.new(ctx.forms_key, b"sealed fields", hashlib.sha256).digest())


def seal_field(ctx: Context, value: str, bound_to: str) -> str:
    """`value` sealed for a hidden field, readable only with the same cookie value."""
    return _b64(_box(ctx).seal(value.encode(), "field:" + bound_to))


def open_field(ctx: Context, sealed: str, bound_to: str) -> str | None:
    """The sealed value, or None if it was not sealed for this cookie value."""
    try:
        data = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        return _box(ctx).open(data, "field:" + bound_to).decode()
    except (binascii.Error, ValueError, DecryptionFailed):
        return None
