"""Each entry's patient links against its canonical bytes, a chunk of entries at a time (see
coffre.journal.spans; standard library only, like it).

The check spells out in canonical form the patients member that an entry's links say its
bytes hold. A chunk's entries that agree are found in one comprehension; those that do not
are looked at one by one to say what is wrong.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Iterator
from operator import itemgetter
from typing import Any, Protocol

# The C-accelerated string encoder of the canonical bytes (see entries.encode).
_string = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]
_seq_of = itemgetter(0)
_patient_of = itemgetter(1)


class Problems(Protocol):
    """Where problems go: a span's result or a verification report."""

    def add(self, seq: int | None, what: str) -> None: ...


def projection_patients(patient_ids: list[str] | tuple[str, ...]) -> bytes:
    """The patients member as it stands in the canonical bytes (ids sorted, no repeats)."""
    return ('"patients":[' + ",".join(map(_string, patient_ids)) + "],").encode("ascii")


_NO_PATIENTS = projection_patients(())
_ONE = '"patients":[{}],'  # with one encoded id


class LinkPatterns:
    """The patient links of a span, read in (seq, patient) order, taken a chunk at a time as
    the patients member each entry's bytes must hold."""

    def __init__(self, chunks: Iterator[list[Any]]) -> None:
        self.chunks = chunks
        self.buffer: list[Any] = []
        self.at = 0

    def below(self, end: int) -> dict[int, bytes]:
        """The patients member (projection_patients) that the links of each entry numbered
        below `end` call for, by entry."""
        taken: list[Any] = []
        while True:
            cut = bisect_left(self.buffer, end, lo=self.at, key=_seq_of)
            taken.extend(self.buffer[self.at : cut])
            self.at = cut
            if cut < len(self.buffer):
                break
            self.buffer, self.at = next(self.chunks, []), 0
            if not self.buffer:
                break
        try:  # one patient an entry, the usual case: built without a Python call each
            patients = map(_string, map(_patient_of, taken))
            patterns = dict(
                zip(map(_seq_of, taken), map(str.encode, map(_ONE.format, patients)), strict=True)
            )
        except TypeError:  # a patient id rewritten with another type
            patterns = {seq: projection_patients((str(patient),)) for seq, patient in taken}
        if len(patterns) < len(taken):  # some entries name several patients
            grouped: dict[int, list[str]] = {}
            for seq, patient in taken:
                grouped.setdefault(seq, []).append(str(patient))
            patterns.update(
                (seq, projection_patients(ids)) for seq, ids in grouped.items() if len(ids) > 1
            )
        return patterns

    def first(self) -> int | None:
        """The number of the next link not yet taken, if any."""
        if self.at == len(self.buffer):
            self.buffer, self.at = next(self.chunks, []), 0
        return int(self.buffer[self.at][0]) if self.buffer else None


def check_rows(
    problems: Problems, chunk: list[Any], patterns: dict[int, bytes], indexed: int, first: int
) -> None:
    """Every entry's patient links against its canonical bytes (the chunk's rows are (seq,
    bytes)): in one comprehension for the entries that agree, one by one for those that do
    not."""
    for seq in patterns:
        if seq >= first:
            break
        problems.add(int(seq), "a patient link points at no entry")
    pattern = patterns.get
    suspects = [
        seq
        for seq, data in chunk
        if not (pattern(seq, _NO_PATIENTS) in data if seq < indexed else seq not in patterns)
    ]
    for seq in suspects:
        if seq >= indexed:
            problems.add(seq, f"entry {seq}: patient links exist beyond the indexed part")
        else:
            problems.add(seq, f"entry {seq}: its patient links and its canonical bytes differ")
