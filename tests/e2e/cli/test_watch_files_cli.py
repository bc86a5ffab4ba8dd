"""`coffre watch test` and `coffre watch import`: trying rules on another system's log
without an installation, importing it (all or nothing) and the alert `watch run` raises
from it (real processes)."""

from __future__ import annotations

import json
from pathlib import Path

from clihelpers import assert_one_sentence_error, ok, run
from coffre.watch.catalogue import shipped_texts
from watchrules import PROBING

# An AuditEvent's action is import:<subtype or type>:<verb>: the rule names the verb.
IMPORTED_PROBING = PROBING.replace(
    "action|endswith: ':read'\n    subject: [patient, record, document]",
    "module: import\n    verb: read",
)


def audit_event(minute: int, patient: str) -> str:
    return json.dumps(
        {
            "resourceType": "AuditEvent",
            "type": {"code": "rest"},
            "subtype": [{"code": "read"}],
            "action": "R",
            "recorded": f"2026-11-23T10:{minute:02d}:00+01:00",
            "outcome": "4",
            "agent": [
                {
                    "who": {"reference": "Practitioner/p1", "display": "Dr Jean Dupont"},
                    "requestor": True,
                }
            ],
            "entity": [{"what": {"reference": f"Patient/{patient}", "display": "Marie Curie"}}],
        }
    )


def test_rules_are_tried_on_a_csv_file_without_an_installation(tmp_path: Path) -> None:
    rules = tmp_path / "probing.yml"
    rules.write_text(PROBING)
    log = tmp_path / "old.csv"
    log.write_text(
        "when,user,patient,action,decision,name\n"
        + "".join(
            f"2026-11-23T10:0{i}:00,u1,P{i},records:patient:read,deny,Marie Curie\n"
            for i in range(3)
        )
        + "2026-11-23T10:09:00,u2,P9,records:patient:read,allow,Jean Dupont\n"
    )
    maps = ["--map", "when=time", "--map", "user=actor_id", "--map", "patient=patient_id"]
    home = tmp_path / "none"  # no installation: nothing is opened, nothing is written
    said = json.loads(
        ok(run(home, "watch", "test", str(rules), "--events", str(log), *maps, "--json"))
    )
    assert said["events"] == 4
    [firing] = said["firings"]
    assert (firing["rule"], firing["group"], firing["lines"]) == (
        "probing",
        {"actor_id": "u1"},
        [2, 3, 4],
    )
    assert firing["response"] == "suspend-account"
    assert not home.exists()

    bad = tmp_path / "bad.csv"
    bad.write_text("when,user\n" + "".join(f"day {i},u1\n" for i in range(25)))
    refused = run(home, "watch", "test", str(rules), "--events", str(bad), "--map", "when=time")
    said_error = assert_one_sentence_error(refused, 1)
    assert "25 lines of bad.csv cannot be read" in said_error
    assert "line 2: its time is not an ISO 8601 date and time." in refused.stderr
    assert "line 21:" in refused.stderr and "line 22:" not in refused.stderr
    assert "and 5 more" in refused.stderr


def test_an_imported_log_raises_an_alert_and_a_bad_one_imports_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(run(home, "init"))
    rules = tmp_path / "imported.yml"
    rules.write_text(IMPORTED_PROBING)
    bad = tmp_path / "bad.ndjson"
    bad.write_text(audit_event(0, "p1") + "\n" + '{"resourceType": "Patient"}\n')
    refused = run(home, "watch", "import", str(bad))
    assert "nothing was imported" in assert_one_sentence_error(refused, 1)
    assert "line 2: it is not a FHIR AuditEvent (resourceType)." in refused.stderr

    log = tmp_path / "old-emr.ndjson"
    log.write_text("".join(audit_event(i, f"p{i}") + "\n" for i in range(3)))
    said = ok(run(home, "watch", "import", str(log), "--source", "old-emr"))
    assert "Imported 3 events from old-emr.ndjson (source 'old-emr')" in said

    ran = ok(run(home, "watch", "run", str(rules), "--once"))
    assert "and 3 imported events; 1 new alerts are open." in ran
    found = json.loads(ok(run(home, "watch", "alerts", "--json")))
    [alert] = [a for a in found if a["group"] == "imported:-:old-emr:Practitioner/p1"]
    assert (alert["rule"], alert["entries"], len(alert["imported"])) == ("probing", [], 3)


def test_rules_on_an_actors_own_history_are_tried_on_the_file_itself(tmp_path: Path) -> None:
    """The dormant-account rule needs the actor's profile: learnt from the file's earlier
    events, so an account back after 130 days fires it, and one back after 10 does not."""
    rules = tmp_path / "shipped.yml"
    rules.write_text("\n---\n".join(shipped_texts()))
    log = tmp_path / "old.csv"
    log.write_text(
        "when,user,kind,patient,decision\n"
        "2026-06-01T10:00:00,u1,account,P1,allow\n"
        "2026-06-01T10:00:00,u2,account,P2,allow\n"
        "2026-06-11T10:00:00,u2,account,P3,allow\n"
        "2026-10-09T10:00:00,u1,account,P4,allow\n"
    )
    maps = ["--map", "when=time", "--map", "user=actor_id", "--map", "kind=actor_kind"]
    said = json.loads(
        ok(
            run(
                tmp_path / "none",
                "watch",
                "test",
                str(rules),
                "--events",
                str(log),
                *maps,
                "--json",
            )
        )
    )
    dormant = [f for f in said["firings"] if f["rule"] == "dormant_account"]
    assert [(f["group"], f["lines"]) for f in dormant] == [({"actor_id": "u1"}, [5])]
