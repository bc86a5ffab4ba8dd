"""Signing in and checking sessions: complete sign-ins (argon2id password, then a TOTP code)
from two threads at once, and the per-request session check with 10,000 sessions stored
(and the bearer-token check of personal access tokens, beside it).

Every figure is measured next to a baseline in the same run, as the median over rounds, both
sides alternating: sign-ins against bare argon2id verifications in the same threading, the
session check against a primary-key select of one row from a plain copy of the sessions in
the same SQLite database (the token check against the same baseline).
`python bench/identity.py profile` profiles both with cProfile.
"""

from __future__ import annotations

import cProfile
import hashlib
import random
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import argon2
import pyotp
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from _harness import (
    Goal,
    Installation,
    Results,
    installation,
    interleaved,
    log,
    plain_engine,
    print_profile,
    statements,
)
from coffre import identity, signin
from coffre.identity import NewAccount, local_operator, mfa
from coffre.identity.sessions import open_session
from coffre.signin import Context, Needs

ACCOUNTS = 100  # half per thread; each signs in once per 30-second TOTP step
THREADS = 2  # the cores of the machines Coffre runs on
SIGN_IN_PER_LANE = 8  # sign-ins (or verifications) per thread per round
SIGN_IN_ROUNDS = 7
SESSIONS = 10_000
CHECK_TOKENS = 20  # fresh, second-factor-complete sessions the checks pick from
CHECK_ROUNDS = 9
CHECK_BATCH = 1_000
CHECK_WINDOW = timedelta(seconds=25)  # `now` never moves 30 s past a sign-in: no touch
PASSWORD = "violet kettle orbit 1968"  # noqa: S105 (a synthetic account's)
SOURCE = "198.51.100.7"
STEP = timedelta(seconds=mfa.STEP)
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # on a step boundary
# The parameters `identity.passwords` uses, on a hasher of our own.
BARE = argon2.PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def run(results: Results) -> None:
    with installation() as inst:
        ctx = inst.coffre.signin()
        lanes = enrol(inst, ctx)
        sign_in_rate(results, inst, ctx, lanes)
        session_check(results, inst, ctx, lanes)
    with installation() as inst:
        credential_stuffing(results, inst)


