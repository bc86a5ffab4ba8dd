"""A distributed credential-stuffing run (10,000 accounts, 3 breached passwords each, from 50
sources) takes no account whose password was not in its list, and is stopped early."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher

from coffre.identity import passwords
from stuffing import simulate


@pytest.fixture
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The run's behaviour, not its cost, is under test: bench/identity.py times it with
    the real parameters."""
    monkeypatch.setattr(
        passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )
    passwords._dummy_hash.cache_clear()
    yield
    passwords._dummy_hash.cache_clear()


def test_a_stuffing_run_is_stopped_by_the_source_limits(sqlite_coffre, cheap_hashes):
    figures = simulate(sqlite_coffre, members=10_000, tries=3, sources=50)
    assert figures.planned == 30_000
    assert figures.taken_not_in_list == 0
    # Each source is locked after its 21st failure in the hour; the run ends there.
    assert figures.made == 50 * 21 + figures.refused_by_lock + figures.taken
    assert figures.refused_by_lock == 50
    assert figures.blocked_share > 0.96
    assert figures.taken < figures.reusers / 10
