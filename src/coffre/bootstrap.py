"""Builds the engine, key ring, vault and units of work once, from settings.

Interfaces call `open_coffre(settings)` and hand `coffre.uow()` and `coffre.vault` to the
domain services; nothing is built when a module is imported.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from coffre import crypto, journal, records, signin, store
from coffre.access import Durations, RelationshipKind
from coffre.config import ConfigError, Settings, write_config
from coffre.crypto import (
    BLIND_INDEX_KEY,
    JOURNAL_SIGNING_KEY,
    SYSTEM_SECRETS_KEY,
    BlindIndex,
    Keyring,
    KeyStore,
    SecretBox,
)
from coffre.errors import CoffreError
from coffre.store import StoreError, UnitOfWork
from coffre.store import WouldWait as WouldWait  # raised by at_once, for the API


class AlreadyInitialised(CoffreError):
    """The home directory already holds a Coffre installation."""


@dataclass
class Coffre:
    settings: Settings
    engine: Engine
    keyring: Keyring
    vault: records.Vault
    signer: journal.Signer
    publisher: journal.Publisher

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine)

    def signin(self) -> signin.Context:
        """What signing in needs: the system-secrets box, the failure counters' key, the
        session timeouts and the failure limits as set."""
        settings = self.settings
        policy = signin.Policy(
            idle=timedelta(minutes=settings.session_idle_minutes),
            idle_patient=timedelta(minutes=settings.session_idle_minutes_patient),
            absolute=timedelta(hours=settings.session_hours),
            limits=signin.Limits(
                free=settings.signin_free_failures,
                longest=timedelta(minutes=settings.signin_longest_lock_minutes),
                source_failures=settings.signin_source_failures,
                source_lock=timedelta(minutes=settings.signin_source_lock_minutes),
            ),
        )
        return signin.Context.from_secret(self.keyring.system_key(SYSTEM_SECRETS_KEY), policy)

    def secrets(self) -> SecretBox:
        """The box that seals system secrets and officers' notes (not patient data)."""
        return SecretBox(self.keyring.system_key(SYSTEM_SECRETS_KEY))

    def sign_up_keys(self) -> records.SignUpKeys:
        """What a patient's sign-up needs: the system-secrets box and the failure limits."""
        ctx = self.signin()
        return records.SignUpKeys(ctx.box, ctx.throttle_key, ctx.policy.limits)

    def relying_party(self) -> signin.RelyingParty:
        """Who browsers talk to, for passkeys."""
        return signin.RelyingParty(self.settings.webauthn_rp_id, self.settings.public_origin)

    def reader(self) -> UnitOfWork:
        """A unit of work for reading only: it never holds up writers."""
        return self.uow().reading()

    @property
    def one_writer(self) -> bool:
        """Whether the database takes one writing transaction at a time (SQLite)."""
        return self.engine.dialect.name == "sqlite"

    def at_once(self) -> AbstractContextManager[None]:
        """Within: the first unit of work that would have to wait for the database's write
        turn raises WouldWait instead, having done nothing (see `store.at_once`)."""
        return store.at_once()

    def flush_wal_apart(self) -> AbstractContextManager[bool]:
        """Within: the database's write-ahead log is flushed by `flush_wal`, not by the
        commits (see `store.flush_wal_apart`); yields whether there is a log (SQLite)."""
        return store.flush_wal_apart(self.engine)

    def flush_wal(self) -> None:
        """Copy the database's write-ahead log into its file, holding up nobody (SQLite)."""
        store.flush_wal(self.engine)

    def checkpoint(self) -> journal.Checkpoint:
        """Sign, store and publish a checkpoint of the journal as it is now (its stored
        hashes brought up to date first, so that the tree is read, not recomputed)."""
        self.index_journal()
        return journal.make_checkpoint(self.uow(), self.signer, self.publisher)

    def index_journal(self, *, at_most: int | None = None) -> int:
        """Bring the journal's patient links and stored hashes up to date; return how many
        entries were linked. With `at_most`, raise WouldWait instead, having written
        nothing, when they are further behind than that."""
        with self.reader() as uow:
            behind = journal.behind(uow)
        if not behind:
            return 0  # nothing to do: no write lock taken
        if at_most is not None and behind > at_most:
            raise WouldWait(f"The journal is {behind} entries behind.")
        with self.uow() as uow:
            done = journal.catch_up(uow)
            uow.commit()
        return done

    def checkpoint_if_due(
        self, *, grown: bool = False, publish: bool = True
    ) -> journal.Checkpoint | None:
        """A checkpoint when the configured entries or seconds have passed since the last
        one (with `grown`: whenever the journal grew at all); None when none was due.
        Without `publish` it is signed and stored, and the caller publishes it (`publish`)."""
        return journal.checkpoint_if_due(
            self.uow(),
            self.signer,
            self.publisher if publish else None,
            every_entries=1 if grown else self.settings.checkpoint_every_entries,
            every_seconds=self.settings.checkpoint_every_seconds,
            now=datetime.now(UTC),
        )

    def publish(self, checkpoint: journal.Checkpoint) -> None:
        """Publish a stored checkpoint outside the database (the folder, the command)."""
        self.publisher.publish(checkpoint)

    def close(self) -> None:
        self.keyring.provider.close()
        self.keyring.store.dispose()
        self.engine.dispose()


