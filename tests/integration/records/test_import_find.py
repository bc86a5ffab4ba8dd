"""Importing FHIR NDJSON and finding patients through blind indexes, on both databases."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from coffre import records
from coffre.access import AccessDenied
from coffre.records import FindCriteria, InvalidImport, InvalidQuery
from factories import belgian, insz, journal_records, lines_of, nir, patient


def _journal(coffre, action=None):  # type: ignore[no-untyped-def]
    return [r for r in journal_records(coffre) if action is None or r.action == action]


def _count(coffre, table: str) -> int:  # type: ignore[no-untyped-def]
    with coffre.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_import_then_find_by_every_index(coffre, operator, organisation):
    french = patient(
        family="Le Goff-Hélias",
        given="Anne",
        birth_date="1990-01-02",
        national=(records.NIR_SYSTEM, nir(sex=2, year=90, month=1, serial=77)),
        email="Anne.LeGoff@Example.org",
        phone="06 12 34 56 78",
    )
    belgian_one = belgian(
        family="Van den Broeck",
        given="Pieter",
        birth_date="1985-07-30",
        national=(records.INSZ_SYSTEM, insz("850730", 33)),
        phone="0470 12 34 56",
        email="pieter@example.com",
    )
    report = records.import_patients(
        coffre.uow(), coffre.vault, operator, lines_of([french, belgian_one]), organisation
    )
    (_, anne), (_, pieter) = report.imported

    def find(**criteria):  # type: ignore[no-untyped-def]
        return records.find_patients(coffre.uow(), coffre.vault, operator, FindCriteria(**criteria))

    assert find(nir=nir(sex=2, year=90, month=1, serial=77)) == [anne]
    assert find(insz="85.07.30-033." + insz("850730", 33)[-2:]) == [pieter]
    assert find(email="anne.legoff@example.ORG ") == [anne]
    assert find(phone="+33 6 12 34 56 78") == [anne]
    assert find(phone="+32470123456") == [pieter]
    assert find(family="LE GOFF HELIAS", birth_date="1990-01-02") == [anne]
    assert find(family="Le Goff-Hélias", birth_date="1990-01-03") == []
    assert find(email="nobody@example.org") == []


def test_a_name_is_found_with_or_without_its_ligatures(coffre, operator, organisation):
    people = [
        patient(family="Hautecœur", given="Line", birth_date="1971-03-04"),
        patient(family="Boeuf-Lætitia", given="Marc", birth_date="1971-03-04"),
    ]
    report = records.import_patients(
        coffre.uow(), coffre.vault, operator, lines_of(people), organisation
    )
    (_, line), (_, marc) = report.imported

    def find(family: str) -> list[str]:
        criteria = FindCriteria(family=family, birth_date="1971-03-04")
        return records.find_patients(coffre.uow(), coffre.vault, operator, criteria)

    for typed in ("Hautecœur", "Hautecoeur", "HAUTECŒUR", "hautecoeur"):
        assert find(typed) == [line], typed
    for typed in ("Bœuf-Laetitia", "Boeuf-Lætitia", "BOEUF LAETITIA", "Bœuf Lætitia"):
        assert find(typed) == [marc], typed
    assert find("Hautecour") == [] and find("Hautecoeurs") == []


def test_every_import_and_search_is_journaled_with_ids_only(coffre, operator, organisation):
    person = patient(family="Marchetti", given="Lucia", email="lucia@example.org")
    report = records.import_patients(
        coffre.uow(), coffre.vault, operator, lines_of([person]), organisation
    )
    [(_, patient_id)] = report.imported
    records.find_patients(
        coffre.uow(), coffre.vault, operator, FindCriteria(email="lucia@example.org")
    )
    rows = _journal(coffre)
    assert [r.action for r in rows] == [
        "records:patient:create",
        "records:patient:import",
        "records:patient:search",
    ]
    assert [r.seq for r in rows] == [0, 1, 2]
    assert rows[0].patient_ids == (patient_id,)
    assert rows[2].patient_ids == (patient_id,)
    with coffre.engine.connect() as conn:
        text = " ".join(
            str(v) for row in conn.execute(sa.text("SELECT * FROM journal_entries")) for v in row
        )
    for secret in ("Marchetti", "Lucia", "lucia@example.org", person["identifier"][0]["value"]):
        assert secret not in text


def test_a_bad_line_reports_its_number_and_nothing_is_imported(coffre, operator, organisation):
    lizard = patient(family="Durand")
    lizard["gender"] = "lizard"
    bad_key = patient(family="Roussel", national=(records.NIR_SYSTEM, "185057800608400"))
    lines = [
        patient(family="Garnier"),
        "{not json",
        lizard,
        "",
        json.dumps({"resourceType": "Practitioner"}),
        bad_key,
        patient(family="Fontaine"),
    ]
    with pytest.raises(InvalidImport) as caught:
        records.import_patients(coffre.uow(), coffre.vault, operator, lines_of(lines), organisation)
    errors = {e.line: e.reason for e in caught.value.errors}
    assert sorted(errors) == [2, 3, 5, 6]
    assert "not valid JSON" in errors[2]
    assert "gender 'lizard'" in errors[3]
    assert "Practitioner" in errors[5]
    assert "not a valid NIR" in errors[6]
    assert _count(coffre, "patients") == 0
    assert _count(coffre, "patient_index") == 0
    assert coffre.keyring.store.count_data_keys() == 0
    [entry] = _journal(coffre)
    assert (entry.action, entry.outcome) == ("records:patient:import", "failed")


def test_skip_invalid_imports_the_valid_lines_and_reports_the_rest(coffre, operator, organisation):
    lines = [patient(family="Garnier"), "[]", patient(family="Fontaine")]
    report = records.import_patients(
        coffre.uow(), coffre.vault, operator, lines_of(lines), organisation, skip_invalid=True
    )
    assert [line for line, _ in report.imported] == [1, 3]
    assert [(e.line, e.reason) for e in report.invalid] == [(2, "not a JSON object")]
    assert _count(coffre, "patients") == 2


def test_duplicates_are_reported_not_doubled(coffre, operator, organisation):
    same = (records.NIR_SYSTEM, nir(serial=555))
    first = records.import_patients(
        coffre.uow(),
        coffre.vault,
        operator,
        lines_of([patient(national=same), patient(national=same)]),
        organisation,
    )
    assert len(first.imported) == 1
    assert first.duplicates == [(2, "same national identifier as line 1")]
    again = records.import_patients(
        coffre.uow(), coffre.vault, operator, lines_of([patient(national=same)]), organisation
    )
    assert again.imported == []
    assert again.duplicates == [(1, f"same national identifier as patient {first.imported[0][1]}")]
    assert _count(coffre, "patients") == 1
    assert coffre.keyring.store.count_data_keys() == 1


def test_a_search_needs_exactly_one_criterion(coffre, operator):
    with pytest.raises(InvalidQuery):
        records.find_patients(coffre.uow(), coffre.vault, operator, FindCriteria())
    with pytest.raises(InvalidQuery):
        records.find_patients(
            coffre.uow(),
            coffre.vault,
            operator,
            FindCriteria(email="a@example.org", phone="+33612345678"),
        )
    with pytest.raises(InvalidQuery):
        records.find_patients(
            coffre.uow(),
            coffre.vault,
            operator,
            FindCriteria(family="Durand", birth_date="12/05/1985"),
        )


def test_a_stranger_is_denied_and_the_denial_is_journaled(coffre, operator, stranger, organisation):
    records.import_patients(
        coffre.uow(), coffre.vault, operator, lines_of([patient()]), organisation
    )
    with pytest.raises(AccessDenied) as caught:
        records.find_patients(
            coffre.uow(), coffre.vault, stranger, FindCriteria(email="person@example.org")
        )
    assert caught.value.rule == "default-deny"
    last = _journal(coffre)[-1]
    assert (last.action, last.decision, last.outcome) == (
        "records:patient:search",
        "deny",
        "denied",
    )
    with pytest.raises(AccessDenied):
        records.import_patients(
            coffre.uow(), coffre.vault, stranger, lines_of([patient()]), organisation
        )
    assert _count(coffre, "patients") == 1


def test_a_file_that_changes_during_the_import_imports_nothing(coffre, operator, organisation):
    versions = iter([[json.dumps(patient(family="Avant"))], [json.dumps(patient(family="Apres"))]])
    with pytest.raises(records.ImportSourceChanged):
        records.import_patients(
            coffre.uow(), coffre.vault, operator, lambda: iter(next(versions)), organisation
        )
    assert _count(coffre, "patients") == 0
    assert coffre.keyring.store.count_data_keys() == 0
