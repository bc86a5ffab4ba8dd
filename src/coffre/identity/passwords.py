"""Passwords: argon2id hashes, and the checks NIST SP 800-63B asks of a new password.

Parameters: argon2id with 19 MiB of memory, 2 passes, 1 lane, OWASP's minimum. Measured on
the 2-core machines Coffre runs on, a hash costs ~38 ms (64 MiB, t=3, p=4 costs ~200 ms):
about 50 sign-ins per second on two cores instead of 10, so that a burst of sign-ins (or an
attacker's) cannot starve the service, while the sign-in limits of `throttle` keep online
guessing to a handful of tries per account per hour. docs/identity.md gives the reasoning.
A hash made with lower parameters is replaced at the next successful sign-in.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from coffre.identity.errors import IdentityError

HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_LENGTH = 12
MIN_LENGTH_PATIENT = 8
MAX_LENGTH = 128  # NIST asks to allow at least 64; a bound keeps hashing cheap to refuse
CONTEXT_MIN = 4  # account words shorter than this are too common to refuse


class WeakPassword(IdentityError):
    """A new password does not meet the policy; the message says why, in one sentence."""

    exit_code = 2


def normalise(password: str) -> str:
    """NFKC, as SP 800-63B asks, so that the same password typed on another keyboard
    verifies."""
    return unicodedata.normalize("NFKC", password)


@cache
def _common() -> frozenset[str]:
    """zxcvbn's list of the most common passwords (from breach corpora), lower-cased.
    zxcvbn is imported where a password is checked, not by every command."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def check_new_password(password: str, *, patient: bool, context: Iterable[str] = ()) -> None:
    """Raise WeakPassword if the password is too short or too long, is a common or breached
    password, contains the account's own data (username, name…), or is otherwise
    guessed within a few thousand tries."""
    text = normalise(password)
    shortest = MIN_LENGTH_PATIENT if patient else MIN_LENGTH
    if len(text) < shortest:
        raise WeakPassword(f"The password must be at least {shortest} characters long.")
    if len(text) > MAX_LENGTH:
        raise WeakPassword(f"The password must be at most {MAX_LENGTH} characters long.")
    lowered = text.casefold()
    if lowered in _common():
        raise WeakPassword("This password is one of the most common; choose another.")
    words = {
        w.casefold()
        for item in context
        for w in [item, *item.replace("@", " ").replace(".", " ").split()]
        if len(w) >= CONTEXT_MIN
    }
    if any(w in lowered for w in words):
        raise WeakPassword("The password must not contain your name or username.")
    from zxcvbn import zxcvbn

    if zxcvbn(text[:MAX_LENGTH], user_inputs=sorted(words))["guesses"] < 10**6:
        raise WeakPassword("This password is too easy to guess; a few unrelated words help.")


def hash_password(password: str) -> str:
    return HASHER.hash(normalise(password))


@cache
def _dummy_hash() -> str:
    return HASHER.hash("a password nobody has, to spend the same time")


def verify_password(stored: str | None, password: str) -> tuple[bool, str | None]:
    """Whether the password matches `stored` (None: no such account, and the same time is
    spent against a dummy hash); and the hash to store instead when the parameters rose."""
    if len(password) > MAX_LENGTH * 4:
        password = password[: MAX_LENGTH * 4]
    try:
        HASHER.verify(stored or _dummy_hash(), normalise(password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, None
    if stored is None:
        return False, None
    return True, hash_password(password) if HASHER.check_needs_rehash(stored) else None
