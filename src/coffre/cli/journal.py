"""`coffre journal …`: checkpoints, proofs, verification, export and a patient's history."""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from coffre import journal
from coffre.access import Purpose
from coffre.cli.context import err, out, progress, state
from coffre.errors import CoffreError
from coffre.identity import local_operator

journal_app = typer.Typer(help="The tamper-evident access journal.", no_args_is_help=True)


class VerificationFailed(CoffreError):
    """The journal does not verify."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@journal_app.command()
def checkpoint(ctx: typer.Context) -> None:
    """Sign and publish a checkpoint of the current tree, and print it."""
    coffre = state(ctx).coffre()
    typer.echo(coffre.checkpoint().note, nl=False)


@journal_app.command()
def key(ctx: typer.Context) -> None:
    """Print the verifier key of the journal's checkpoints (name+hash+base64)."""
    typer.echo(state(ctx).coffre().signer.vkey)


def _checkpoint_for(ctx: typer.Context, size: int | None) -> tuple[int, str | None, bytes]:
    """(size, signed note or None, root) for a tree size; the current size gets a checkpoint."""
    coffre = state(ctx).coffre()
    if size is None:
        made = coffre.checkpoint()
        return made.size, made.note, made.root
    with coffre.reader() as uow:
        root = journal.tree(uow, size).root()
        found = journal.checkpoints.stored(uow)
    note = next((n for s, _, n in found if s == size), None)
    return size, note, root


@journal_app.command()
def proof(
    ctx: typer.Context,
    entry: Annotated[int, typer.Option("--entry", help="The entry's number (its leaf index).")],
    size: Annotated[
        int | None, typer.Option(help="Tree size (default: now, checkpointed).")
    ] = None,
) -> None:
    """Print an RFC 6962 inclusion proof of one entry as JSON."""
    tree_size, note, root = _checkpoint_for(ctx, size)
    coffre = state(ctx).coffre()
    if not 0 <= entry < tree_size:
        raise journal.JournalError(f"Entry {entry} is not in a tree of {tree_size} entries.")
    data = journal.audit.read_for_proof(coffre.uow(), local_operator(), entry, tree_size)
    with coffre.reader() as uow:
        path = journal.tree(uow, tree_size).inclusion_proof(entry)
    document = {
        "leaf_index": entry,
        "tree_size": tree_size,
        "leaf_hash": _b64(journal.leaf_hash(data)),
        "audit_path": [_b64(h) for h in path],
        "root_hash": _b64(root),
        "checkpoint": note,
        "entry": _b64(data),
    }
    typer.echo(json.dumps(document, indent=2))


@journal_app.command()
def consistency(
    ctx: typer.Context,
    old: Annotated[int, typer.Option("--from", help="The older tree size.")],
    new: Annotated[int | None, typer.Option("--to", help="The newer size (default: now).")] = None,
) -> None:
    """Print an RFC 6962 consistency proof between two tree sizes as JSON."""
    new_size, new_note, new_root = _checkpoint_for(ctx, new)
    old_size, old_note, old_root = (
        _checkpoint_for(ctx, old) if old != new_size else (new_size, new_note, new_root)
    )
    coffre = state(ctx).coffre()
    if not 0 < old_size <= new_size:
        raise journal.JournalError(f"No consistency proof from {old_size} to {new_size} entries.")
    with coffre.reader() as uow:
        path = journal.tree(uow, new_size).consistency_proof(old_size)
    document = {
        "old_size": old_size,
        "new_size": new_size,
        "old_root": _b64(old_root),
        "new_root": _b64(new_root),
        "proof": [_b64(h) for h in path],
        "old_checkpoint": old_note,
        "new_checkpoint": new_note,
    }
    typer.echo(json.dumps(document, indent=2))


@journal_app.command()
def verify(
    ctx: typer.Context,
    checkpoint_file: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            help="An outside checkpoint to check against "
            "(default: the newest in the checkpoint folder).",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Processes that share a large journal (default: the cores available, at most 8).",
        ),
    ] = None,
) -> None:
    """Recompute every entry, stored hash and checkpoint; exit 0 only if all agree."""
    current = state(ctx)
    coffre = current.coffre()
    current.no_checkpoint_on_close = True
    if checkpoint_file is not None:
        try:
            outside = checkpoint_file.read_text(encoding="utf-8")
        except OSError:
            raise journal.JournalError(f"Cannot read the checkpoint {checkpoint_file}.") from None
    else:
        outside = coffre.publisher.newest()
    with coffre.reader() as uow:
        total = journal.size(uow)
    with progress() as bar:
        task = bar.add_task("Verifying the journal", total=total)
        report = journal.verify(
            coffre.reader(),
            coffre.signer.verifier,
            outside,
            progress=lambda n: bar.advance(task, n),
            workers=workers or journal.default_workers(),
        )
    if report.ok:
        outside_size = report.outside.size if report.outside else 0
        out.print(
            f"The journal verifies: {report.entries:,} entries, {report.tiles:,} stored tiles "
            f"and {report.checkpoints:,} checkpoints agree (outside checkpoint: {outside_size:,} "
            "entries)."
        )
        return
    for problem in report.problems[1:]:
        err.print(f"also: {problem.what}")
    first = report.problems[0].what.rstrip(".")  # some end as a sentence of their own
    raise VerificationFailed(f"The journal does not verify: {first}.")


