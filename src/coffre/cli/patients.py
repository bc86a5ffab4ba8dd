"""`coffre patients …`: import, find, export, flag and erase, each decided and journaled."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from coffre import identity, records
from coffre.access import Flag, Purpose
from coffre.cli.context import err, out, progress, state
from coffre.errors import CoffreError
from coffre.identity import local_operator
from coffre.records import ErasureReason, FindCriteria

patients_app = typer.Typer(
    help="Import, find, export, flag and erase patients.", no_args_is_help=True
)


class UsageError(CoffreError):
    exit_code = 2


def _organisation(ctx: typer.Context, wanted: str | None) -> str:
    coffre = state(ctx).coffre()
    with coffre.reader() as uow:
        if wanted:
            return identity.get_organisation(uow, wanted).id
        found = identity.list_organisations(uow)
    if len(found) == 1:
        return found[0].id
    if not found:
        raise UsageError("There is no organisation yet; add one with 'coffre organisations add'.")
    raise UsageError(
        "Several organisations exist; name one with --organisation "
        "(see 'coffre organisations list')."
    )


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


@patients_app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="FHIR R4 Patient resources, one per line (NDJSON).")],
    organisation: Annotated[
        str | None, typer.Option(help="Organisation id the patients join.")
    ] = None,
    skip_invalid: Annotated[
        bool, typer.Option(help="Import the valid lines, report the rest.")
    ] = False,
) -> None:
    """Import patients from an NDJSON file: all or nothing unless --skip-invalid."""
    if not file.is_file():
        raise UsageError(f"There is no file at {file}.")
    coffre = state(ctx).coffre()
    org = _organisation(ctx, organisation)
    with file.open("rb") as handle:
        total = sum(1 for line in handle if line.strip())

    def open_lines():  # type: ignore[no-untyped-def]
        with file.open("rb") as handle:
            yield from handle

    with progress() as bar:
        task = bar.add_task("Checking and importing", total=total * 2)
        try:
            report = records.import_patients(
                coffre.uow(),
                coffre.vault,
                local_operator(org),
                open_lines,
                org,
                skip_invalid=skip_invalid,
                progress=lambda n: bar.advance(task, n),
            )
        except records.InvalidImport as exc:
            for error in exc.errors:
                err.print(f"line {error.line}: {error.reason}")
            raise
    for error in report.invalid:
        err.print(f"line {error.line}: skipped, {error.reason}")
    for line, why in report.duplicates:
        err.print(f"line {line}: not imported, {why}")
    out.print(
        f"Imported {_count(len(report.imported), 'patient')} ({report.batch_id}); "
        f"{_count(len(report.duplicates), 'duplicate')} and "
        f"{_count(len(report.invalid), 'invalid line')} not imported."
    )


@patients_app.command()
def find(
    ctx: typer.Context,
    nir: Annotated[str | None, typer.Option(help="French NIR (INS).")] = None,
    insz: Annotated[str | None, typer.Option(help="Belgian INSZ/NISS.")] = None,
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
    phone: Annotated[str | None, typer.Option(help="Phone number.")] = None,
    family: Annotated[str | None, typer.Option(help="Family name (with --birth-date).")] = None,
    birth_date: Annotated[
        str | None, typer.Option(help="Birth date YYYY-MM-DD (with --family).")
    ] = None,
) -> None:
    """Print the ids of matching patients, one per line (through blind indexes)."""
    coffre = state(ctx).coffre()
    criteria = FindCriteria(
        nir=nir, insz=insz, email=email, phone=phone, family=family, birth_date=birth_date
    )
    for patient_id in records.find_patients(coffre.uow(), coffre.vault, local_operator(), criteria):
        typer.echo(patient_id)


@patients_app.command()
def export(
    ctx: typer.Context,
    patient_id: Annotated[str, typer.Argument(help="The patient's id.")],
    purpose: Annotated[Purpose, typer.Option(help="Why the data is exported.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="File to write "
            "(default: $COFFRE_HOME/exports/ID-TIME.json; '-' for standard output).",
        ),
    ] = None,
) -> None:
    """Write a FHIR Bundle of everything held on the patient."""
    current = state(ctx)
    coffre = current.coffre()
    if output is not None and str(output) == "-":
        summary = records.export_patient(
            coffre.uow(), coffre.vault, local_operator(), patient_id, purpose, sys.stdout.buffer
        )
        err.print(f"Exported {summary.resources} resources.")
        return
    if output is None:
        folder = current.settings().home / "exports"
        folder.mkdir(mode=0o700, exist_ok=True)
        output = folder / f"{patient_id}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    if output.exists():
        raise UsageError(f"{output} already exists; choose another --output.")
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            summary = records.export_patient(
                coffre.uow(), coffre.vault, local_operator(), patient_id, purpose, handle
            )
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    out.print(
        f"Exported {summary.resources} resources ({summary.documents} documents) to {output}."
    )


@patients_app.command()
def erase(
    ctx: typer.Context,
    patient_id: Annotated[str, typer.Argument(help="The patient's id.")],
    reason: Annotated[ErasureReason, typer.Option(help="Why the patient is erased.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a patient for good: rows deleted and data key destroyed (crypto-shredding)."""
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("Erasing needs confirmation; run it on a terminal or pass --yes.")
        typer.confirm(
            f"Erase patient {patient_id} for good? Their data becomes unreadable everywhere, "
            "backups included",
            abort=True,
        )
    coffre = state(ctx).coffre()
    seq = records.erase_patient(coffre.uow(), coffre.vault, local_operator(), patient_id, reason)
    out.print(f"Erased patient {patient_id}; its data key is destroyed (journal entry {seq}).")


@patients_app.command("flag")
def flag_(
    ctx: typer.Context,
    patient_id: Annotated[str, typer.Argument(help="The patient's id.")],
    flag: Annotated[
        Flag,
        typer.Argument(help="vip (a public figure) or staff (a member of the staff)."),
    ],
    off: Annotated[bool, typer.Option("--off", help="Clear the flag instead.")] = False,
) -> None:
    """Flag a patient's record vip or staff (or clear the flag): every access to it then
    carries the fact `flag`, for the watch's rules. Nobody's access changes."""
    coffre = state(ctx).coffre()
    seq = records.flag_patient(coffre.uow(), local_operator(), patient_id, flag, not off)
    done = f"flagged {flag.value}" if not off else f"no longer flagged {flag.value}"
    out.print(f"The record of patient {patient_id} is {done} (journal entry {seq}).")
