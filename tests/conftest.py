"""Shared fixtures: a fresh installation per test, on SQLite and on PostgreSQL.

Personas: `operator` (the local operator at the CLI, allowed the vault's operations) and
`stranger` (a signed-in account with no rule allowing anything yet).
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from coffre import identity, journal
from coffre.bootstrap import Coffre, initialise, open_coffre
from coffre.config import Environment, Settings, load_settings
from coffre.identity import Actor, ActorKind, OrganisationKind, local_operator

PG_URL = os.environ.get("COFFRE_TEST_DATABASE_URL", "")
SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
SOFTHSM_LABEL = "coffre-test"
SOFTHSM_PIN = "1234"


def pytest_report_header() -> str:
    if PG_URL:
        return f"PostgreSQL store tests: on {sa.engine.make_url(PG_URL).render_as_string()}"
    return "PostgreSQL store tests: skipped (COFFRE_TEST_DATABASE_URL is not set)"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A brand-new empty database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'home' / 'coffre.db'}"
        return
    yield from _fresh_postgres()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A brand-new empty PostgreSQL database, for what only PostgreSQL does."""
    yield from _fresh_postgres()


@pytest.fixture(scope="module")
def module_postgres_url() -> Iterator[str]:
    """A brand-new empty PostgreSQL database shared by the tests of one module."""
    yield from _fresh_postgres()


def _fresh_postgres() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("PostgreSQL store tests skipped: COFFRE_TEST_DATABASE_URL is not set")
    name = f"coffre_t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def make_settings(home: Path, database_url: str, **env: str) -> Settings:
    return load_settings(home, env={"COFFRE_DATABASE_URL": database_url, **env})


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path / "home", database_url).with_overrides(
        environment=Environment.DEVELOPMENT
    )


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "home", f"sqlite:///{tmp_path / 'home' / 'coffre.db'}")


def _installed(settings: Settings) -> Iterator[Coffre]:
    initialise(settings)
    coffre = open_coffre(settings)
    try:
        yield coffre
    finally:
        coffre.close()


@pytest.fixture
def coffre(settings: Settings) -> Iterator[Coffre]:
    yield from _installed(settings)


@pytest.fixture
def postgres_coffre(tmp_path: Path, postgres_url: str) -> Iterator[Coffre]:
    """An installation on PostgreSQL alone, for what only happens there."""
    settings = make_settings(tmp_path / "home", postgres_url).with_overrides(
        environment=Environment.DEVELOPMENT
    )
    yield from _installed(settings)


@pytest.fixture
def sqlite_coffre(sqlite_settings: Settings) -> Iterator[Coffre]:
    yield from _installed(sqlite_settings)


@pytest.fixture
def organisation(coffre: Coffre) -> str:
    with coffre.uow() as uow:
        org = identity.create_organisation(
            uow, "Clinique du Parc", OrganisationKind.CARE_PROVIDER, "FR"
        )
        uow.commit()
    return org.id


@pytest.fixture
def operator(organisation: str) -> Actor:
    return local_operator(organisation)


@pytest.fixture
def stranger(organisation: str) -> Actor:
    return Actor(
        kind=ActorKind.ACCOUNT,
        id=str(uuid.uuid4()),
        organisation_id=organisation,
        role="practitioner",
        profession="physician",
        source="203.0.113.7",
    )


@pytest.fixture(params=[1, 3], ids=["one-process", "three-processes"])
def verify_spread(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> Iterator[int]:
    """`journal.verify` in one process, or over three (the journal cut into spans of a
    few hundred entries, two of them checked by worker processes, none failing)."""
    workers = int(request.param)
    caplog.set_level(logging.WARNING, logger="coffre.journal.verify")
    if workers > 1:
        module = importlib.import_module("coffre.journal.verify")
        monkeypatch.setattr(module, "SPAN_MIN", 100)
        monkeypatch.setattr(journal, "verify", functools.partial(module.verify, workers=workers))
    yield workers
    assert not [r for r in caplog.get_records("call") if "worker failed" in r.getMessage()]


@pytest.fixture
def softhsm_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A brand-new, empty SoftHSM2 token labelled SOFTHSM_LABEL; yields the library path."""
    import subprocess

    import pkcs11

    if not Path(SOFTHSM).is_file():
        pytest.fail("SoftHSM2 is not installed; run 'make deb-deps'.")
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            SOFTHSM_LABEL,
            "--so-pin",
            "0000",
            "--pin",
            SOFTHSM_PIN,
        ],
        check=True,
        capture_output=True,
    )
    # python-pkcs11 keeps one initialised library per path and SoftHSM2 reads SOFTHSM2_CONF
    # only in C_Initialize: re-initialise so this test sees its own token directory.
    pkcs11.lib(SOFTHSM).reinitialize()
    yield SOFTHSM
    pkcs11.lib(SOFTHSM).reinitialize()  # drop any session a failing test left open
