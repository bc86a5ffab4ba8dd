"""`coffre watch …`: follow the journal with Sigma rules, and handle the alerts they raise."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from coffre import journal, watch
from coffre.cli.context import out, progress, state
from coffre.cli.patients import UsageError
from coffre.identity import local_operator
from coffre.watch import follow, worker
from coffre.watch.catalogue import rules_from
from coffre.watch.imports import READER as IMPORTS_READER
from coffre.watch.imports import SourceDetectors, run_imports_once
from coffre.watch.profiles import Profiles
from coffre.watch.resume import resume as lift

watch_app = typer.Typer(
    help="Detection of misuse: Sigma rules over the journal, alerts, containment.",
    no_args_is_help=True,
)

READER = "alerts"


@watch_app.command()
def run(
    ctx: typer.Context,
    rules: Annotated[
        list[Path] | None,
        typer.Argument(help="Sigma rule files (YAML), besides the shipped rules."),
    ] = None,
    shipped: Annotated[
        bool, typer.Option("--shipped/--no-shipped", help="Also use Coffre's shipped rules.")
    ] = True,
    once: Annotated[
        bool, typer.Option("--once", help="Stop at the end of the journal instead of waiting.")
    ] = False,
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="Entries per batch.")] = 5_000,
    poll: Annotated[
        float, typer.Option(min=0.1, max=60.0, help="Seconds to wait at the journal's end.")
    ] = 1.0,
) -> None:
    """Follow the journal from where the last run stopped: store an alert for each rule that
    fires and apply its response, until Ctrl+C (or, with --once, the journal's end). The
    rules are the shipped ones, the files of COFFRE_WATCH_RULES and the files given."""
    current = state(ctx)
    paths = [*current.settings().watch_rules, *(rules or [])]
    if not shipped and not paths:
        raise UsageError("Give at least one rule file with --no-shipped.")
    detector = watch.Detector(rules_from(paths, shipped=shipped), id_field="seq", time_field="time")
    imported = SourceDetectors(detector.rules)  # other systems' logs, each apart
    profiles, imported_profiles = Profiles(), Profiles()  # each kept apart
    coffre = current.coffre()
    with coffre.reader() as uow:
        behind = journal.size(uow) - follow.position(uow, READER)
        open_before = len(watch.list_alerts(uow, state=watch.AlertState.OPEN))
    read = from_imports = 0
    try:
        with progress() as bar:
            task = bar.add_task("Following the journal", total=max(behind, 0))
            while True:
                done = worker.run_once(
                    coffre, detector, name=READER, batch=batch, profiles=profiles
                )
                read += done
                bar.advance(task, done)
                elsewhere = run_imports_once(  # other systems' logs
                    coffre, imported, batch=batch, profiles=imported_profiles
                )
                from_imports += elsewhere
                if done or elsewhere:
                    continue
                if once:
                    break
                time.sleep(poll)
    except KeyboardInterrupt:
        pass
    finally:  # the cursors are free for the next follower at once, not when the lease ends
        for name in (READER, IMPORTS_READER):
            follow.release(coffre.uow(), name, follow.here())
    with coffre.reader() as uow:
        opened = len(watch.list_alerts(uow, state=watch.AlertState.OPEN)) - open_before
    also = f" and {from_imports} imported events" if from_imports else ""
    out.print(f"Read {read} journal entries{also}; {max(opened, 0)} new alerts are open.")


@watch_app.command()
def alerts(
    ctx: typer.Context,
    state_: Annotated[
        watch.AlertState | None, typer.Option("--state", help="Only alerts in this state.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """The alerts, newest first: rule, severity, who (the group), state, entries."""
    coffre = state(ctx).coffre()
    with coffre.reader() as uow:
        found = sorted(
            watch.list_alerts(uow, state=state_), key=lambda a: a.created_at, reverse=True
        )
    if as_json:
        rows = [
            {
                "id": a.id,
                "organisation": a.organisation_id,
                "rule": a.rule_ref,
                "title": a.rule_title,
                "explanation": a.explanation,
                "severity": a.severity,
                "group": a.group_key,
                "state": a.state.value,
                "first": a.first_at.isoformat(),
                "last": a.last_at.isoformat(),
                "entries": list(a.seqs),
                "imported": list(a.positions),  # for a group 'imported:…': imported events
            }
            for a in found
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("id", "rule", "severity", "group", "state", "last", "entries")
    for a in found:
        table.add_row(
            a.id,
            a.rule_title,
            a.severity or "",
            a.group_key,
            a.state.value,
            a.last_at.isoformat(timespec="seconds"),
            str(len(a.seqs) or len(a.positions)),
        )
    out.print(table)


@watch_app.command()
def alert(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(help="The alert's id.")],
    to: Annotated[
        watch.AlertState, typer.Option("--state", help="acknowledged or closed.")
    ] = watch.AlertState.ACKNOWLEDGED,
    note: Annotated[
        str | None,
        typer.Option(
            "--note",
            help=f"What was found or done (at most {watch.NOTE_LIMIT:,} characters; kept "
            "sealed). '-' reads it from standard input, out of the shell's history.",
        ),
    ] = None,
) -> None:
    """Acknowledge or close an alert, as the local operator, with a note (journaled)."""
    if to is watch.AlertState.OPEN:
        raise UsageError("An alert is acknowledged or closed; it is never reopened.")
    if note == "-":
        note = sys.stdin.read()
    coffre = state(ctx).coffre()
    with coffre.reader() as uow:
        organisation = watch.get_alert(uow, alert_id).organisation_id
    changed = watch.change_alert(
        coffre.uow(), local_operator(organisation), alert_id, to, note, box=coffre.secrets()
    )
    out.print(f"Alert {changed.id} is {changed.state.value}.")


@watch_app.command()
def notes(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(help="The alert's id.")],
) -> None:
    """The notes written on an alert, oldest first, as the local operator (journaled)."""
    coffre = state(ctx).coffre()
    with coffre.reader() as uow:
        organisation = watch.get_alert(uow, alert_id).organisation_id
    operator = local_operator(organisation)
    found = watch.alert_notes(coffre.uow(), coffre.secrets(), operator, alert_id)
    if not found:
        out.print(f"No note on alert {alert_id}.")
        return
    for written in found:
        out.print(
            f"[bold]{written.written_at.isoformat(timespec='seconds')}[/bold] "
            f"{written.author} ({written.state.value})",
            highlight=False,
        )
        out.print(written.text, markup=False, highlight=False)


@watch_app.command()
def resume(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(help="The alert whose containment to lift.")],
) -> None:
    """Lift the suspension of the account, client or token an alert contained, as the local
    operator (journaled). An ended session stays ended: its holder signs in again."""
    coffre = state(ctx).coffre()
    with coffre.reader() as uow:
        organisation = watch.get_alert(uow, alert_id).organisation_id
    lifted = lift(coffre, local_operator(organisation), alert_id)
    if not lifted:
        out.print(f"Nothing behind alert {alert_id} is suspended any more.")
        return
    out.print(f"Resumed: {', '.join(lifted)}. The alert stays as it is; close it when done.")


# `coffre watch import` and `coffre watch test`: other systems' logs (cli/watch_files.py).
from coffre.cli.watch_files import register  # noqa: E402 (after watch_app is complete)

register(watch_app)
