"""A credential-stuffing run against Coffre's sign-in: many accounts, a few breached
passwords each, from a pool of sources, as a botnet would. Used by a test (with a cheap
hasher, for speed) and by `bench/identity.py` (with the real one)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from coffre import identity, signin
from coffre.bootstrap import Coffre
from coffre.identity import OrganisationKind, passwords
from coffre.identity.tables import accounts

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
REUSED = "Sunshine-2019!"
OWN = "plum harbour violin 8814"


@dataclass(frozen=True)
class Figures:
    accounts: int
    planned: int  # attempts in the attacker's list
    made: int  # attempts that reached Coffre before every source was locked
    refused_by_lock: int
    taken: int  # accounts signed in to
    taken_not_in_list: int  # accounts taken whose password was not in the list: must be 0
    reusers: int  # accounts whose password was in the list

    @property
    def blocked_share(self) -> float:
        return 1 - self.made / self.planned


def seed_members(coffre: Coffre, count: int, reuse_share: float, rng: random.Random) -> set[str]:
    """`count` patient accounts; return the usernames of those who reused a breached
    password. Two hashes are computed, then copied (a simulation needs no distinct salts)."""
    with coffre.uow() as uow:
        org = identity.create_organisation(
            uow, "Mutuelle des Tilleuls", OrganisationKind.INSURER, "FR"
        ).id
        reused_hash, own_hash = passwords.hash_password(REUSED), passwords.hash_password(OWN)
        reusers = set()
        rows = []
        for i in range(count):
            name = f"member{i:05d}"
            reused = rng.random() < reuse_share
            if reused:
                reusers.add(name)
            rows.append(
                {
                    "id": f"00000000-0000-4000-8000-{i:012d}",
                    "organisation_id": org,
                    "username": name,
                    "password_hash": reused_hash if reused else own_hash,
                    "role": "patient",
                    "display_name": name,
                    "created_at": T0,
                }
            )
        uow.connection.execute(sa.insert(accounts), rows)
        uow.commit()
    return reusers


def simulate(
    coffre: Coffre,
    *,
    members: int = 10_000,
    tries: int = 3,
    sources: int = 50,
    reuse_share: float = 0.02,
    seed: int = 2026,
) -> Figures:
    """Run the attack until every source is locked (a botnet would stop there: each further
    try costs it and tells it nothing); return what it achieved."""
    rng = random.Random(seed)
    reusers = seed_members(coffre, members, reuse_share, rng)
    ctx = coffre.signin()
    guesses = ["123456", "Password1!", REUSED, "Qwerty2020", "Welcome1"]
    plan = []
    for i in range(members):
        name = f"member{i:05d}"
        tried = [*rng.sample([g for g in guesses if g != REUSED], tries - 1), REUSED]
        rng.shuffle(tried)
        plan.extend((name, password) for password in tried)
    rng.shuffle(plan)
    locked_sources: set[int] = set()
    made = refused_by_lock = 0
    taken: set[str] = set()
    now = T0
    for k, (username, password) in enumerate(plan):
        if len(locked_sources) == sources:
            break
        where = k % sources
        if where in locked_sources:
            continue
        now += timedelta(milliseconds=50)
        made += 1
        try:
            signin.sign_in(coffre.uow(), ctx, username, password, f"203.0.113.{where}", now)
            taken.add(username)
        except signin.SignInRefused as refused:
            if refused.minutes is not None:
                refused_by_lock += 1
                locked_sources.add(where)
    return Figures(
        members,
        len(plan),
        made,
        refused_by_lock,
        len(taken),
        len(taken - reusers),
        len(reusers),
    )
