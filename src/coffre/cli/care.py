"""`coffre care …`: patients' sharing choices, care relationships and emergency access.

Every command goes through the records services, which decide and journal; the operator
acts at the patient's request (or for a subject-access request when reading), and in demo
mode `--as USERNAME` acts as a demo account instead.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from coffre import notify, records
from coffre.access import Category, EmergencyReason, RelationshipKind
from coffre.cli.acting import AsAccount, acting, control_purpose, reading_purpose
from coffre.cli.context import out, state
from coffre.cli.patients import UsageError

care_app = typer.Typer(
    help="Patients' sharing choices, care relationships and emergency access.",
    no_args_is_help=True,
)

PatientArgument = Annotated[str, typer.Argument(help="The patient's id.", show_default=False)]


class Language(StrEnum):
    FR = "fr"
    NL = "nl"
    EN = "en"


def _moment(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _size(size: int) -> str:
    return f"{size:,} bytes" if size != 1 else "1 byte"


@care_app.command()
def consent(
    ctx: typer.Context,
    patient: PatientArgument,
    grant: Annotated[bool, typer.Option("--grant", help="Record that consent is given.")] = False,
    revoke: Annotated[
        bool, typer.Option("--revoke", help="Record that consent is withdrawn.")
    ] = False,
    as_account: AsAccount = None,
) -> None:
    """Give or withdraw the patient's consent to sharing between their professionals."""
    if grant == revoke:
        raise UsageError("Say either --grant or --revoke.")
    actor = acting(ctx, as_account)
    coffre = state(ctx).coffre()
    records.set_consent(coffre.uow(), coffre.vault, actor, patient, grant, control_purpose(actor))
    out.print("Consent given." if grant else "Consent withdrawn.")


@care_app.command()
def relationships(
    ctx: typer.Context, patient: PatientArgument, as_account: AsAccount = None
) -> None:
    """List the patient's care relationships, active or not, oldest first."""
    actor = acting(ctx, as_account)
    coffre = state(ctx).coffre()
    found = records.list_relationships(
        coffre.uow(), coffre.vault, actor, patient, control_purpose(actor)
    )
    if not found:
        out.print("The patient has no care relationship.")
        return
    table = Table("id", "kind", "professional", "care team", "started", "ended", "active")
    for r in found:
        table.add_row(
            r.id,
            r.kind,
            r.professional_id or "-",
            r.care_team_id or "-",
            _moment(r.started_at),
            _moment(r.ended_at),
            "yes" if r.active else "no",
        )
    for column in table.columns[:4]:
        column.no_wrap = True
    out.print(table)


@care_app.command()
def relate(
    ctx: typer.Context,
    patient: PatientArgument,
    kind: Annotated[
        RelationshipKind, typer.Option("--kind", help="What kind of care relationship.")
    ],
    professional: Annotated[
        str | None, typer.Option("--professional", help="The professional's username.")
    ] = None,
    team: Annotated[str | None, typer.Option("--team", help="The care team's id.")] = None,
    as_account: AsAccount = None,
) -> None:
    """Record a care relationship with the patient and print its id."""
    if (professional is None) == (team is None):
        raise UsageError("Name either --professional or --team.")
    actor = acting(ctx, as_account)
    coffre = state(ctx).coffre()
    relationship_id = records.start_relationship(
        coffre.uow(),
        coffre.vault,
        actor,
        patient,
        kind,
        control_purpose(actor),
        professional=professional,
        care_team=team,
    )
    typer.echo(relationship_id)


@care_app.command("end-relationship")
def end_relationship(
    ctx: typer.Context,
    relationship_id: Annotated[
        str, typer.Argument(help="The relationship's id.", show_default=False)
    ],
    as_account: AsAccount = None,
) -> None:
    """End a care relationship (for an admission: the discharge)."""
    actor = acting(ctx, as_account)
    coffre = state(ctx).coffre()
    records.end_relationship(
        coffre.uow(), coffre.vault, actor, relationship_id, control_purpose(actor)
    )
    out.print("Care relationship ended.")


@care_app.command()
def exclude(
    ctx: typer.Context,
    patient: PatientArgument,
    professional: Annotated[
        str, typer.Option("--professional", help="The professional's username.")
    ],
    lift: Annotated[bool, typer.Option("--lift", help="Lift the exclusion instead.")] = False,
    as_account: AsAccount = None,
) -> None:
    """Exclude a professional from the patient's data, even in an emergency (or lift it)."""
    actor = acting(ctx, as_account)
    coffre = state(ctx).coffre()
    records.set_exclusion(
        coffre.uow(), coffre.vault, actor, patient, professional, not lift, control_purpose(actor)
    )
    out.print("Exclusion lifted." if lift else "Professional excluded.")


@care_app.command()
def mask(
    ctx: typer.Context,
    document_id: Annotated[str, typer.Argument(help="The document's id.", show_default=False)],
    lift: Annotated[bool, typer.Option("--lift", help="Unmask the document instead.")] = False,
    as_account: AsAccount = None,
) -> None:
    """Mask a document from everyone but its author (or unmask it)."""
    actor = acting(ctx, as_account)
    coffre = state(ctx).coffre()
    records.set_mask(
        coffre.uow(), coffre.vault, actor, document_id, not lift, control_purpose(actor)
    )
    out.print("Document unmasked." if lift else "Document masked.")


@care_app.command("break-glass")
def break_glass(
    ctx: typer.Context,
    patient: PatientArgument,
    code: Annotated[EmergencyReason, typer.Option("--code", help="The kind of emergency.")],
    reason: Annotated[str, typer.Option("--reason", help="Why, in words (kept sealed).")],
    as_account: AsAccount = None,
) -> None:
    """Open a short emergency access to the patient's record, journaled and notified."""
    if as_account is None:
        raise UsageError("An emergency access is a clinician's; name the account with --as.")
    actor = acting(ctx, as_account)
    coffre = state(ctx).coffre()
    grant = records.break_glass(coffre.uow(), coffre.vault, actor, patient, code, reason)
    out.print(f"Emergency access open until {_moment(grant.expires_at)}.")


def _display(resource: dict[str, Any]) -> str:
    code = resource.get("code")
    if not isinstance(code, dict):
        return ""
    if isinstance(code.get("text"), str):
        return str(code["text"])
    codings = code.get("coding")
    if isinstance(codings, list) and codings and isinstance(codings[0], dict):
        return str(codings[0].get("display") or codings[0].get("code") or "")
    return ""


def _print_patient(resource: dict[str, Any]) -> None:
    names = resource.get("name") or []
    if names:
        name = names[0]
        given = " ".join(name.get("given") or [])
        out.print(f"Patient: {' '.join(p for p in (given, name.get('family', '')) if p)}")
    if resource.get("birthDate"):
        out.print(f"Born: {resource['birthDate']}")
    for telecom in resource.get("telecom") or []:
        if telecom.get("value"):
            out.print(f"{str(telecom.get('system', 'contact')).capitalize()}: {telecom['value']}")
    for address in resource.get("address") or []:
        parts = [*address.get("line", []), address.get("postalCode"), address.get("city")]
        text = ", ".join(str(p) for p in parts if p)
        if address.get("country"):
            text = f"{text} ({address['country']})" if text else str(address["country"])
        if text:
            out.print(f"Address: {text}")


@care_app.command()
def record(
    ctx: typer.Context,
    patient: PatientArgument,
    category: Annotated[
        list[Category] | None,
        typer.Option("--category", help="Only these categories (repeat the option)."),
    ] = None,
    as_account: AsAccount = None,
) -> None:
    """Print what the actor may see of the patient's record."""
    actor = acting(ctx, as_account)
    purpose = reading_purpose(actor)
    coffre = state(ctx).coffre()
    found = records.read_record(
        coffre.uow(), coffre.vault, actor, patient, purpose, category or None
    )
    if found.patient is not None:
        _print_patient(found.patient)
    if found.entries:
        entries = Table("recorded", "category", "type", "what", title="Entries")
        for entry in found.entries:
            entries.add_row(
                _moment(entry.recorded_at),
                entry.category,
                entry.resource_type,
                _display(entry.resource),
            )
        out.print(entries)
    else:
        out.print("No entries.")
    if found.documents:
        documents = Table("id", "category", "title", "content type", "size", title="Documents")
        documents.columns[0].no_wrap = True
        for doc in found.documents:
            documents.add_row(doc.id, doc.category, doc.title, doc.content_type, _size(doc.size))
        out.print(documents)
    else:
        out.print("No documents.")
    if found.withheld:
        out.print(f"Withheld by your profession's matrix: {', '.join(found.withheld)}.")


@care_app.command()
def document(
    ctx: typer.Context,
    document_id: Annotated[str, typer.Argument(help="The document's id.", show_default=False)],
    output: Annotated[Path, typer.Option("--out", help="File to write (must not exist).")],
    as_account: AsAccount = None,
) -> None:
    """Write one document's content to a new file."""
    if output.exists():
        raise UsageError(f"{output} already exists; choose another --out.")
    actor = acting(ctx, as_account)
    coffre = state(ctx).coffre()
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(f"{output} already exists; choose another --out.") from None
    except OSError as exc:
        raise UsageError(f"{output} cannot be written ({exc.strerror}).") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            info = records.read_document(
                coffre.uow(), coffre.vault, actor, document_id, reading_purpose(actor), handle
            )
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    out.print(f"Wrote {info.title!r} ({_size(info.size)}) to {output}.")


@care_app.command()
def notifications(
    ctx: typer.Context,
    patient: Annotated[
        str | None, typer.Option("--patient", help="Only those to this patient.")
    ] = None,
    language: Annotated[
        Language, typer.Option("--language", help="Language to render them in.")
    ] = Language.EN,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 100,
) -> None:
    """List the notifications outbox, newest first (operator only)."""
    coffre = state(ctx).coffre()
    with coffre.reader() as uow:
        found = notify.list_notifications(
            uow,
            notify.Recipient.PATIENT if patient is not None else None,
            patient,
            limit=limit,
        )
    if not found:
        out.print("No notifications.")
        return
    table = Table("created", "recipient", "recipient id", "kind", "subject", "body")
    table.columns[2].no_wrap = True
    for notice in found:
        subject, body = notify.render(notice, language.value)
        table.add_row(
            _moment(notice.created_at),
            notice.recipient.value,
            notice.recipient_id,
            notice.kind.value,
            subject,
            body,
        )
    out.print(table)
