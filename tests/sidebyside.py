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


def at_once(count: int, attempt: Callable[[], str]) -> list[str]:
    """Run `attempt` in `count` threads released at the same moment; what each answered,
    sorted."""
    start = threading.Barrier(count)
    answers: list[str] = []
    lock = threading.Lock()

    def run() -> None:
        start.wait(10)
        answer = attempt()
        with lock:
            answers.append(answer)

    threads = [in_thread(run) for _ in range(count)]
    for thread in threads:
        thread.join(60)
    return sorted(answers)


def behind_another(
    engine: sa.Engine, sql: str, params: dict[str, Any], *targets: Callable[[], Any]
) -> None:
    """Another transaction runs `sql` and holds what it locked while each of `targets`
    starts in a thread of its own and comes to wait for it; then it commits, and the
    threads are joined."""
    with engine.begin() as other:
        other.execute(sa.text(sql), params)
        threads = [in_thread(target) for target in targets]
        assert waiting_for_a_lock(engine, sessions=len(targets)), "nothing waited for the other"
    for thread in threads:
        thread.join(60)
