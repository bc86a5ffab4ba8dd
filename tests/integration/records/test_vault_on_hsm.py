"""The whole vault with its KEK in an HSM (SoftHSM2 over PKCS#11) instead of a key file."""

from __future__ import annotations

import pytest

from coffre import identity, records
from coffre.access import Purpose
from coffre.bootstrap import initialise, open_coffre
from coffre.crypto import KeyDestroyed
from coffre.identity import OrganisationKind, local_operator
from coffre.records import ErasureReason, FindCriteria
from conftest import SOFTHSM_LABEL, SOFTHSM_PIN, make_settings
from factories import lines_of, patient


def test_import_find_read_rotate_erase_with_the_kek_in_an_hsm(softhsm_token, tmp_path):
    settings = make_settings(
        tmp_path / "home",
        f"sqlite:///{tmp_path / 'home' / 'coffre.db'}",
        COFFRE_KEY_PROVIDER="pkcs11",
        COFFRE_PKCS11_MODULE=softhsm_token,
        COFFRE_PKCS11_TOKEN=SOFTHSM_LABEL,
        COFFRE_PKCS11_PIN=SOFTHSM_PIN,
    )
    initialise(settings)
    assert not settings.key_file.exists()
    coffre = open_coffre(settings)
    try:
        with coffre.uow() as uow:
            org = identity.create_organisation(uow, "HSM", OrganisationKind.CARE_PROVIDER, "BE")
            uow.commit()
        operator = local_operator(org.id)
        report = records.import_patients(
            coffre.uow(),
            coffre.vault,
            operator,
            lines_of(
                [patient(family="Peeters", email="peeters@example.org"), patient(family="Janssens")]
            ),
            org.id,
        )
        [(_, first), (_, second)] = report.imported
        rotation = records.rotate_keys(coffre.uow(), coffre.vault, operator)
        assert rotation.rewrapped == 2
        assert coffre.keyring.provider.active_kek_id == rotation.kek_id
    finally:
        coffre.close()
    coffre = open_coffre(settings)  # new session with the token; nothing cached
    try:
        assert records.find_patients(
            coffre.uow(), coffre.vault, operator, FindCriteria(email="peeters@example.org")
        ) == [first]
        read = records.read_patient(
            coffre.uow(), coffre.vault, operator, first, Purpose.SUBJECT_ACCESS
        )
        assert read["name"][0]["family"] == "Peeters"
        records.erase_patient(coffre.uow(), coffre.vault, operator, second, ErasureReason.TEST_DATA)
        with pytest.raises(KeyDestroyed):
            coffre.vault.box(org.id, second)
    finally:
        coffre.close()
