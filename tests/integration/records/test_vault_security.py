"""What a thief or a careless restore gets: nothing readable."""

from __future__ import annotations

import io
import shutil
import threading

import pytest
import sqlalchemy as sa

from coffre import records
from coffre.access import Purpose
from coffre.bootstrap import open_coffre
from coffre.crypto import DecryptionFailed, KeyDestroyed
from coffre.journal import JournalWriteFailed
from coffre.records import ErasureReason, FindCriteria
from factories import journal_records, lines_of, patient


def _import(coffre, operator, organisation, *people):  # type: ignore[no-untyped-def]
    report = records.import_patients(
        coffre.uow(), coffre.vault, operator, lines_of(list(people)), organisation
    )
    return [pid for _, pid in report.imported]


def _read(coffre, operator, patient_id):  # type: ignore[no-untyped-def]
    return records.read_patient(
        coffre.uow(), coffre.vault, operator, patient_id, Purpose.SUBJECT_ACCESS
    )


def test_a_ciphertext_swapped_between_patients_does_not_open(coffre, operator, organisation):
    a, b = _import(coffre, operator, organisation, patient(family="Aubert"), patient(family="Brun"))
    with coffre.engine.begin() as conn:
        rows = {
            r.id: r for r in conn.execute(sa.text("SELECT id, identity, contact FROM patients"))
        }
        conn.execute(
            sa.text("UPDATE patients SET identity = :v WHERE id = :id"),
            {"v": rows[b].identity, "id": a},
        )
    coffre.keyring.forget_cache()
    with pytest.raises(DecryptionFailed):
        _read(coffre, operator, a)
    assert _read(coffre, operator, b)["name"][0]["family"] == "Brun"


def test_a_ciphertext_moved_to_another_column_of_the_same_row_does_not_open(
    coffre, operator, organisation
):
    [a] = _import(coffre, operator, organisation, patient(family="Aubert"))
    with coffre.engine.begin() as conn:
        conn.execute(sa.text("UPDATE patients SET contact = identity WHERE id = :id"), {"id": a})
    with pytest.raises(DecryptionFailed):
        _read(coffre, operator, a)


def test_a_ciphertext_moved_to_another_organisation_does_not_open(coffre, operator, organisation):
    from coffre import identity
    from coffre.identity import OrganisationKind

    [a] = _import(coffre, operator, organisation, patient(family="Aubert"))
    with coffre.uow() as uow:
        other = identity.create_organisation(uow, "Other", OrganisationKind.CARE_PROVIDER, "BE")
        uow.commit()
    with coffre.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE patients SET organisation_id = :o WHERE id = :id"),
            {"o": other.id, "id": a},
        )
    with pytest.raises(DecryptionFailed):
        _read(coffre, operator, a)


def test_an_old_copy_of_the_database_cannot_read_an_erased_patient(coffre, operator, organisation):
    [gone, kept] = _import(
        coffre, operator, organisation, patient(family="Aubert"), patient(family="Brun")
    )
    with coffre.engine.connect() as conn:
        backup = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM patients"))]
    records.erase_patient(coffre.uow(), coffre.vault, operator, gone, ErasureReason.SUBJECT_REQUEST)
    # Restore the old copy's rows, as a backup restored over the live database would.
    with coffre.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM erasures"))
        conn.execute(sa.text("DELETE FROM patients"))
        for row in backup:
            conn.execute(
                sa.text(
                    "INSERT INTO patients (id, organisation_id, key_version, version, created_at, "
                    "updated_at, identity, contact) VALUES (:id, :organisation_id, :key_version, "
                    ":version, :created_at, :updated_at, :identity, :contact)"
                ),
                row,
            )
    with pytest.raises(KeyDestroyed):
        _read(coffre, operator, gone)
    assert _read(coffre, operator, kept)["name"][0]["family"] == "Brun"


def test_an_old_sqlite_file_with_the_current_key_store_cannot_read_an_erased_patient(
    sqlite_settings, tmp_path
):
    from coffre import identity
    from coffre.identity import OrganisationKind, local_operator
    from conftest import _installed

    installed = _installed(sqlite_settings)
    coffre = next(installed)
    with coffre.uow() as uow:
        org = identity.create_organisation(uow, "C", OrganisationKind.CARE_PROVIDER, "FR").id
        uow.commit()
    operator = local_operator(org)
    [gone] = _import(coffre, operator, org, patient(family="Aubert"))
    coffre.close()
    database = sqlite_settings.home / "coffre.db"
    old = tmp_path / "old-copy.db"
    shutil.copy(database, old)
    coffre = open_coffre(sqlite_settings)
    records.erase_patient(coffre.uow(), coffre.vault, operator, gone, ErasureReason.SUBJECT_REQUEST)
    coffre.close()
    # The old file replaces the live one; the key store is the current one.
    shutil.copy(old, database)
    for suffix in ("-wal", "-shm"):
        (database.parent / f"coffre.db{suffix}").unlink(missing_ok=True)
    coffre = open_coffre(sqlite_settings)
    try:
        with pytest.raises(KeyDestroyed):
            _read(coffre, operator, gone)
    finally:
        coffre.close()


