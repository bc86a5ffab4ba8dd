"""Worker processes that check spans of the journal side by side (see coffre.journal.verify).

A worker is this interpreter running a few lines (`_WORKER`) that make `coffre` and
`coffre.journal` bare packages over their folders and call `spans.serve`: it imports the
standard library, the database driver and the span modules only. It reads its job, a JSON
line, on stdin (the job holds the database's connection string, which must never be on a
command line), and writes JSON lines on stdout: progress, then its result.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, cast

from coffre.journal.spans import SpanResult


def default_workers() -> int:
    """Processes for verifying a large journal: the cores this process may use, at most 8."""
    return max(1, min(8, len(os.sched_getaffinity(0))))


_PYTHON = sys.executable

# The worker's program: `coffre` and `coffre.journal` made bare packages over their folders,
# so that importing spans runs neither package's __init__ (nor their many imports).
_WORKER = """\
import sys, types
for name, folder in (("coffre", sys.argv[1]), ("coffre.journal", sys.argv[2])):
    package = types.ModuleType(name)
    package.__path__ = [folder]
    sys.modules[name] = package
from coffre.journal.spans import serve
serve()
"""


class Workers:
    """Worker processes, one per job: each reads its job on stdin and writes its progress
    and then its result as JSON lines (see spans.serve)."""

    def __init__(self, jobs: list[dict[str, Any]]) -> None:
        self.jobs = jobs
        self.processes: list[subprocess.Popen[bytes]] = []
        self.pending: list[bytes] = [b""] * len(jobs)
        self.results: list[SpanResult | None] = [None] * len(jobs)
        self.told = [0] * len(jobs)  # entries each worker has told it checked
        self.selector = selectors.DefaultSelector()

    def __enter__(self) -> Workers:
        package = Path(__file__).resolve().parent
        for index, job in enumerate(self.jobs):
            try:
                process = subprocess.Popen(  # noqa: S603 (this interpreter, our own program)
                    [_PYTHON, "-I", "-c", _WORKER, str(package.parent), str(package)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    bufsize=0,
                )
            except OSError:  # no process to be had: this job's span is checked here
                continue
            self.processes.append(process)
            stdin, stdout = cast(IO[bytes], process.stdin), cast(IO[bytes], process.stdout)
            try:
                stdin.write(json.dumps(job).encode() + b"\n")
            except BrokenPipeError:  # a worker gone at once: it gives no result
                pass
            finally:
                stdin.close()
            os.set_blocking(stdout.fileno(), False)
            self.selector.register(stdout, selectors.EVENT_READ, index)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.selector.close()
        for process in self.processes:
            if process.poll() is None:  # left early, by an error here
                process.kill()
            process.wait()
            cast(IO[bytes], process.stdout).close()

    def poll(self, count: int, progress: Callable[[int], None] | None, timeout: float = 0) -> None:
        """Tell `count` entries checked here, then what the workers have told meanwhile."""
        if progress is not None and count:
            progress(count)
        for key, _ in self.selector.select(timeout):
            index = key.data
            data = os.read(key.fd, 1 << 16)
            if not data:
                self.selector.unregister(key.fileobj)
                continue
            *lines, self.pending[index] = (self.pending[index] + data).split(b"\n")
            for line in lines:
                message = json.loads(line)
                if "result" in message:
                    self.results[index] = SpanResult.from_json(message["result"])
                else:
                    self.told[index] += int(message["progress"])
                    if progress is not None:
                        progress(int(message["progress"]))

    def finish(self, progress: Callable[[int], None] | None) -> list[SpanResult | None]:
        """Wait for every worker; one that ended without its result gets None."""
        while self.selector.get_map():
            self.poll(0, progress, timeout=1.0)
        for process in self.processes:
            process.wait()
        return self.results
