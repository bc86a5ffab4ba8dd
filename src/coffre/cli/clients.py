"""`coffre clients …` and `coffre tokens …`: machine clients (SMART Backend Services) and
personal access tokens for automation, each change journaled."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated

import typer

from coffre import identity, signin
from coffre.cli.acting import parse_day
from coffre.cli.context import err, out, state
from coffre.cli.patients import UsageError
from coffre.identity import local_operator

clients_app = typer.Typer(
    help="Register, list, suspend and revoke machine clients.", no_args_is_help=True
)
tokens_app = typer.Typer(
    help="Issue and revoke personal access tokens for automation.", no_args_is_help=True
)

_DURATION = re.compile(r"(\d{1,4})([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str, option: str) -> timedelta:
    """A duration written 30m, 1h or 7d, or a one-sentence UsageError naming the option."""
    found = _DURATION.fullmatch(text.strip())
    if found is None or int(found.group(1)) == 0:
        raise UsageError(f"{option} must be a duration such as 30m, 1h or 7d.")
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


@clients_app.command()
def add(
    ctx: typer.Context,
    organisation: Annotated[str, typer.Argument(help="The organisation's id.")],
    name: Annotated[str, typer.Argument(help="What the client is, for people.")],
    jwks: Annotated[Path, typer.Option("--jwks", help="The client's public keys (JWKS file).")],
    scopes: Annotated[str, typer.Option(help='SMART system scopes, such as "system/Patient.rs".')],
    expires: Annotated[
        str, typer.Option(help="The last day the client may be used (YYYY-MM-DD, UTC).")
    ],
    per_hour: Annotated[int, typer.Option(min=1, help="Records it may get per hour.")],
    per_day: Annotated[int, typer.Option(min=1, help="Records it may get per 24 hours.")],
    token_minutes: Annotated[
        int, typer.Option(min=1, max=60, help="The longest its tokens live.")
    ] = 5,
) -> None:
    """Register a machine client; print its client id."""
    expires_at = datetime.combine(
        parse_day(expires, "--expires") + timedelta(days=1), time.min, UTC
    )
    if not jwks.is_file():
        raise UsageError(f"There is no file at {jwks}.")
    try:
        keys = jwks.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{jwks} is not UTF-8 text.") from None
    coffre = state(ctx).coffre()
    client = signin.add_client(
        coffre.uow(),
        local_operator(organisation),
        organisation,
        name,
        keys,
        scopes,
        expires_at=expires_at,
        per_hour=per_hour,
        per_day=per_day,
        token_lifetime=timedelta(minutes=token_minutes),
    )
    out.print(client.id)


@clients_app.command("list")
def list_(
    ctx: typer.Context,
    organisation: Annotated[str | None, typer.Argument(help="Only this organisation's.")] = None,
) -> None:
    """List clients: id, organisation, state, expiry, ceilings, token minutes, scopes, name."""
    coffre = state(ctx).coffre()
    now = datetime.now(UTC)
    with coffre.reader() as uow:
        found = identity.clients.list_clients(uow, organisation)
    for c in found:
        minutes = int(c.token_lifetime.total_seconds()) // 60
        typer.echo(
            f"{c.id}\t{c.organisation_id}\t{c.state(now)}\t"
            f"{c.expires_at:%Y-%m-%d %H:%M}Z\t{c.per_hour}/h {c.per_day}/d\t{minutes} min\t"
            f"{identity.format_scopes(c.scopes)}\t{c.name}"
        )


@clients_app.command()
def revoke(
    ctx: typer.Context, client_id: Annotated[str, typer.Argument(help="The client id.")]
) -> None:
    """Revoke a client for good: it gets no token, its tokens stop at once."""
    coffre = state(ctx).coffre()
    signin.revoke_client(coffre.uow(), local_operator(), client_id)
    out.print("The client is revoked.")


@clients_app.command()
def suspend(
    ctx: typer.Context,
    client_id: Annotated[str, typer.Argument(help="The client id.")],
    reason: Annotated[str, typer.Option(help="Why (kept with the client, not journaled).")],
) -> None:
    """Suspend a client until resumed: it gets no token, its tokens stop at once."""
    coffre = state(ctx).coffre()
    signin.suspend_client(coffre.uow(), local_operator(), client_id, reason)
    out.print("The client is suspended.")


@clients_app.command()
def resume(
    ctx: typer.Context, client_id: Annotated[str, typer.Argument(help="The client id.")]
) -> None:
    """Lift a client's suspension."""
    coffre = state(ctx).coffre()
    signin.resume_client(coffre.uow(), local_operator(), client_id)
    out.print("The client is resumed.")


@tokens_app.command()
def issue(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="The account's username.")],
    scopes: Annotated[str, typer.Option(help='SMART user scopes, such as "user/Patient.rs".')],
    expires: Annotated[str, typer.Option(help="How long it lives: 30m, 1h, 7d (90d at most).")],
    name: Annotated[str, typer.Option(help="What it is for (not journaled).")] = "",
) -> None:
    """Issue a personal access token and print it, once."""
    lifetime = parse_duration(expires, "--expires")
    coffre = state(ctx).coffre()
    secret, info = signin.issue_personal_token(
        coffre.uow(), local_operator(), user, scopes, lifetime, name
    )
    typer.echo(secret)
    err.print(
        f"Keep this token now: it will not be shown again (reference {info.reference}, "
        f"expires {info.expires_at:%Y-%m-%d %H:%M}Z)."
    )


@tokens_app.command("revoke")
def revoke_token(
    ctx: typer.Context,
    reference: Annotated[
        str, typer.Argument(help="The token's reference, as the journal names it.")
    ],
) -> None:
    """Revoke a token for good; it is refused from the next request."""
    coffre = state(ctx).coffre()
    signin.revoke_token(coffre.uow(), local_operator(), reference)
    out.print("The token is revoked.")
