"""Reading other systems' log files line by line into events (`formats` maps each line):
every line that cannot be read is reported by its number, with a one-sentence reason.

JSON lines are parsed with orjson: several times faster than the standard library's parser,
and strict where it is lenient (NaN and Infinity are not JSON), and a line nested too deep
is reported like any other bad line instead of stopping the read. orjson reads an integer
beyond 64 bits as a float, which would change an id given as a number: a line with nineteen
digits in a row is read by the json module, which keeps it exact."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from coffre.watch.formats import (
    BadLine,
    Format,
    FormatError,
    Parsed,
    Pseudonyms,
    auditevent_fields,
    event_of,
    mapped,
)

_LONG_DIGITS = re.compile("[0-9]{19}")


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _json(text: str) -> Any:
    """The line's JSON value; raise ValueError (or RecursionError) if it has none."""
    if _LONG_DIGITS.search(text) is None:
        return orjson.loads(text)
    value = json.loads(text, parse_constant=_refuse)
    json.dumps(value, ensure_ascii=False).encode()  # a lone surrogate is not text, as in orjson
    return value


def _decoded(lines: Iterable[bytes], problems: list[tuple[int, str]]) -> Iterator[str]:
    for number, line in enumerate(lines, 1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            problems.append((number, "it is not UTF-8 text"))
            text = "\n"
        yield text.removeprefix("\ufeff") if number == 1 else text


def parse(
    lines: Iterable[bytes],
    fmt: Format,
    pseudonyms: Pseudonyms,
    mapping: Mapping[str, str] | None = None,
    on_line: Callable[[int], None] | None = None,
) -> Parsed:
    """The events of a file's lines (bytes, with their line ends), each with its line
    number, and every line that cannot be read with the reason; raise FormatError when
    none can be (a CSV file without the columns the mapping names)."""
    fmt, mapping = Format(fmt), dict(mapping or {})
    parsed = Parsed()
    texts = _decoded(lines, parsed.problems)
    if fmt is Format.CSV:
        _parse_csv(texts, pseudonyms, mapping, parsed, on_line)
    else:
        for number, text in enumerate(texts, 1):
            if on_line is not None:
                on_line(1)
            if not text.strip():
                continue
            try:
                source = _json(text)
            except (ValueError, RecursionError):
                parsed.problems.append((number, "it is not valid JSON"))
                continue
            try:
                if fmt is Format.AUDITEVENT:
                    raw = auditevent_fields(source)
                elif isinstance(source, dict):
                    raw = mapped(source, mapping)
                else:
                    raise BadLine("it is not a JSON object")
                parsed.events.append((number, event_of(raw, pseudonyms)))
            except BadLine as bad:
                parsed.problems.append((number, str(bad)))
    parsed.problems.sort()
    return parsed


def _parse_csv(
    texts: Iterator[str],
    pseudonyms: Pseudonyms,
    mapping: dict[str, str],
    parsed: Parsed,
    on_line: Callable[[int], None] | None,
) -> None:
    reader = csv.reader(texts)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        return
    except csv.Error:
        raise FormatError("The CSV file's first line is not a header of column names.") from None
    missing = [path for path in mapping if path not in header]
    if missing:
        raise FormatError(f"The column {missing[0][:60]!r} named in --map is not in the header.")
    done = reader.line_num
    if on_line is not None:
        on_line(done)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error:
            parsed.problems.append((start, "it is not a well-formed CSV row"))
            continue
        finally:
            if on_line is not None:
                on_line(reader.line_num - done)
            done = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            parsed.problems.append((start, f"it has {len(row)} cells, not {len(header)}"))
            continue
        try:
            raw = mapped(dict(zip(header, row, strict=True)), mapping)
            parsed.events.append((start, event_of(raw, pseudonyms, split=True)))
        except BadLine as bad:
            parsed.problems.append((start, str(bad)))


def parse_file(
    path: Path,
    fmt: Format,
    pseudonyms: Pseudonyms,
    mapping: Mapping[str, str] | None = None,
    on_line: Callable[[int], None] | None = None,
) -> Parsed:
    """`parse` over the lines of a file; raise FormatError if it cannot be read."""
    try:
        with path.open("rb") as handle:
            return parse(handle, fmt, pseudonyms, mapping, on_line)
    except OSError:
        raise FormatError(f"The file {path} cannot be read.") from None


def count_lines(path: Path) -> int:
    """How many lines the file has (for a progress bar); raise FormatError."""
    try:
        with path.open("rb") as handle:
            return sum(1 for _ in handle)
    except OSError:
        raise FormatError(f"The file {path} cannot be read.") from None
