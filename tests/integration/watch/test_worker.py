"""The alerts worker: probing is alerted once, contained at once, told to the security
officer, and neither replays nor restarts alert twice."""

from __future__ import annotations

from datetime import timedelta

import pytest

from careworld import World, build_world
from coffre import identity, journal, notify, signin, watch
from coffre.bootstrap import Coffre
from coffre.identity.errors import IdentityError
from coffre.notify import NotificationKind, Recipient
from coffre.watch import follow, worker
from watchrules import PROBING, probe


@pytest.fixture
def world(coffre: Coffre) -> World:
    return build_world(coffre)


def detector() -> watch.Detector:
    return watch.Detector(watch.load_rules(PROBING), id_field="seq", time_field="time")


def denied_seqs(coffre: Coffre, actor_id: str) -> list[int]:
    with coffre.reader() as uow:
        events = follow.read(uow, 0, batch=100_000)
    return [
        e["seq"]
        for e in events
        if e["actor_id"] == actor_id and e["decision"] == "deny" and e["verb"] == "read"
    ]


def drain(coffre: Coffre, found: watch.Detector) -> None:
    while worker.run_once(coffre, found, batch=50):
        pass


def state(coffre: Coffre, world: World):
    with coffre.reader() as uow:
        alerts = watch.list_alerts(uow)
        told = notify.list_notifications(uow, Recipient.SECURITY_OFFICER, world.clinic)
        size = journal.size(uow)
    return alerts, told, size


def test_probing_is_alerted_once_contained_told_and_not_replayed(coffre, world):
    # dr.bernard works through a personal token, so the session id of his reads is a token
    # reference, and the suspension must bite on the token check too.
    token, _ = signin.issue_personal_token(
        coffre.uow(), world.operator, "dr.bernard", "user/*.read", timedelta(hours=1)
    )
    bernard = signin.token_actor(coffre.uow(), token)
    probe(coffre, bernard, world.patient_id, 3)
    probe(coffre, world.physician, world.patient_id, 2)  # allowed reads do not count
    found = detector()
    drain(coffre, found)

    alerts, told, _ = state(coffre, world)
    [alert] = alerts
    assert list(alert.seqs) == denied_seqs(coffre, world.colleague.id)
    assert len(alert.seqs) == 3
    assert (alert.organisation_id, alert.rule_ref, alert.severity) == (
        world.clinic,
        "probing",
        "high",
    )
    assert alert.group_key == world.colleague.id and alert.state is watch.AlertState.OPEN
    with coffre.reader() as uow:
        assert identity.is_suspended(uow, world.colleague.id)
        entries = list(journal.select_records(uow, journal.Filter(from_seq=0), limit=100_000))
    suspension = [e for e in entries if e.action == "identity:account:suspend"]
    [suspended] = suspension
    assert suspended.actor_kind == "system" and suspended.outcome == "success"
    assert f"alert:{alert.id}" in suspended.resource_ids
    assert f"account:{world.colleague.id}" in suspended.resource_ids
    [opened] = [e for e in entries if e.action == "watch:alert:create"]
    assert opened.resource_ids == (f"alert:{alert.id}",) and opened.patient_ids == ()
    [note] = [n for n in told if n.kind is NotificationKind.WATCH_ALERT]
    assert note.params["alert"] == alert.id and note.params["reason"] == "high"
    assert world.patient_id not in str(note.params)

    # The next request of that account is refused: its token, and signing in.
    with pytest.raises(IdentityError):
        signin.token_actor(coffre.uow(), token)
    with pytest.raises(signin.SignInRefused):
        signin.sign_in(coffre.uow(), coffre.signin(), "dr.bernard", "a long passphrase 42", "ip")

    # Running again changes nothing (the sign-in refusal above is not a denied read).
    before = state(coffre, world)
    drain(coffre, found)
    assert state(coffre, world)[:2] == before[:2]

    # Replaying the same batch from the start with a fresh detector, as after a crash
    # before the cursor moved, changes nothing either.
    with coffre.uow() as uow:
        from coffre.watch.tables import watch_cursors

        uow.connection.execute(watch_cursors.update().values(position=0))
        uow.commit()
    drain(coffre, detector())
    after = state(coffre, world)
    assert [(a.id, a.seqs) for a in after[0]] == [(a.id, a.seqs) for a in before[0]]
    assert len(after[1]) == len(before[1])


def test_more_denied_reads_within_the_window_extend_the_same_alert(coffre, world):
    found = detector()
    probe(coffre, world.colleague, world.patient_id, 3)
    drain(coffre, found)
    probe(
        coffre, world.colleague, world.patient_id, 3
    )  # the actor object still acts (no per-request check)
    drain(coffre, found)
    alerts, told, _ = state(coffre, world)
    [alert] = alerts
    assert list(alert.seqs) == denied_seqs(coffre, world.colleague.id)
    assert len(alert.seqs) == 6
    assert len([n for n in told if n.kind is NotificationKind.WATCH_ALERT]) == 1


def test_a_restart_resumes_from_the_cursor_and_does_not_realert(coffre, world):
    probe(coffre, world.colleague, world.patient_id, 3)
    drain(coffre, detector())
    probe(coffre, world.receptionist, world.patient_id, 1)
    # Open windows are lost on a restart: two more denied reads start a fresh count.
    probe(coffre, world.colleague, world.patient_id, 2)
    restarted = detector()
    drain(coffre, restarted)
    alerts, told, _ = state(coffre, world)
    assert len(alerts) == 1 and len(alerts[0].seqs) == 3
    assert len([n for n in told if n.kind is NotificationKind.WATCH_ALERT]) == 1
    with coffre.reader() as uow:
        assert follow.position(uow, "alerts") == journal.size(uow)
