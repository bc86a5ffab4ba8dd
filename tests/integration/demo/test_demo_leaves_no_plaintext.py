"""The demo database, its WAL and a copy of it hold no patient's name or identifier."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from coffre.bootstrap import initialise, open_coffre
from coffre.config import Environment
from coffre.demo import people
from coffre.demo.seed import DemoRefused, seed

COUNT = 60


def _needles(person: people.DemoPatient) -> list[str]:
    national_digits = person.phone.removeprefix("+33").removeprefix("+32")
    return [
        person.family,
        person.given,
        person.national_id,
        person.email,
        person.phone,
        "0" + national_digits,  # the national spelling of the phone number
        person.address_line,
    ]


@pytest.fixture
def demo(sqlite_settings):  # type: ignore[no-untyped-def]
    settings = sqlite_settings.with_overrides(environment=Environment.DEMO)
    initialise(settings)
    coffre = open_coffre(settings)
    yield coffre, seed(coffre, patients=COUNT)
    coffre.close()


def test_demo_files_hold_no_patient_plaintext(demo, tmp_path):
    coffre, summary = demo
    home = coffre.settings.home
    database = home / "coffre.db"
    wal = home / "coffre.db-wal"
    # The engine still holds connections, so the WAL has not been folded back yet.
    assert wal.exists() and wal.stat().st_size > 0
    copy = tmp_path / "copy.db"
    shutil.copy(database, copy)
    backup = tmp_path / "backup.db"
    with sqlite3.connect(database) as source, sqlite3.connect(backup) as target:
        source.backup(target)
    blobs = {path.name: path.read_bytes() for path in (database, wal, copy, backup)}
    blobs["keystore"] = (home / "keys" / "keystore.db").read_bytes()
    assert summary.patients == COUNT
    for person in people.patients(COUNT):
        for needle in _needles(person):
            for name, blob in blobs.items():
                for encoded in {needle.encode(), needle.lower().encode(), needle.upper().encode()}:
                    assert encoded not in blob, f"{needle!r} found in {name}"
    credentials = json.loads(summary.credentials_file.read_text())
    assert summary.credentials_file.stat().st_mode & 0o777 == 0o600
    assert {c["role"] for c in credentials} >= {
        "practitioner",
        "patient",
        "data-protection-officer",
    }
    assert all(c["totp_secret"] for c in credentials if c["role"] == "practitioner")
    patient_ids = [c["patient_id"] for c in credentials if c["role"] == "patient"]
    assert len(patient_ids) == 5 and all(patient_ids)
    for c in credentials:
        if c["totp_secret"]:
            assert c["totp_secret"].encode() not in blobs["coffre.db"] + blobs["coffre.db-wal"]
        assert c["password"].encode() not in blobs["coffre.db"] + blobs["coffre.db-wal"]
    assert database.stat().st_mode & 0o777 == 0o600


def test_demo_is_refused_twice_and_outside_demo_mode(demo, sqlite_settings):
    coffre, _ = demo
    with pytest.raises(DemoRefused, match="already holds data"):
        seed(coffre, patients=1)
    other = sqlite_settings.with_overrides(environment=Environment.DEVELOPMENT)
    coffre.settings = other
    with pytest.raises(DemoRefused, match="only in demo mode"):
        seed(coffre, patients=1)
