"""`coffre serve` warns when the public origin names this machine on another port."""

from __future__ import annotations

import pytest

from coffre.cli.app import origin_notice


@pytest.mark.parametrize(
    ("origin", "port", "warned"),
    [
        ("http://localhost:8000", 8000, False),
        ("http://localhost:8000", 8717, True),
        ("http://127.0.0.1:9000", 8000, True),
        ("http://[::1]:8000", 8000, False),
        ("http://localhost", 80, False),
        ("https://coffre.example.org", 8000, False),  # behind a reverse proxy
        ("http://localhost:notaport", 8000, False),
    ],
)
def test_a_local_origin_on_another_port_is_told(origin: str, port: int, warned: bool) -> None:
    notice = origin_notice(origin, port)
    assert (notice is not None) == warned
    if notice is not None:
        assert origin in notice and f"port {port}" in notice
