"""`coffre organisations …`: the organisations patients and accounts belong to, their
matrices, care teams, contracts and accounts. Each change is the local operator's, decided
and journaled by `records` (docs/access.md §1)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated

import typer

from coffre import access, identity, records
from coffre.cli.acting import parse_day
from coffre.cli.context import out, state
from coffre.cli.patients import UsageError
from coffre.identity import OrganisationKind, local_operator

organisations_app = typer.Typer(
    help="Add and list organisations; their matrices, care teams, contracts and accounts.",
    no_args_is_help=True,
)


@organisations_app.command()
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The organisation's name.")],
    kind: Annotated[OrganisationKind, typer.Option(help="What kind of organisation.")] = (
        OrganisationKind.CARE_PROVIDER
    ),
    country: Annotated[str, typer.Option(help="Two-letter country code.")] = "FR",
) -> None:
    """Add an organisation and print its id."""
    coffre = state(ctx).coffre()
    org = records.add_organisation(coffre.uow(), local_operator(), name, kind, country)
    out.print(org.id)


@organisations_app.command("list")
def list_(ctx: typer.Context) -> None:
    """List organisations: id, kind, country, name."""
    coffre = state(ctx).coffre()
    with coffre.reader() as uow:
        for org in identity.list_organisations(uow):
            typer.echo(f"{org.id}\t{org.kind.value}\t{org.country}\t{org.name}")


@organisations_app.command()
def matrix(
    ctx: typer.Context,
    organisation: Annotated[str, typer.Argument(help="The organisation's id.")],
    file: Annotated[
        Path | None,
        typer.Argument(help="The organisation's matrix (TOML, format coffre-matrix/1)."),
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Remove the organisation's own matrix.")
    ] = False,
) -> None:
    """Set (or --clear) the organisation's own matrix, which only narrows the default."""
    if clear == (file is not None):
        raise UsageError("Give either a matrix file or --clear.")
    text = None
    if file is not None:
        if not file.is_file():
            raise UsageError(f"There is no file at {file}.")
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"{file} is not UTF-8 text.") from None
        access.parse_matrix(text, str(file))  # before opening anything
    coffre = state(ctx).coffre()
    records.set_organisation_matrix(
        coffre.uow(), local_operator(organisation), organisation, text, source=str(file)
    )
    if text is None:
        out.print("The organisation's own matrix is removed; the default matrix applies.")
    else:
        out.print("The organisation's matrix is set; it narrows the default matrix.")


@organisations_app.command()
def team(
    ctx: typer.Context,
    organisation: Annotated[str, typer.Argument(help="The organisation's id.")],
    name: Annotated[str, typer.Argument(help="The care team's name.")],
    member: Annotated[
        list[str] | None,
        typer.Option("--member", help="Username of a member (repeat the option)."),
    ] = None,
) -> None:
    """Create a care team of the organisation and print its id."""
    coffre = state(ctx).coffre()
    team_id = records.add_care_team(
        coffre.uow(), local_operator(organisation), organisation, name, member or []
    )
    out.print(team_id)


@organisations_app.command()
def members(
    ctx: typer.Context,
    team: Annotated[str, typer.Argument(help="The care team's id.")],
    add: Annotated[
        list[str] | None,
        typer.Option("--add", help="Username of a member to add (repeat the option)."),
    ] = None,
    remove: Annotated[
        list[str] | None,
        typer.Option("--remove", help="Username of a member to remove (repeat the option)."),
    ] = None,
) -> None:
    """Add members to a care team or remove them: a member removed no longer reads the
    team's patients (within seconds for a server's sessions and tokens)."""
    if not add and not remove:
        raise UsageError("Name a member to add with --add or to remove with --remove.")
    coffre = state(ctx).coffre()
    with coffre.reader() as uow:
        organisation = identity.team_organisation(uow, team)
    added, removed = records.change_care_team(
        coffre.uow(), local_operator(organisation), team, add or [], remove or []
    )
    out.print(f"{len(added)} added to the team, {len(removed)} removed from it.")


def _categories(names: list[str] | None, option: str) -> list[str]:
    known = {c.value for c in access.Category}
    for name in names or []:
        if name not in known:
            raise UsageError(
                f"{option} {name!r} is not a category; choose from "
                f"{', '.join(c.value for c in access.Category)}."
            )
    return sorted(set(names or []))


@organisations_app.command()
def contract(
    ctx: typer.Context,
    subcontractor: Annotated[str, typer.Argument(help="The subcontractor organisation's id.")],
    client: Annotated[str, typer.Argument(help="The client organisation's id.")],
    read: Annotated[
        list[str] | None,
        typer.Option("--read", help="A category it may read (repeat the option)."),
    ] = None,
    write: Annotated[
        list[str] | None,
        typer.Option("--write", help="A category it may write (repeat the option)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="Last day the contract is in force, YYYY-MM-DD (UTC)."),
    ] = None,
) -> None:
    """Record a subcontractor's contract with a client, in force from now; print its id."""
    readable = _categories(read, "--read")
    writable = _categories(write, "--write")
    if not readable and not writable:
        raise UsageError("A contract names at least one category with --read or --write.")
    ends_at = None
    if until is not None:
        ends_at = datetime.combine(parse_day(until, "--until") + timedelta(days=1), time.min, UTC)
    coffre = state(ctx).coffre()
    contract_id = records.add_contract(
        coffre.uow(),
        local_operator(client),
        subcontractor,
        client,
        readable,
        writable,
        starts_at=datetime.now(UTC),
        ends_at=ends_at,
    )
    out.print(contract_id)


@organisations_app.command("end-contract")
def end_contract(
    ctx: typer.Context,
    contract: Annotated[str, typer.Argument(help="The contract's id.")],
) -> None:
    """End a subcontractor's contract now, before its term: the subcontractor no longer
    reads the client's patients (within seconds for a server's tokens)."""
    coffre = state(ctx).coffre()
    with coffre.reader() as uow:
        client = identity.contract_parties(uow, contract).client_id
    ended = records.end_contract(coffre.uow(), local_operator(client), contract)
    out.print(f"The contract ended at {ended.isoformat(timespec='seconds')}.")


@organisations_app.command()
def accounts(
    ctx: typer.Context,
    organisation: Annotated[
        str | None, typer.Argument(help="Only this organisation's accounts.")
    ] = None,
) -> None:
    """List accounts: username, role, profession, organisation (never a secret)."""
    coffre = state(ctx).coffre()
    with coffre.reader() as uow:
        if organisation is not None:
            identity.get_organisation(uow, organisation)
        names = {org.id: org.name for org in identity.list_organisations(uow)}
        for account in identity.list_accounts(uow, organisation):
            typer.echo(
                f"{account.username}\t{account.role}\t{account.profession or '-'}\t"
                f"{names.get(account.organisation_id, account.organisation_id)}"
            )
