"""For the tests of what two transactions do side by side on PostgreSQL: a thread that
runs the second one, and a wait until it is held at a lock of the first."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa


def in_thread(target: Callable[[], Any]) -> threading.Thread:
    """Start `target` in a daemon thread, and return the thread."""
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def waiting_for_a_lock(engine: sa.Engine, timeout: float = 10.0, *, sessions: int = 1) -> bool:
    """Whether `sessions` sessions of the engine's database come to wait for a lock (polled
    through a connection of its own) within `timeout` seconds."""
    admin = sa.create_engine(engine.url, isolation_level="AUTOCOMMIT")
    try:
        deadline = time.monotonic() + timeout
        with admin.connect() as conn:
            while time.monotonic() < deadline:
                waiting = conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                ).scalar_one()
                if waiting >= sessions:
                    return True
                time.sleep(0.02)
        return False
    finally:
        admin.dispose()
