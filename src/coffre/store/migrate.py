from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from alembic.util import CommandError
from sqlalchemy.engine import Engine

import coffre
from coffre.store.engine import StoreError

MIGRATIONS = Path(coffre.__file__).parent / "migrations"


def _config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


@dataclass(frozen=True)
class Migration:
    """One revision of the schema: its id and what it does (its docstring's first
    sentence, shortened)."""

    revision: str
    title: str


def upgrade(
    engine: Engine, revision: str = "head", *, applied: Callable[[str], None] | None = None
) -> None:
    """Bring the schema to `revision` (default: the newest); `applied` is told the id of
    each migration once it has run (they all commit together, at the end)."""
    config = _config(engine)
    config.attributes["applied"] = applied
    command.upgrade(config, revision)


def pending_migrations(engine: Engine) -> list[Migration]:
    """The migrations `upgrade` would run to reach the newest revision, in their order."""
    script = ScriptDirectory.from_config(_config())
    current = current_revision(engine)
    if current is not None and not known_revision(current):
        raise StoreError(
            f"The database schema is at revision {current}, which this version of Coffre "
            "does not know; run the version that migrated it."
        )
    newest_first = script.iterate_revisions("head", current or "base")
    return [
        Migration(step.revision, _title(step.doc or step.revision))
        for step in reversed(list(newest_first))
    ]


_TITLE_CHARS = 72


def _title(doc: str) -> str:
    """A migration's docstring's first sentence, on one line, at most _TITLE_CHARS long."""
    sentence = " ".join(doc.strip().split("\n\n")[0].split()).split(". ")[0].rstrip(".")
    if len(sentence) <= _TITLE_CHARS:
        return sentence
    return sentence[: _TITLE_CHARS - 1].rsplit(" ", 1)[0] + "…"


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to `revision`, undoing the migrations after it."""
    command.downgrade(_config(engine), revision)


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def known_revision(revision: str) -> bool:
    """Whether `revision` is one of this version's migrations."""
    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except (ResolutionError, CommandError):
        return False


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