@journal_app.command("export")
def export_(
    ctx: typer.Context,
    format_: Annotated[str, typer.Option("--format", help="auditevent (FHIR NDJSON) or csv.")],
    since: Annotated[str | None, typer.Option(help="Entries from this UTC date/time on.")] = None,
    patient: Annotated[str | None, typer.Option(help="Only entries naming this patient.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only entries by this actor id.")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default: stdout).")
    ] = None,
) -> None:
    """Export journal entries as FHIR R4 AuditEvent NDJSON (IHE BALP) or CSV."""
    from coffre.journal import export as formats

    if format_ not in ("auditevent", "csv"):
        raise journal.JournalError(f"Unknown format {format_!r}; use auditevent or csv.")
    if since is not None and not _looks_like_time(since):
        raise journal.JournalError("--since must be a UTC date or time such as 2026-11-01.")
    current = state(ctx)
    coffre = current.coffre()
    where = journal.Filter(since=since, patient_id=patient, actor_id=actor)
    total, records = journal.audit.open_export(
        coffre.uow(), coffre.reader(), local_operator(), where
    )
    handle = sys.stdout if output is None else output.open("w", encoding="utf-8", newline="")
    try:
        with progress() as bar:
            task = bar.add_task("Exporting the journal", total=total)
            # The writers tell how many entries they have written so far.
            written = lambda n: bar.update(task, completed=n)  # noqa: E731
            if format_ == "csv":
                count = formats.write_csv(records, handle, progress=written)
            else:
                observer = f"coffre:{coffre.signer.origin}"
                count = formats.write_ndjson(records, handle, observer=observer, progress=written)
    except BrokenPipeError:
        # The reader of standard output went away (e.g. `| head`): stop quietly.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (keeps Python's exit flush quiet)
        return
    finally:
        records.close()
        if output is not None:
            handle.close()
    err.print(f"Exported {count:,} journal entries.")


def _looks_like_time(text: str) -> bool:
    import re

    return (
        re.fullmatch(r"\d{4}-\d{2}-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d{1,6})?)?)?Z?)?", text)
        is not None
    )


@journal_app.command()
def history(
    ctx: typer.Context,
    patient: Annotated[str, typer.Option(help="The patient's id.")],
    document: Annotated[str | None, typer.Option(help="Only accesses to this document.")] = None,
    before: Annotated[int | None, typer.Option(help="Page: entries before this number.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Entries per page.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Who accessed a patient's record: newest first, with purpose and justification."""
    coffre = state(ctx).coffre()
    page = journal.patient_history(
        coffre.uow(),
        local_operator(),
        patient,
        Purpose.SUBJECT_ACCESS,
        document_id=document,
        before=before,
        limit=limit,
    )
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "patient": page.patient_id,
                    "total": page.total,
                    "next_before": page.next_before,
                    "items": [
                        {
                            "seq": r.seq,
                            "time": r.time,
                            "actor_kind": r.actor_kind,
                            "actor": r.actor_id,
                            "organisation": r.organisation_id,
                            "action": r.action,
                            "purpose": r.purpose,
                            "decision": r.decision,
                            "rule": r.rule,
                            "justification": r.explanation,
                            "outcome": r.outcome,
                            "resources": list(r.resource_ids),
                        }
                        for r in page.items
                    ],
                },
                indent=2,
            )
        )
        return
    table = Table("#", "when (UTC)", "who", "what", "why", "rule", "outcome")
    for r in page.items:
        table.add_row(
            str(r.seq),
            r.time[:19].replace("T", " "),
            r.actor_id,
            r.action.split(":", 1)[1],
            r.purpose or "",
            r.rule,
            r.outcome,
        )
    out.print(table)
    shown = f"{len(page.items)} of {page.total}" if page.total is not None else str(len(page.items))
    more = f"; next page: --before {page.next_before}" if page.next_before is not None else ""
    out.print(f"{shown} entries{more}. The explanation of each decision: --json.")