def _vault(settings: Settings, keyring: Keyring) -> records.Vault:
    return records.Vault(
        keyring,
        BlindIndex(keyring.system_key(BLIND_INDEX_KEY)),
        records.VaultSettings(
            document_max_bytes=settings.document_max_bytes,
            document_chunk_bytes=settings.document_chunk_bytes,
            phone_regions=settings.phone_regions,
            durations=durations(settings),
            guard=records.GuardLimits(
                people=settings.guard_patients,
                clients=settings.guard_client_patients,
                window=timedelta(seconds=settings.guard_window_seconds),
            ),
        ),
    )


def durations(settings: Settings) -> Durations:
    """The care relationships' durations and the emergency access's longest, as set."""
    by_kind = {}
    for name, days in settings.relationship_days:
        try:
            by_kind[RelationshipKind(name)] = timedelta(days=days)
        except ValueError:
            kinds = ", ".join(k.value for k in RelationshipKind)
            raise ConfigError(
                f"Unknown care relationship kind {name!r} in COFFRE_RELATIONSHIP_DAYS; use {kinds}."
            ) from None
    return Durations(by_kind, timedelta(hours=settings.break_glass_hours))


def signer(settings: Settings, keyring: Keyring) -> journal.Signer:
    """The journal's checkpoint signer, from its system key."""
    return journal.Signer(keyring.system_key(JOURNAL_SIGNING_KEY), settings.journal_origin or None)


def _migrate(engine: Engine, applied: Callable[[str], None] | None = None) -> None:
    try:
        store.upgrade(engine, applied=applied)
    except OperationalError:
        raise StoreError("The database cannot be reached or written.") from None


def initialise(settings: Settings) -> Path:
    """Create the home directory, the first KEK, the key store, the system keys and the
    schema; return the home path. Raises AlreadyInitialised if a key store already exists."""
    home = settings.home
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(home, 0o700)
    keystore = KeyStore(settings.keystore_url)
    try:
        keystore.check()
    except crypto.KeyStoreError:
        pass
    else:
        raise AlreadyInitialised(f"{home} is already initialised; nothing was changed.")
    if settings.key_provider == "file" and settings.key_file.exists():
        raise AlreadyInitialised(
            f"The key file {settings.key_file} already exists; nothing was changed."
        )
    provider = crypto.create_provider(settings)
    keystore.create()
    keyring = Keyring(provider, keystore)
    keyring.ensure_system_keys()
    engine = store.make_engine(settings.database_url)
    try:
        _migrate(engine)
    finally:
        engine.dispose()
        keyring.provider.close()
        keystore.dispose()
    write_config(settings, environment=settings.environment.value)
    return home


def pending_migrations(settings: Settings) -> list[store.Migration]:
    """The migrations `migrate` would run on the main database, in their order."""
    engine = store.make_engine(settings.database_url)
    try:
        return store.pending_migrations(engine)
    except OperationalError:
        raise StoreError("The database cannot be reached.") from None
    finally:
        engine.dispose()


def migrate(settings: Settings, *, applied: Callable[[str], None] | None = None) -> str:
    """Bring the main database to the newest schema; return the revision. `applied` is
    told the id of each migration as it has run."""
    engine = store.make_engine(settings.database_url)
    try:
        _migrate(engine, applied)
        return store.head_revision()
    finally:
        engine.dispose()


def open_coffre(settings: Settings, *, reconcile: bool = True) -> Coffre:
    """Open an initialised installation. Raises StoreError if the schema is not current,
    crypto errors if the keys cannot be used. With `reconcile`, keys of erased patients that
    a restored key store still holds are destroyed again before anything else happens."""
    engine = store.make_engine(settings.database_url)
    try:
        try:
            revision = store.current_revision(engine)
        except OperationalError:
            raise StoreError("The database cannot be reached.") from None
        if revision is None:
            raise StoreError("The database has no Coffre schema; run 'coffre init' first.")
        if revision != store.head_revision():
            if not store.known_revision(revision):
                raise StoreError(
                    f"The database schema is at revision {revision}, which this version of "
                    "Coffre does not know; run the version that migrated it."
                )
            raise StoreError(
                f"The database schema is at revision {revision}; run 'coffre migrate' first."
            )
        keyring = crypto.open_keyring(settings)
        coffre = Coffre(
            settings,
            engine,
            keyring,
            _vault(settings, keyring),
            signer(settings, keyring),
            journal.Publisher(settings.checkpoint_dir, settings.checkpoint_command or None),
        )
    except BaseException:
        engine.dispose()
        raise
    if reconcile:
        records.reconcile_erasures(coffre.uow(), coffre.vault)
    return coffre
