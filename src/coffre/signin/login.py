"""Signing in for a token: the password and, for accounts that have one, a TOTP code, in
one request, for command-line tools and scripts that call the API as a person.

It is the pages' sign-in, step by step (the same limits, the same journal entries, the
same refusal for a wrong password and an unknown username), ending in a personal access
token of the account instead of a browser session: the session it opens is ended at once,
and the token is journaled as the account's own (`identity:token:create`, rule
`own-token`). An account that must but has not yet set up a second factor is sent to the
pages.
"""

from __future__ import annotations

from datetime import timedelta

from coffre.identity import TokenInfo
from coffre.signin.account import session_actor, sign_out
from coffre.signin.common import Context, Needs, SecondFactorRequired
from coffre.signin.service import second_factor, sign_in
from coffre.signin.tokens import issue_personal_token
from coffre.store import UnitOfWork

LOGIN_TOKEN_NAME = "sign-in"  # noqa: S105 (a label, not a secret)


def sign_in_for_token(
    uow: UnitOfWork,
    ctx: Context,
    username: str,
    password: str,
    source: str,
    *,
    code: str | None = None,
    scopes: str = "user/*.cruds",
    lifetime: timedelta = timedelta(hours=1),
) -> tuple[str, TokenInfo]:
    """A personal access token of the account, for `lifetime`, after the password and the
    TOTP code are accepted. Raises SignInRefused, SecondFactorRequired, InvalidScope."""
    step = sign_in(uow, ctx, username, password, source)
    session = step.token
    try:
        if step.needs is Needs.SECOND_FACTOR_SETUP:
            raise SecondFactorRequired(
                "Set up a second factor on the pages before signing in for a token."
            )
        if step.needs is Needs.SECOND_FACTOR:
            session = second_factor(uow, ctx, session, code=code or "").token
        actor = session_actor(uow, ctx, session)
        return issue_personal_token(uow, actor, actor.id, scopes, lifetime, LOGIN_TOKEN_NAME)
    finally:
        sign_out(uow, session)
