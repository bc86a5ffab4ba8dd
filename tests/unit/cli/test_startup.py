"""What a command loads before it runs: the libraries only some commands need (pySigma for
rules, py_webauthn for passkeys, Alembic for migrations, the FHIR models for validation,
zxcvbn for new passwords, PyJWT for clients' keys and assertions, phonenumbers for phone
numbers) are imported where they are used, so that every other command starts without
them."""

from __future__ import annotations

import subprocess
import sys

import pytest

LOADED_ON_USE = ("sigma", "webauthn", "alembic", "fhir", "zxcvbn", "jwt", "phonenumbers")

_PROBE = """
import sys
import coffre.cli.app
{first}
print(",".join(sorted(name for name in {names!r} if name in sys.modules)))
"""


def loaded(first: str = "") -> list[str]:
    """Which of LOADED_ON_USE a fresh interpreter holds once it has imported the command
    line and run `first` (a line of Python)."""
    code = _PROBE.format(first=first, names=LOADED_ON_USE)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return [name for name in done.stdout.strip().split(",") if name]


def test_the_command_line_starts_without_the_libraries_of_some_commands():
    assert loaded() == []


@pytest.mark.parametrize(
    ("first", "library"),
    [
        ("from coffre.watch import load_rules", "sigma"),
        ("from coffre.watch import SUPPORTED_MODIFIERS", "sigma"),
        ("import coffre.identity.passkeys as p; p._malformed()", "webauthn"),
        ("import coffre.store; coffre.store.script_head()", "alembic"),
        ("from coffre.records.fhir import fhir_model; fhir_model('Patient')", "fhir"),
        ("from coffre.identity.passwords import _common; _common()", "zxcvbn"),
        ("from coffre.identity.clients import claimed_client; claimed_client('x')", "jwt"),
        (
            "from coffre.crypto.blind import normalise_phone as n; n('+33612345678', ())",
            "phonenumbers",
        ),
    ],
)
def test_each_library_is_imported_where_it_is_used(first, library):
    """The check above can fail: a library that a function imports is seen."""
    assert library in loaded(first)
