"""`coffre organisations …`: the organisations patients and accounts belong to."""

from __future__ import annotations

from typing import Annotated

import typer

from coffre import identity
from coffre.cli.context import out, state
from coffre.identity import OrganisationKind

organisations_app = typer.Typer(help="Add and list organisations.", no_args_is_help=True)


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
    with coffre.uow() as uow:
        org = identity.create_organisation(uow, name, kind, country)
        uow.commit()
    out.print(org.id)


@organisations_app.command("list")
def list_(ctx: typer.Context) -> None:
    """List organisations: id, kind, country, name."""
    coffre = state(ctx).coffre()
    with coffre.reader() as uow:
        for org in identity.list_organisations(uow):
            typer.echo(f"{org.id}\t{org.kind.value}\t{org.country}\t{org.name}")