def credential_stuffing(results: Results, inst: Installation) -> None:
    """The stuffing run of tests/stuffing.py (10,000 accounts, 3 breached passwords each,
    50 sources) with the real argon2id parameters. The baseline is the run's plan: the
    share blocked is what never reached a password check."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from stuffing import simulate

    log("identity: credential stuffing, 10,000 accounts x 3 passwords from 50 sources")
    start = time.perf_counter()
    figures = simulate(inst.coffre, members=10_000, tries=3, sources=50)
    log(
        f"identity: stuffing stopped after {figures.made:,} of {figures.planned:,} tries "
        f"in {time.perf_counter() - start:.1f} s; {figures.taken} of {figures.reusers} "
        f"reused-password accounts taken, {figures.taken_not_in_list} others"
    )
    results.add(
        "identity.stuffing_blocked_share",
        figures.blocked_share,
        "share",
        baseline=figures.planned,
        baseline_unit="tries planned",
        ratio=figures.made / figures.planned,
        goal=Goal(">=", 0.95),
    )
    results.add(
        "identity.stuffing_taken_outside_list",
        figures.taken_not_in_list,
        "accounts",
        baseline=figures.accounts,
        baseline_unit="accounts",
        ratio=figures.taken_not_in_list / figures.accounts,
        goal=Goal("<=", 0),
    )


# accounts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    id: str
    username: str
    secret: str
    password_hash: str


@dataclass(frozen=True)
class Attempt:
    member: Member
    now: datetime
    code: str


@dataclass
class Lane:
    """The accounts one thread signs in, in turn; each pass over them moves `now` on by one
    TOTP step, so that every code is of a later step than the account's last (codes are
    accepted once). A lane is only ever worked by one thread at a time, in order."""

    members: list[Member]
    done: int = 0
    _totp: dict[str, pyotp.TOTP] = field(default_factory=dict)

    def moment(self, index: int) -> datetime:
        turn, seat = divmod(index, len(self.members))
        return T0 + STEP * (1 + turn) + STEP * 0.8 * seat / len(self.members)

    def take(self, count: int) -> list[Attempt]:
        attempts = []
        for index in range(self.done, self.done + count):
            member = self.members[index % len(self.members)]
            now = self.moment(index)
            totp = self._totp.setdefault(member.id, pyotp.TOTP(member.secret))
            attempts.append(Attempt(member, now, totp.at(now)))
        self.done += count
        return attempts

    def later(self) -> datetime:
        """A moment of a later TOTP step than any this lane has used."""
        return self.moment(self.done) + 2 * STEP


def enrol(inst: Installation, ctx: Context) -> list[Lane]:
    """ACCOUNTS physicians (half of them in a care team), each with a TOTP app set up at T0,
    dealt into THREADS lanes."""
    start = time.perf_counter()
    coffre, org = inst.coffre, inst.organisation_id
    new = [
        NewAccount(org, f"dr.banc{n:03}", PASSWORD, "practitioner", f"Dr Banc {n}", "physician")
        for n in range(ACCOUNTS)
    ]
    members = []
    with coffre.uow() as uow:
        ids = identity.create_accounts(uow, new)
        identity.create_care_team(uow, org, "Cardiologie", ids[: ACCOUNTS // 2])
        for account_id, account in zip(ids, new, strict=True):
            secret = mfa.new_totp_secret()
            mfa.enable_totp(uow, ctx.box, account_id, secret, pyotp.TOTP(secret).at(T0), T0)
            stored = identity.password_hash_of(uow, account_id)
            members.append(Member(account_id, account.username, secret, stored))
        uow.commit()
    log(f"identity: {ACCOUNTS} accounts with TOTP in {time.perf_counter() - start:.1f} s")
    return [Lane(members[t::THREADS]) for t in range(THREADS)]


# 1: complete sign-ins per second from two threads, against bare argon2id verifications ------


def sign_in_once(inst: Installation, ctx: Context, attempt: Attempt) -> str:
    """Password, then the TOTP code; return the session token."""
    step = signin.sign_in(
        inst.coffre.uow(), ctx, attempt.member.username, PASSWORD, SOURCE, attempt.now
    )
    if step.needs is not Needs.SECOND_FACTOR:
        raise RuntimeError(f"signing in asks for {step.needs}, not the second factor")
    done = signin.second_factor(
        inst.coffre.uow(), ctx, step.token, code=attempt.code, now=attempt.now
    )
    return done.token


def verify_once(attempt: Attempt) -> None:
    BARE.verify(attempt.member.password_hash, PASSWORD)


def throughput(
    work: Callable[[Attempt], object], lanes: Sequence[Lane], pool: ThreadPoolExecutor | None
) -> float:
    """Attempts per second of `work` over the next SIGN_IN_PER_LANE attempts of every lane:
    the lanes one after the other in this thread, or each in a thread of `pool` at once."""

    def work_through(attempts: list[Attempt]) -> None:
        for attempt in attempts:
            work(attempt)

    batches = [lane.take(SIGN_IN_PER_LANE) for lane in lanes]
    start = time.perf_counter()
    if pool is None:
        for batch in batches:
            work_through(batch)
    else:
        for future in [pool.submit(work_through, batch) for batch in batches]:
            future.result()
    return sum(map(len, batches)) / (time.perf_counter() - start)


def sign_in_rate(results: Results, inst: Installation, ctx: Context, lanes: Sequence[Lane]) -> None:
    def signs_in(attempt: Attempt) -> object:
        return sign_in_once(inst, ctx, attempt)

    log(
        f"identity: {SIGN_IN_ROUNDS} rounds of {THREADS}×{SIGN_IN_PER_LANE} sign-ins and "
        "verifications, on 1 and 2 threads"
    )
    with ThreadPoolExecutor(THREADS, thread_name_prefix="bench-sign-in") as pool:
        measures: dict[str, Callable[[int], float]] = {
            "sign_in_2": lambda _: throughput(signs_in, lanes, pool),
            "verify_2": lambda _: throughput(verify_once, lanes, pool),
            "sign_in_1": lambda _: throughput(signs_in, lanes, None),
            "verify_1": lambda _: throughput(verify_once, lanes, None),
        }
        interleaved(measures, [0])  # warm-up
        median = interleaved(measures, range(SIGN_IN_ROUNDS))
    log(
        f"identity: sign-ins/s {median['sign_in_1']:.1f} on 1 thread, "
        f"{median['sign_in_2']:.1f} on 2 ({median['sign_in_2'] / median['sign_in_1']:.2f}x); "
        f"argon2id verifications/s {median['verify_1']:.1f} on 1, {median['verify_2']:.1f} "
        f"on 2 ({median['verify_2'] / median['verify_1']:.2f}x)"
    )
    value, base = median["sign_in_2"], median["verify_2"]
    results.add("identity.sign_in_per_s", value, "/s", baseline=base, ratio=value / base)


# 2: one session check with 10,000 sessions stored, against a primary-key select ------------

_plain = sa.MetaData()
plain_sessions = sa.Table(
    "bench_plain_sessions",
    _plain,
    sa.Column("id_hash", sa.LargeBinary, primary_key=True),
    sa.Column("account_id", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_seen_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
    sa.Column("idle_seconds", sa.Integer, nullable=False),
    sa.Column("mfa", sa.Boolean, nullable=False),
    sa.Column("reauthenticated_at", sa.DateTime, nullable=False),
    sa.Column("ended_at", sa.DateTime),
)
_COLUMNS = ", ".join(c.name for c in plain_sessions.columns)


@dataclass(frozen=True)
class Check:
    token: str
    id_hash: bytes
    now: datetime


def fresh_tokens(
    inst: Installation, ctx: Context, lanes: Sequence[Lane]
) -> tuple[list[str], datetime]:
    """CHECK_TOKENS complete sign-ins at one moment later than every step used so far."""
    at = max(lane.later() for lane in lanes)
    at -= timedelta(seconds=at.second % mfa.STEP, microseconds=at.microsecond)
    members = [m for lane in lanes for m in lane.members][:CHECK_TOKENS]
    tokens = [sign_in_once(inst, ctx, Attempt(m, at, pyotp.TOTP(m.secret).at(at))) for m in members]
    return tokens, at


def fill_sessions(
    inst: Installation, rng: random.Random, lanes: Sequence[Lane], at: datetime
) -> int:
    """Sessions of the same accounts up to SESSIONS rows, opened in one unit of work over the
    twelve hours before `at` (some past their timeouts, a third without a second factor);
    return how many rows the table holds."""
    ids = [m.id for lane in lanes for m in lane.members]
    with inst.coffre.uow() as uow:
        count = sa.text("SELECT count(*) FROM sessions")
        stored = int(uow.connection.execute(count).scalar_one())
        for _ in range(SESSIONS - stored):
            opened = at - timedelta(seconds=rng.uniform(60, 12 * 3600))
            open_session(
                uow,
                rng.choice(ids),
                SOURCE,
                opened,
                idle=timedelta(minutes=15),
                absolute=timedelta(hours=12),
                mfa=rng.random() < 0.67,
            )
        stored = int(uow.connection.execute(count).scalar_one())
        uow.commit()
    return stored


def fill_plain_sessions(engine: Engine) -> int:
    """The same rows in a plain table keyed on id_hash; return how many."""
    _plain.create_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"INSERT INTO bench_plain_sessions ({_COLUMNS}) SELECT {_COLUMNS} FROM sessions"
        )
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(plain_sessions)).scalar_one()
        )


class Clock:
    """Moments that advance by a little on every call, from `start` to `start + window`."""

    def __init__(self, start: datetime, window: timedelta, calls: int) -> None:
        self.start, self.tick, self.calls = start, window / calls, 0

    def next(self) -> datetime:
        self.calls += 1
        return self.start + self.tick * self.calls


def session_check(
    results: Results, inst: Installation, ctx: Context, lanes: Sequence[Lane]
) -> None:
    rng = random.Random(43)
    start = time.perf_counter()
    tokens, at = fresh_tokens(inst, ctx, lanes)
    stored = fill_sessions(inst, rng, lanes, at)
    engine = plain_engine(inst.database_path)
    try:
        copied = fill_plain_sessions(engine)
        if copied != stored:
            raise RuntimeError(f"{stored:,} sessions stored but {copied:,} copied")
        log(
            f"identity: {stored:,} sessions stored and copied in "
            f"{time.perf_counter() - start:.1f} s"
        )
        calls = (CHECK_ROUNDS + 2) * CHECK_BATCH + 1
        clock = Clock(at, CHECK_WINDOW, calls)
        with statements(inst.coffre.engine) as sent:
            actor = signin.session_actor(inst.coffre.uow(), ctx, tokens[0], clock.next())
        if actor.session_id is None or any(s.upper().startswith("UPDATE") for s in sent):
            raise RuntimeError(f"the session check wrote or lost its session: {sent}")
        shown = " | ".join(statement[:60] for statement in sent)
        log(f"identity: one session check sends {len(sent)} statements: {shown}")
        query = sa.select(plain_sessions).where(plain_sessions.c.id_hash == sa.bindparam("id_hash"))

        def batch() -> list[Check]:
            picked = rng.choices(tokens, k=CHECK_BATCH)
            return [Check(t, hashlib.sha256(t.encode()).digest(), clock.next()) for t in picked]

        def checked(checks: list[Check]) -> float:
            begin = time.perf_counter()
            for check in checks:
                signin.session_actor(inst.coffre.uow(), ctx, check.token, check.now)
            return (time.perf_counter() - begin) / len(checks)

        def token_checked(checks: list[Check]) -> float:
            begin = time.perf_counter()
            for check in checks:
                signin.token_actor(inst.coffre.uow(), bearer[check.token], check.now)
            return (time.perf_counter() - begin) / len(checks)

        def plain(checks: list[Check]) -> float:
            begin = time.perf_counter()
            for check in checks:
                with engine.connect() as conn:
                    conn.execute(query, {"id_hash": check.id_hash}).first()
            return (time.perf_counter() - begin) / len(checks)

        bearer = personal_tokens(inst, lanes, tokens, at)
        measures = {"check": checked, "token": token_checked, "plain": plain}
        log(f"identity: {CHECK_ROUNDS} rounds of {CHECK_BATCH:,} session checks")
        interleaved(measures, [batch()])  # warm-up
        median = interleaved(measures, [batch() for _ in range(CHECK_ROUNDS)])
    finally:
        engine.dispose()
    base = median["plain"] * 1e6
    for name, measure in (("session_check_us", "check"), ("token_check_us", "token")):
        value = median[measure] * 1e6
        results.add(
            f"identity.{name}", value, "µs", baseline=base, ratio=value / base, goal=Goal("<=", 200)
        )


def personal_tokens(
    inst: Installation, lanes: Sequence[Lane], sessions: Sequence[str], at: datetime
) -> dict[str, str]:
    """A personal access token for each session's account, issued by the local operator:
    session token -> bearer token."""
    members = [m for lane in lanes for m in lane.members][: len(sessions)]
    operator = local_operator(inst.organisation_id)
    bearer = {}
    for session, member in zip(sessions, members, strict=True):
        secret, _ = signin.issue_personal_token(
            inst.coffre.uow(),
            operator,
            member.username,
            "user/Patient.rs",
            timedelta(days=1),
            now=at - timedelta(minutes=1),
        )
        bearer[session] = secret
    return bearer


# profile -------------------------------------------------------------------------------------


def profile(sign_ins: int = 60, checks: int = 5_000) -> None:
    with installation() as inst:
        ctx = inst.coffre.signin()
        lanes = enrol(inst, ctx)
        attempts = lanes[0].take(sign_ins)
        profiler = cProfile.Profile()
        profiler.enable()
        for attempt in attempts:
            sign_in_once(inst, ctx, attempt)
        profiler.disable()
        print_profile(f"{sign_ins} complete sign-ins on one thread", profiler)
        tokens, at = fresh_tokens(inst, ctx, lanes)
        fill_sessions(inst, random.Random(43), lanes, at)
        clock = Clock(at, CHECK_WINDOW, checks)
        picked = [(t, clock.next()) for t in random.Random(44).choices(tokens, k=checks)]
        profiler = cProfile.Profile()
        profiler.enable()
        for token, now in picked:
            signin.session_actor(inst.coffre.uow(), ctx, token, now)
        profiler.disable()
        print_profile(f"{checks:,} session checks", profiler)


if __name__ == "__main__":
    if sys.argv[1:] != ["profile"]:
        sys.exit("usage: python bench/identity.py profile   (bench/run.py runs the benchmarks)")
    profile()
