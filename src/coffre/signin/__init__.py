"""Signing in: passwords, second factors, sessions and suspensions, each journaled.

Above `journal` (it journals every step) and beside `records`; the primitives it uses
(hashes, counters, sessions, TOTP, passkeys) are in `identity`.
"""

from coffre.identity.sessions import Session, SessionEnded
from coffre.identity.throttle import Limits
from coffre.signin.account import (
    RESET_FLOOR,
    change_password,
    end_other_sessions,
    my_passkeys,
    my_sessions,
    request_password_reset,
    reset_password,
    session_actor,
    sign_out,
)
from coffre.signin.clients import (
    IssuedToken,
    add_client,
    client_token,
    resume_client,
    revoke_client,
    suspend_client,
)
from coffre.signin.common import (
    Context,
    Needs,
    Policy,
    RelyingParty,
    SecondFactorRequired,
    SignInRefused,
    Step,
)
from coffre.signin.login import sign_in_for_token
from coffre.signin.service import (
    add_passkey,
    passkey_options,
    passkey_registration_options,
    second_factor,
    set_up_totp,
    sign_in,
)
from coffre.signin.suspensions import resume_account, suspend_account, suspend_session
from coffre.signin.tokens import (
    issue_personal_token,
    resume_token,
    revoke_token,
    suspend_token,
    token_actor,
)

__all__ = [
    "RESET_FLOOR",
    "Context",
    "IssuedToken",
    "Limits",
    "Needs",
    "Policy",
    "RelyingParty",
    "SecondFactorRequired",
    "Session",
    "SessionEnded",
    "SignInRefused",
    "Step",
    "add_client",
    "add_passkey",
    "change_password",
    "client_token",
    "end_other_sessions",
    "issue_personal_token",
    "my_passkeys",
    "my_sessions",
    "passkey_options",
    "passkey_registration_options",
    "request_password_reset",
    "reset_password",
    "resume_account",
    "resume_client",
    "resume_token",
    "revoke_client",
    "revoke_token",
    "second_factor",
    "session_actor",
    "set_up_totp",
    "sign_in",
    "sign_in_for_token",
    "sign_out",
    "suspend_account",
    "suspend_client",
    "suspend_session",
    "suspend_token",
    "token_actor",
]
