"""`coffre insurers …`: an insurer's members, their eligibility and the service's usage."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from coffre import records
from coffre.cli.acting import AsAccount, acting, parse_day
from coffre.cli.context import out, state
from coffre.cli.patients import UsageError
from coffre.identity import Actor
from coffre.records import Member

insurers_app = typer.Typer(
    help="Enrol an insurer's members; ask eligibility and usage as an insurer.",
    no_args_is_help=True,
)

COLUMNS = ("member_id", "patient_id", "covered_from", "covered_until")


def _members(file: Path) -> list[Member]:
    if not file.is_file():
        raise UsageError(f"There is no file at {file}.")
    members = []
    try:
        with file.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if tuple(name.strip() for name in reader.fieldnames or ()) != COLUMNS:
                raise UsageError(f"The first line of {file} must be: {','.join(COLUMNS)}.")
            for row in reader:
                line = reader.line_num
                if None in row or any(row.get(c) is None for c in COLUMNS):
                    raise UsageError(f"Line {line} of {file} does not have {len(COLUMNS)} fields.")
                until = row["covered_until"].strip()
                members.append(
                    Member(
                        row["member_id"].strip(),
                        row["patient_id"].strip(),
                        parse_day(row["covered_from"], f"covered_from on line {line}"),
                        parse_day(until, f"covered_until on line {line}") if until else None,
                    )
                )
    except UnicodeDecodeError:
        raise UsageError(f"{file} is not UTF-8 text.") from None
    except csv.Error as exc:
        raise UsageError(f"{file} is not a readable CSV file ({exc}).") from None
    if not members:
        raise UsageError(f"{file} names no member.")
    return members


@insurers_app.command()
def enrol(
    ctx: typer.Context,
    insurer: Annotated[str, typer.Argument(help="The insurer organisation's id.")],
    file: Annotated[
        Path,
        typer.Argument(help="CSV file: member_id,patient_id,covered_from,covered_until."),
    ],
) -> None:
    """Enrol an insurer's members from a CSV file (all or none) and print how many."""
    members = _members(file)
    coffre = state(ctx).coffre()
    count = records.enrol_members(coffre.uow(), coffre.vault, acting(ctx, None), insurer, members)
    out.print(f"Enrolled {count:,} member{'' if count == 1 else 's'}.")


def _insurer(ctx: typer.Context, as_account: str | None) -> Actor:
    if as_account is None:
        raise UsageError("An insurer's account asks this; name it with --as.")
    return acting(ctx, as_account)


@insurers_app.command()
def eligibility(
    ctx: typer.Context,
    member: Annotated[str, typer.Argument(help="The member's number at the insurer.")],
    on: Annotated[str | None, typer.Option("--on", help="Day YYYY-MM-DD (default: today).")] = None,
    as_account: AsAccount = None,
) -> None:
    """Whether a member of the insurer is covered on a day."""
    day = parse_day(on, "--on") if on is not None else None
    actor = _insurer(ctx, as_account)
    coffre = state(ctx).coffre()
    answer = records.check_eligibility(coffre.uow(), coffre.vault, actor, member, day)
    out.print(f"{'covered' if answer.covered else 'not covered'} on {answer.on.isoformat()}")


@insurers_app.command()
def usage(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", help="First day YYYY-MM-DD.")],
    until: Annotated[str, typer.Option("--until", help="Day after the last, YYYY-MM-DD.")],
    as_account: AsAccount = None,
) -> None:
    """Teleconsultations started by the insurer's members, by month (counts only)."""
    first, end = parse_day(since, "--since"), parse_day(until, "--until")
    actor = _insurer(ctx, as_account)
    coffre = state(ctx).coffre()
    figures = records.usage_figures(coffre.uow(), coffre.vault, actor, first, end)
    table = Table("month", "teleconsultations")
    for month, count in sorted(figures.teleconsultations.items()):
        table.add_row(month, f"{count:,}")
    if figures.teleconsultations:
        out.print(table)
    else:
        out.print("No teleconsultations in this period.")
    out.print(f"Members enrolled: {figures.members:,}.")
