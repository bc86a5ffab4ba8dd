"""The inline guard's count, against a brute-force model of the sliding window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from coffre.identity import Actor, ActorKind
from coffre.records import Guard, GuardLimits

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=60)
PERSON = Actor(kind=ActorKind.ACCOUNT, id="a1", source="test")
CLIENT = Actor(kind=ActorKind.CLIENT, id="c1", source="test")
OPERATOR = Actor(kind=ActorKind.OPERATOR, id="operator", source="local")


def test_the_threshold_is_exact_and_rereading_is_free() -> None:
    guard = Guard(GuardLimits(people=3, clients=5, window=WINDOW))
    assert all(guard.admit(PERSON, [p], T0) for p in ("p1", "p2", "p3"))
    assert not guard.admit(PERSON, ["p4"], T0)
    assert guard.admit(PERSON, ["p2"], T0 + timedelta(seconds=1))  # opened already
    assert guard.opened(PERSON, T0) == 3


def test_a_batch_past_the_threshold_counts_nothing() -> None:
    guard = Guard(GuardLimits(people=3, clients=5, window=WINDOW))
    assert guard.admit(PERSON, ["p1"], T0)
    assert not guard.admit(PERSON, ["p2", "p3", "p4"], T0)
    assert guard.opened(PERSON, T0) == 1
    assert guard.admit(PERSON, ["p2", "p3"], T0)


def test_the_window_slides_and_each_actor_counts_alone() -> None:
    guard = Guard(GuardLimits(people=2, clients=3, window=WINDOW))
    assert guard.admit(PERSON, ["p1"], T0)
    assert guard.admit(PERSON, ["p2"], T0 + timedelta(seconds=30))
    assert not guard.admit(PERSON, ["p3"], T0 + timedelta(seconds=59))
    assert guard.admit(CLIENT, ["p1", "p2", "p3"], T0)  # a client has its own threshold
    # p1 left the window: one more patient may be opened.
    assert guard.admit(PERSON, ["p3"], T0 + timedelta(seconds=61))
    assert not guard.admit(PERSON, ["p4"], T0 + timedelta(seconds=62))


def test_the_operator_is_not_counted() -> None:
    guard = Guard(GuardLimits(people=1, clients=1, window=WINDOW))
    assert guard.admit(OPERATOR, [f"p{i}" for i in range(100)], T0)
    assert guard.limit_for(OPERATOR) is None


# Each step: seconds after the previous step, and the patients asked for.
steps = st.lists(
    st.tuples(st.integers(0, 40), st.lists(st.integers(0, 9), min_size=1, max_size=3)),
    max_size=60,
)


@given(steps=steps, limit=st.integers(1, 6))
def test_the_guard_agrees_with_a_brute_force_window(
    steps: list[tuple[int, list[int]]], limit: int
) -> None:
    guard = Guard(GuardLimits(people=limit, clients=limit, window=WINDOW))
    admitted: list[tuple[datetime, str]] = []  # every (time, patient) the guard let through
    now = T0
    for gap, numbers in steps:
        now += timedelta(seconds=gap)
        asked = [f"p{n}" for n in numbers]
        recent = {p for t, p in admitted if t >= now - WINDOW}
        expected = len(recent | set(asked)) <= limit
        assert guard.admit(PERSON, asked, now) is expected
        if expected:
            admitted += [(now, p) for p in asked]
        # Never more distinct patients within any window than the threshold.
        assert len({p for t, p in admitted if now - WINDOW <= t <= now}) <= limit
