"""`coffre accounts …`: add accounts (the password checked against the policy), suspend and
resume them, end a session named by its journal reference, keep the digests of the
holder's own family name and address."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from coffre import identity, records, signin
from coffre.cli.context import out, state
from coffre.cli.patients import UsageError
from coffre.identity import NewAccount, local_operator

accounts_app = typer.Typer(
    help="Add, suspend and resume accounts; end a session.", no_args_is_help=True
)

ROLES = (
    "patient",
    "practitioner",
    "staff",
    "data-protection-officer",
    "security-officer",
    "organisation-admin",
    "insurer-agent",
    "subcontractor",
)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = typer.prompt("Password", hide_input=True)
    if typer.prompt("Again", hide_input=True) != first:
        raise UsageError("The two passwords differ.")
    return str(first)


FamilyOption = Annotated[
    str | None,
    typer.Option(
        "--family",
        help="The holder's own family name, kept only as a blind-index digest: opening the "
        "record of a relative is then seen.",
    ),
]
AddressOption = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="The holder's own address, 'STREET, POSTCODE CITY', kept only as a blind-index "
        "digest: opening the record of a neighbour is then seen.",
    ),
]


@accounts_app.command()
def add(
    ctx: typer.Context,
    organisation: Annotated[str, typer.Argument(help="The organisation's id.")],
    username: Annotated[str, typer.Argument(help="The name to sign in with.")],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")],
    name: Annotated[str, typer.Option("--name", help="The name others see.")],
    profession: Annotated[
        str | None, typer.Option(help="For professionals: physician, nurse, …")
    ] = None,
    professional_id: Annotated[str | None, typer.Option(help="RPPS or INAMI-RIZIV number.")] = None,
    email: Annotated[
        str | None, typer.Option(help="Where password resets are sent (kept sealed).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    family: FamilyOption = None,
    address: AddressOption = None,
) -> None:
    """Add an account; its password must pass the policy (docs/identity.md). Professionals
    set up a second factor at their first sign-in."""
    if role not in ROLES:
        raise UsageError(f"The role must be one of: {', '.join(ROLES)}.")
    if address and not family:
        raise UsageError("Give the holder's --family with their --address.")
    password = _password(password_stdin)
    identity.check_new_password(password, patient=role == "patient", context=[username, name])
    coffre = state(ctx).coffre()
    personal = identity.personal_digests(coffre.vault.blind, family, address) if family else None
    new = NewAccount(
        organisation,
        username,
        password,
        role,
        name,
        profession=profession,
        professional_id=professional_id,
        family_digest=personal.family if personal else None,
        address_digest=personal.address if personal else None,
    )
    account_id = records.add_account(
        coffre.uow(), local_operator(), new, email=email, box=coffre.signin().box
    )
    out.print(account_id)


@accounts_app.command()
def suspend(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="Username or id.")],
    reason: Annotated[str, typer.Option(help="Why (kept with the account, not journaled).")],
) -> None:
    """Suspend an account: its sessions end at once and it cannot sign in."""
    coffre = state(ctx).coffre()
    ended = signin.suspend_account(coffre.uow(), local_operator(), account, reason)
    out.print(f"Suspended; {ended} session{'' if ended == 1 else 's'} ended.")


@accounts_app.command()
def resume(
    ctx: typer.Context, account: Annotated[str, typer.Argument(help="Username or id.")]
) -> None:
    """Lift an account's suspension."""
    coffre = state(ctx).coffre()
    signin.resume_account(coffre.uow(), local_operator(), account)
    out.print("Resumed.")


@accounts_app.command("end-session")
def end_session(
    ctx: typer.Context,
    reference: Annotated[str, typer.Argument(help="The session as the journal names it.")],
    reason: Annotated[str, typer.Option(help="Why.")],
) -> None:
    """End one session at once (as a security measure)."""
    coffre = state(ctx).coffre()
    signin.suspend_session(coffre.uow(), local_operator(), reference, reason)
    out.print("The session is ended.")


@accounts_app.command()
def personal(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="Username or id.")],
    family: Annotated[
        str, typer.Option("--family", help="The holder's own family name.", show_default=False)
    ],
    address: AddressOption = None,
) -> None:
    """Keep the blind-index digests of the account holder's own family name and address
    (replacing both): when they open the record of a patient with the same family name or
    address, the decision says so to the watch. The name and address are not stored."""
    coffre = state(ctx).coffre()
    records.set_personal_digests(
        coffre.uow(), local_operator(), coffre.vault.blind, account, family, address
    )
    kept = "family name and address" if address else "family name (no address)"
    out.print(f"Kept the digests of the holder's {kept}.")
