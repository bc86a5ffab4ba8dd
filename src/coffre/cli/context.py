"""What every command shares: the settings, the opened installation, the console."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from coffre.bootstrap import Coffre, open_coffre
from coffre.config import Settings, load_settings
from coffre.errors import CoffreError

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)
if not out.is_terminal:
    out.width = 200  # piped to a file or a program: do not squash tables to 80 columns


@dataclass
class State:
    home: Path | None
    no_checkpoint_on_close: bool = False
    _settings: Settings | None = None
    _coffre: Coffre | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.home)
        return self._settings

    def serve_on(self, port: int) -> Settings:
        """Settings for a server on `port` (`Settings.serving_on`), before Coffre opens."""
        assert self._coffre is None, "the port is chosen before Coffre opens"
        self._settings = self.settings().serving_on(port)
        return self._settings

    def coffre(self) -> Coffre:
        if self._coffre is None:
            self._coffre = open_coffre(self.settings())
        return self._coffre

    def close(self) -> None:
        if self._coffre is None:
            return
        try:
            # Whatever a command appended to the journal is covered by a signed checkpoint,
            # kept outside the database, before the command returns.
            if not self.no_checkpoint_on_close:
                self._coffre.index_journal()
                self._coffre.checkpoint_if_due(grown=True)
        except CoffreError as exc:
            err.print(f"Warning: no checkpoint was published: {exc.message}")
        finally:
            self._coffre.close()
            self._coffre = None


def state(ctx: typer.Context) -> State:
    found = ctx.find_object(State)
    assert found is not None
    return found


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )
