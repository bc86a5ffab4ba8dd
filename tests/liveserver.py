"""An installation served over real HTTP for clients that need a socket (fhirpy's aiohttp and
requests sessions): uvicorn on a free 127.0.0.1 port, in a thread of the test process."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from coffre.bootstrap import Coffre, initialise, open_coffre
from coffre.config import Settings
from coffre.web import create_app

STARTUP_SECONDS = 10.0


@dataclass(frozen=True)
class LiveServer:
    coffre: Coffre
    origin: str  # http://127.0.0.1:PORT, also the installation's public origin

    @property
    def fhir(self) -> str:
        return self.origin + "/fhir"


@contextmanager
def live_server(settings: Settings) -> Iterator[LiveServer]:
    """A new installation on `settings` whose public origin is the server's own address, so
    the links it answers (Location, a Bundle's `next`) lead back to it. The server runs the
    application's lifespan, as `coffre serve` does, and stops when the block ends."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Bound before the installation is made: the port is known, and no one can take it.
        sock.bind(("127.0.0.1", 0))
        origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
        settings = settings.with_overrides(public_origin=origin)
        initialise(settings)
        coffre = open_coffre(settings)
        try:
            config = uvicorn.Config(
                create_app(coffre),
                lifespan="on",
                ws="none",
                log_config=None,
                log_level="warning",
                access_log=False,
            )
            server = uvicorn.Server(config)
            thread = threading.Thread(
                target=server.run, kwargs={"sockets": [sock]}, name="live-server", daemon=True
            )
            thread.start()
            try:
                deadline = time.monotonic() + STARTUP_SECONDS
                while not server.started:
                    if not thread.is_alive() or time.monotonic() > deadline:
                        raise RuntimeError(f"The server on {origin} did not start.")
                    time.sleep(0.01)
                yield LiveServer(coffre, origin)
            finally:
                server.should_exit = True
                thread.join(timeout=STARTUP_SECONDS)
                assert not thread.is_alive(), f"The server on {origin} did not stop."
        finally:
            coffre.close()
