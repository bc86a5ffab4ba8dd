"""Sealing and opening a patient's values: the only place records meets crypto.sealed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from coffre.access import Durations
from coffre.crypto import BlindIndex, DataKey, Keyring
from coffre.crypto.sealed import Sealer, field_aad
from coffre.records.guard import Guard, GuardLimits


@dataclass(frozen=True)
class VaultSettings:
    document_max_bytes: int
    document_chunk_bytes: int
    phone_regions: tuple[str, ...]
    durations: Durations = field(default_factory=Durations)
    guard: GuardLimits = field(default_factory=GuardLimits)


class Vault:
    """What records services need to seal, open and index patient data."""

    def __init__(self, keyring: Keyring, blind: BlindIndex, settings: VaultSettings) -> None:
        self.keyring = keyring
        self.blind = blind
        self.settings = settings
        # The distinct patients each actor opened lately (the inline guard, records/guard.py).
        self.guard = Guard(settings.guard)

    def box(self, organisation_id: str, patient_id: str, key_version: int = 1) -> PatientBox:
        """A sealer bound to one patient's data key; raises KeyDestroyed after erasure."""
        return PatientBox(self.keyring.data_key(patient_id, key_version), organisation_id)

    def new_boxes(self, organisation_id: str, patient_ids: list[str]) -> list[PatientBox]:
        return [PatientBox(k, organisation_id) for k in self.keyring.new_data_keys(patient_ids)]


# Nineteen digits in a row may be an integer beyond 64 bits, which orjson would read as a
# float: such a text is read by the json module, losing nothing.
_LONG_DIGITS = re.compile(rb"[0-9]{19}")


def _loads(data: bytes) -> Any:
    """What seal_json wrote, read as the json module reads it: by orjson, several times
    faster on every read of a patient, unless it may hold a large integer or holds what
    orjson refuses and json.dumps may write (Infinity, NaN)."""
    if _LONG_DIGITS.search(data) is None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


class PatientBox:
    """Seals and opens one patient's fields, each bound to its table, column and row."""

    __slots__ = ("_sealer", "key_version", "organisation_id", "patient_id")

    def __init__(self, key: DataKey, organisation_id: str) -> None:
        self.patient_id = key.subject_id
        self.key_version = key.version
        self.organisation_id = organisation_id
        self._sealer = Sealer(key.material)

    def _aad(self, table: str, column: str, row_id: str) -> bytes:
        return field_aad(self.organisation_id, table, column, row_id, self.key_version)

    def seal_json(self, table: str, column: str, row_id: str, value: Any) -> bytes:
        data = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        return self._sealer.seal(data, self._aad(table, column, row_id))

    def open_json(self, table: str, column: str, row_id: str, sealed: bytes) -> Any:
        return _loads(self._sealer.open(sealed, self._aad(table, column, row_id)))

    def seal_stream(self, table: str, row_id: str, chunks: Iterable[bytes]) -> Iterator[bytes]:
        return self._sealer.seal_stream(chunks, self._aad(table, "data", row_id))

    def open_stream(self, table: str, row_id: str, sealed: Iterable[bytes]) -> Iterator[bytes]:
        return self._sealer.open_stream(sealed, self._aad(table, "data", row_id))
