"""`coffre keys …`: key administration."""

from __future__ import annotations

import typer

from coffre import records
from coffre.cli.context import out, progress, state
from coffre.identity import local_operator

keys_app = typer.Typer(help="Administer keys.", no_args_is_help=True)


@keys_app.command()
def rotate(ctx: typer.Context) -> None:
    """Re-wrap every data key under a new key-encryption key; data is not touched.

    If interrupted, run it again: it resumes with the same new key."""
    coffre = state(ctx).coffre()
    with progress() as bar:
        task = bar.add_task("Re-wrapping data keys", total=None)
        report = records.rotate_keys(
            coffre.uow(),
            coffre.vault,
            local_operator(),
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    verb = "Resumed and finished" if report.resumed else "Finished"
    keys = f"{report.rewrapped:,} data key{'' if report.rewrapped == 1 else 's'}"
    out.print(f"{verb} the rotation: {keys} re-wrapped under {report.kek_id}.")
