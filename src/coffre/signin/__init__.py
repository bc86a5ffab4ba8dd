"""Signing in: passwords, second factors, sessions and suspensions, each journaled.

Above `journal` (it journals every step) and beside `records`; the primitives it uses
(hashes, counters, sessions, TOTP, passkeys) are in `identity`.
"""

from coffre.identity.sessions import Session, SessionEnded
from coffre.signin.service import (
    Context,
    Needs,
    Policy,
    RelyingParty,
    SecondFactorRequired,
    SignInRefused,
    Step,
    add_passkey,
    change_password,
    end_other_sessions,
    my_sessions,
    passkey_options,
    passkey_registration_options,
    resume_account,
    second_factor,
    session_actor,
    set_up_totp,
    sign_in,
    sign_out,
    suspend_account,
    suspend_session,
)

__all__ = [
    "Context",
    "Needs",
    "Policy",
    "RelyingParty",
    "SecondFactorRequired",
    "Session",
    "SessionEnded",
    "SignInRefused",
    "Step",
    "add_passkey",
    "change_password",
    "end_other_sessions",
    "my_sessions",
    "passkey_options",
    "passkey_registration_options",
    "resume_account",
    "second_factor",
    "session_actor",
    "set_up_totp",
    "sign_in",
    "sign_out",
    "suspend_account",
    "suspend_session",
]
