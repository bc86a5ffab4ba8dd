"""The schema's migrations (Alembic scripts in coffre/migrations), and where a database
stands.

Alembic is imported only to list or run migrations: it takes a fifth of a second, which
every command would pay to open an installation. Opening one compares the database's
revision, read with one query, with HEAD_REVISION.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

import coffre
from coffre.store.engine import StoreError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(coffre.__file__).parent / "migrations"

# The newest migration's revision (a test checks it against the scripts).
HEAD_REVISION = "0019"

_VERSIONS = sa.table("alembic_version", sa.column("version_num", sa.String))


def _config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

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
    from alembic import command

    config = _config(engine)
    config.attributes["applied"] = applied
    command.upgrade(config, revision)


def pending_migrations(engine: Engine) -> list[Migration]:
    """The migrations `upgrade` would run to reach the newest revision, in their order."""
    current = current_revision(engine)
    script = _scripts()
    if current is not None and not _known(script, current):
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
    from alembic import command

    command.downgrade(_config(engine), revision)


def head_revision() -> str:
    """The newest revision, which an installation must be at to be opened."""
    return HEAD_REVISION


def _scripts() -> ScriptDirectory:
    """The migration scripts, read from coffre/migrations."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def script_head() -> str | None:
    """The newest revision as the migration scripts tell it (HEAD_REVISION must be it)."""
    return _scripts().get_current_head()


def known_revision(revision: str) -> bool:
    """Whether `revision` is one of this version's migrations."""
    return _known(_scripts(), revision)


def _known(script: ScriptDirectory, revision: str) -> bool:
    from alembic.script.revision import ResolutionError
    from alembic.util import CommandError

    try:
        return script.get_revision(revision) is not None
    except (ResolutionError, CommandError):
        return False


def current_revision(engine: Engine) -> str | None:
    """The database's revision, or None when it has no schema yet."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(_VERSIONS.name):
            return None
        found = conn.execute(sa.select(_VERSIONS.c.version_num)).scalars().all()
    if len(found) > 1:
        raise StoreError(f"The database's schema has {len(found)} revisions at once.")
    return found[0] if found else None