def test_a_key_store_restored_from_before_an_erasure_is_shredded_again(sqlite_settings, tmp_path):
    from coffre import identity
    from coffre.identity import OrganisationKind, local_operator
    from conftest import _installed

    coffre = next(_installed(sqlite_settings))
    with coffre.uow() as uow:
        org = identity.create_organisation(uow, "C", OrganisationKind.CARE_PROVIDER, "FR").id
        uow.commit()
    operator = local_operator(org)
    [gone, kept] = _import(coffre, operator, org, patient(family="Aubert"), patient(family="Brun"))
    keystore = sqlite_settings.home / "keys" / "keystore.db"
    coffre.close()
    shutil.copy(keystore, tmp_path / "keystore-before.db")
    coffre = open_coffre(sqlite_settings)
    records.erase_patient(coffre.uow(), coffre.vault, operator, gone, ErasureReason.SUBJECT_REQUEST)
    coffre.close()
    shutil.copy(tmp_path / "keystore-before.db", keystore)
    assert keystore.read_bytes() != b""
    coffre = open_coffre(sqlite_settings)  # reconciles on open
    try:
        assert coffre.keyring.store.subjects_with_keys([gone, kept]) == [kept]
        last = journal_records(coffre)[-1]
        assert last.action == "keys:data-key:destroy"
        assert gone in last.patient_ids
    finally:
        coffre.close()


def _break_journal(coffre) -> None:  # type: ignore[no-untyped-def]
    with coffre.engine.begin() as conn:
        if coffre.engine.dialect.name == "sqlite":
            conn.execute(
                sa.text(
                    "CREATE TRIGGER no_journal BEFORE INSERT ON journal_entries "
                    "BEGIN SELECT RAISE(ABORT, 'journal disk full'); END"
                )
            )
        else:
            conn.execute(
                sa.text(
                    "CREATE FUNCTION no_journal() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'journal disk full'; END $$"
                )
            )
            conn.execute(
                sa.text(
                    "CREATE TRIGGER no_journal BEFORE INSERT ON journal_entries "
                    "FOR EACH ROW EXECUTE FUNCTION no_journal()"
                )
            )


def test_when_the_journal_cannot_be_written_nothing_happens_and_nothing_is_returned(
    coffre, operator, organisation
):
    [a] = _import(coffre, operator, organisation, patient(family="Aubert", email="a@example.org"))
    _break_journal(coffre)
    out = io.BytesIO()
    with pytest.raises(JournalWriteFailed):
        records.export_patient(coffre.uow(), coffre.vault, operator, a, Purpose.SUBJECT_ACCESS, out)
    assert out.getvalue() == b""
    with pytest.raises(JournalWriteFailed):
        _read(coffre, operator, a)
    with pytest.raises(JournalWriteFailed):
        records.find_patients(
            coffre.uow(), coffre.vault, operator, FindCriteria(email="a@example.org")
        )
    with pytest.raises(JournalWriteFailed):
        _import(coffre, operator, organisation, patient(family="Brun"))
    with pytest.raises(JournalWriteFailed):
        records.erase_patient(coffre.uow(), coffre.vault, operator, a, ErasureReason.DUPLICATE)
    with coffre.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM patients")).scalar_one() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM erasures")).scalar_one() == 0
        assert conn.execute(sa.text("SELECT size FROM journal_head")).scalar_one() == 2
    # The failed import left no data key behind, and the erased-but-not-committed patient
    # still has its key.
    assert coffre.keyring.store.count_data_keys() == 1
    assert coffre.keyring.store.subjects_with_keys([a]) == [a]


def test_concurrent_appends_keep_the_journal_gapless_and_linear(coffre, operator, organisation):
    people = [patient(family=f"Famille{i}") for i in range(8)]
    errors: list[BaseException] = []

    def work(chunk):  # type: ignore[no-untyped-def]
        try:
            for person in chunk:
                _import(coffre, operator, organisation, person)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(people[i::2],)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with coffre.engine.connect() as conn:
        seqs = list(conn.execute(sa.text("SELECT seq FROM journal_entries ORDER BY seq")).scalars())
        size = conn.execute(sa.text("SELECT size FROM journal_head")).scalar_one()
    assert seqs == list(range(16)) and size == 16
