"""`coffre watch import` and `coffre watch test`: other systems' audit logs, imported for
the watch or tried against rules (docs/watch.md, "Other systems' logs")."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from coffre import identity, watch
from coffre.cli.context import err, out, progress, state
from coffre.cli.patients import UsageError
from coffre.identity import local_operator
from coffre.watch.catalogue import rules_from
from coffre.watch.formats import Format, FormatError, Pseudonyms, parse_mapping
from coffre.watch.imports import BadLines, import_file
from coffre.watch.logfiles import count_lines, parse_file
from coffre.watch.profiles import Profiles, imported_scope

SHOWN = 20  # bad lines printed; the count says how many more
_END = datetime(9999, 1, 1, tzinfo=UTC)  # the end of a file: every window is over

FormatOption = Annotated[
    Format | None,
    typer.Option(
        "--format",
        help="auditevent (FHIR AuditEvent NDJSON), csv or jsonl; "
        "by default .csv is csv, .ndjson auditevent, anything else jsonl.",
    ),
]
MapOption = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        help="field=journal_field: read the journal field from this column or key "
        "(a dotted path for nested JSON); repeat for each field.",
    ),
]


def _reading(
    path: Path, wanted: Format | None, maps: list[str] | None
) -> tuple[Format, dict[str, str]]:
    """The file's format (given, or by its suffix) and the mapping asked for."""
    suffix = path.suffix.lower()
    fmt = wanted or {".csv": Format.CSV, ".ndjson": Format.AUDITEVENT}.get(suffix, Format.JSONL)
    mapping = parse_mapping(maps or [])
    if fmt is Format.AUDITEVENT and mapping:
        raise UsageError("--map is for csv and jsonl files; an AuditEvent is mapped as it is.")
    return fmt, mapping


def _report(bad: BadLines) -> None:
    for number, reason in bad.problems[:SHOWN]:
        err.print(f"  line {number}: {reason}.")
    if len(bad.problems) > SHOWN:
        err.print(f"  … and {len(bad.problems) - SHOWN} more.")


def import_events(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The log file to import.")],
    fmt: FormatOption = None,
    maps: MapOption = None,
    source: Annotated[
        str | None, typer.Option(help="The system the log comes from (default: the file's name).")
    ] = None,
    organisation: Annotated[
        str | None,
        typer.Option(help="Organisation id whose security officer hears of the alerts."),
    ] = None,
) -> None:
    """Import another system's audit log for the watch: all of it, or nothing if a line
    cannot be read (journaled). Patient ids are stored as keyed hashes only."""
    fmt, mapping = _reading(file, fmt, maps)
    total = count_lines(file)
    coffre = state(ctx).coffre()
    if organisation:
        with coffre.reader() as uow:
            organisation = identity.get_organisation(uow, organisation).id
    try:
        with progress() as bar:
            reading = bar.add_task("Reading", total=total)
            storing: list[Any] = []

            def stored(count: int) -> None:
                if not storing:
                    storing.append(bar.add_task("Storing", total=None))
                bar.advance(storing[0], count)

            done = import_file(
                coffre,
                local_operator(organisation),
                file,
                fmt,
                source=source,
                mapping=mapping,
                organisation_id=organisation,
                on_line=lambda count: bar.advance(reading, count),
                on_stored=stored,
            )
    except BadLines as bad:
        _report(bad)
        raise
    out.print(
        f"Imported {done.lines:,} event{'' if done.lines == 1 else 's'} from {done.file_name} "
        f"(source {done.source!r}); 'coffre watch run' evaluates them."
    )


def try_rules(
    rules: Annotated[list[Path], typer.Argument(help="Sigma rule files (YAML).")],
    events: Annotated[Path, typer.Option("--events", help="The log file to try them on.")],
    fmt: FormatOption = None,
    maps: MapOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Try rules on a log file, without an installation: print what fires, and the line
    numbers of the events that made it fire. Each actor's profile (baseline, usual hours,
    last seen) is learnt from the file's earlier events. Nothing is stored or journaled."""
    ruleset = rules_from(rules, shipped=False)
    fmt, mapping = _reading(events, fmt, maps)
    # Nothing is kept: patient ids are hashed under a key thrown away at the end.
    parsed = parse_file(events, fmt, Pseudonyms.throwaway(), mapping)
    if parsed.problems:
        bad = BadLines(parsed.problems, events.name)
        _report(bad)
        raise FormatError(f"{len(bad.problems)} lines of {events.name} cannot be read.")
    by_line: dict[int, dict[str, Any]] = {}
    for number, event in parsed.events:
        event["seq"] = number
        by_line[number] = event
    detector = watch.Detector(ruleset, id_field="seq", time_field="time")
    # Each actor's profile is learnt from the file's own earlier events, in memory, as the
    # watch learns an imported log's: baseline, unusual-hours and dormant rules can be tried.
    profiles, scope = Profiles(), imported_scope(None, events.name)
    firings = []
    for event in sorted(by_line.values(), key=lambda e: e["time"]):
        profiles.observe(event, scope)
        firings += detector.observe(event)
    firings += detector.advance(_END)
    rows = [_row(firing, by_line) for firing in firings]
    if as_json:
        typer.echo(json.dumps({"events": len(by_line), "firings": rows}, indent=2))
        return
    for row in rows:
        group = ", ".join(f"{k}={v}" for k, v in row["group"].items()) or "-"
        lines = ", ".join(map(str, row["lines"]))
        response = f"; response {row['response']}" if row["response"] else ""
        plural = "s" if len(row["lines"]) > 1 else ""
        out.print(f"{row['title']} ({group}): line{plural} {lines}{response}")
    out.print(f"{len(rows)} firing{'' if len(rows) == 1 else 's'} over {len(by_line):,} events.")


def _row(firing: watch.Firing, by_line: dict[int, dict[str, Any]]) -> dict[str, Any]:
    group = firing.grouped_by
    if not group:  # a detection rule: its event's actor, as its alert would be grouped
        group = {"actor_id": by_line[firing.event_ids[0]].get("actor_id")}
    return {
        "rule": firing.rule.ref,
        "title": firing.rule.title,
        "level": firing.rule.level,
        "group": {k: None if v is None else str(v) for k, v in group.items()},
        "lines": sorted(int(i) for i in firing.event_ids),
        "response": firing.response.value if firing.response is not None else None,
    }


def register(app: typer.Typer) -> None:
    """Add `import` and `test` to the `coffre watch` group."""
    app.command("import")(import_events)
    app.command("test")(try_rules)
