"""A small HTTP/1.1 load generator, run in its own process by bench/api.py.

Reads its orders as JSON on stdin: host, port, connections, warm-up and measured seconds,
and the raw requests to send (each connection goes through them in turn, starting at its
own offset). Every connection is kept alive and has one request in flight at a time; the
next is written as soon as the answer is read. Only answers completed in the measured
window count, each with its latency. Prints one JSON object on stdout: requests/s,
latencies, status counts and errors, the answers' body sizes and the share of one core this
process used in the window (near 1.0 would mean the generator, not the server, is the
limit).

Usage: python bench/_load.py < orders.json
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections import Counter
from typing import Any, cast

import uvloop

WARMING, MEASURING, STOPPING = 0, 1, 2


class Run:
    """What all connections share: the phase, the latencies and the failures."""

    def __init__(self) -> None:
        self.phase = WARMING
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.ok = 0  # 200 answers in every phase
        self.errors = 0
        self.first_error = ""
        self.body_bytes: set[int] = set()
        self.open = 0
        self.all_closed = asyncio.get_running_loop().create_future()

    def fail(self, what: str) -> None:
        self.errors += 1
        if not self.first_error:
            self.first_error = what

    def closed(self) -> None:
        self.open -= 1
        if self.open == 0 and not self.all_closed.done():
            self.all_closed.set_result(None)


class Connection(asyncio.Protocol):
    """One keep-alive connection sending the requests in turn, one at a time."""

    def __init__(self, run: Run, requests: list[bytes], offset: int) -> None:
        self.run = run
        self.requests = requests
        self.next = offset
        self.buffer = b""
        self.sent_at = 0.0
        self.status = 0
        self.head_end = -1
        self.length = 0
        self.transport: asyncio.Transport | None = None
        self.waiting = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.run.open += 1
        self.send()

    def send(self) -> None:
        assert self.transport is not None
        if self.run.phase == STOPPING:
            self.waiting = False
            self.transport.close()
            return
        request = self.requests[self.next % len(self.requests)]
        self.next += 1
        self.waiting = True
        self.sent_at = time.perf_counter()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.head_end < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.head(self.buffer[:end]):
                return
            self.head_end = end + 4
        if len(self.buffer) < self.head_end + self.length:
            return
        done = time.perf_counter()
        body = self.buffer[self.head_end : self.head_end + self.length]
        self.buffer = self.buffer[self.head_end + self.length :]
        self.head_end = -1
        run = self.run
        if self.buffer:
            self.broken("bytes after the answer to a single request")
            return
        if self.status == 200:
            run.ok += 1
            run.body_bytes.add(len(body))
        else:
            run.fail(f"status {self.status}: {body[:300]!r}")
        if run.phase == MEASURING:
            run.latencies.append(done - self.sent_at)
            run.statuses[self.status] += 1
        self.send()

    def head(self, head: bytes) -> bool:
        lines = head.split(b"\r\n")
        try:
            self.status = int(lines[0].split(b" ", 2)[1])
        except (IndexError, ValueError):
            self.broken(f"not an HTTP status line: {lines[0][:100]!r}")
            return False
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                self.broken(f"unexpected transfer-encoding {value.strip()!r}")
                return False
        if length is None:
            self.broken("an answer without content-length")
            return False
        self.length = length
        return True

    def broken(self, what: str) -> None:
        self.run.fail(what)
        self.waiting = False
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiting:
            self.run.fail(f"connection lost with a request in flight: {exc!r}")
        self.run.closed()


def percentile(ordered: list[float], share: float) -> float:
    """The nearest-rank percentile of sorted values."""
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def load(orders: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    run = Run()
    loop.set_exception_handler(lambda _, context: run.fail(f"in a callback: {context}"))
    requests = [r.encode("latin-1") for r in orders["requests"]]
    connections = int(orders["connections"])
    step = max(1, len(requests) // connections)
    for index in range(connections):
        await loop.create_connection(
            lambda index=index: Connection(run, requests, index * step),
            orders["host"],
            orders["port"],
        )
    await asyncio.sleep(float(orders["warmup"]))
    run.phase = MEASURING
    started, cpu_started = time.perf_counter(), cpu_seconds()
    await asyncio.sleep(float(orders["duration"]))
    run.phase = STOPPING
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    if run.open == 0:
        run.fail("no connection was open at the end")
        run.all_closed.set_result(None)
    try:
        await asyncio.wait_for(asyncio.shield(run.all_closed), timeout=10)
    except TimeoutError:
        run.fail(f"{run.open} connections still open 10 s after the end")
    ordered = sorted(run.latencies)
    return {
        "connections": connections,
        "seconds": seconds,
        "completed": len(ordered),
        "requests_per_s": len(ordered) / seconds,
        "p50_ms": percentile(ordered, 0.50) * 1e3,
        "p99_ms": percentile(ordered, 0.99) * 1e3,
        "max_ms": (ordered[-1] if ordered else float("nan")) * 1e3,
        "statuses": {str(k): v for k, v in sorted(run.statuses.items())},
        "ok": run.ok,
        "errors": run.errors,
        "first_error": run.first_error,
        "body_bytes": sorted(run.body_bytes),
        "cpu_share": cpu / seconds,
    }


def main() -> int:
    orders = json.load(sys.stdin)
    try:
        report = uvloop.run(load(orders))
    except OSError as exc:
        report = {"errors": 1, "first_error": f"could not connect: {exc!r}", "ok": 0}
    json.dump(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
