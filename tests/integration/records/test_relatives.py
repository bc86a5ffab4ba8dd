"""A professional opening the record of a relative (same family name) or a neighbour (same
address), on SQLite and PostgreSQL: the decision carries `same_family` / `same_address`,
found by comparing blind-index digests; no name or address is stored for the professional
or handed to the database in clear when deciding."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from careworld import World, build_world
from coffre import identity, records
from coffre.access import AccessDenied, Purpose
from coffre.identity import IdentityError
from factories import journal_records, patient

CARE = Purpose.CARE
# The world's patient (factories.patient): Lefèvre, 12 rue des Lilas, 69003 Lyon.
ADDRESS = "12, Rue des LILAS, 69003 Lyon"


@pytest.fixture
def world(coffre) -> World:  # type: ignore[no-untyped-def]
    return build_world(coffre)


def personal(coffre, username, family, address=None):  # type: ignore[no-untyped-def]
    with coffre.uow() as uow:
        account_id = identity.set_personal(uow, coffre.vault.blind, username, family, address)
        uow.commit()
    return account_id


def read(coffre, actor, world):  # type: ignore[no-untyped-def]
    return records.read_record(coffre.uow(), coffre.vault, actor, world.patient_id, CARE)


def last_facts(coffre) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return dict(journal_records(coffre)[-1].facts)


RELATIVES = {"same_family", "same_address"}


def clear(text: str) -> bool:
    """Whether the text holds the patient's family name or address in clear."""
    text = text.casefold()
    return any(word in text for word in ("lefèvre", "lefevre", "lilas", "69003"))


def test_a_professional_of_no_relation_to_the_patient_is_not_marked(coffre, world):
    personal(coffre, "dr.martin", "Martin", "3 avenue Foch, 75016 Paris")
    read(coffre, world.physician, world)
    assert not RELATIVES & last_facts(coffre).keys()
    # No digests kept at all for the receptionist.
    records.read_patient(coffre.uow(), coffre.vault, world.receptionist, world.patient_id, CARE)
    assert not RELATIVES & last_facts(coffre).keys()


def test_a_professional_sharing_the_family_name_is_marked(coffre, world):
    personal(coffre, "dr.martin", "LEFEVRE")  # spelt otherwise: normalised alike
    read(coffre, world.physician, world)
    facts = last_facts(coffre)
    assert facts["same_family"] == "true" and "same_address" not in facts


def test_a_neighbour_is_marked_even_when_refused(coffre, world):
    personal(coffre, "dr.bernard", "Bernard", ADDRESS)
    with pytest.raises(AccessDenied, match="no-care-relationship"):
        read(coffre, world.colleague, world)  # a curious colleague living at the same address
    entry = journal_records(coffre)[-1]
    assert entry.outcome == "denied" and dict(entry.facts)["same_address"] == "true"
    assert "same_family" not in dict(entry.facts)


def test_the_digests_are_compared_never_the_names(coffre, world):
    """The account keeps two HMAC digests, not the name nor the address; deciding hands the
    database ids only; the journal holds neither."""
    account_id = personal(coffre, "dr.martin", "Lefèvre", ADDRESS)
    blind = coffre.vault.blind
    with coffre.engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT * FROM accounts WHERE id = :id"), {"id": account_id}
        ).one()
    assert row.family_digest == blind.family("lefevre") and len(row.family_digest) == 32
    assert row.address_digest == blind.address("12 rue des Lilas", "69003")
    texts = [v for k, v in row._mapping.items() if isinstance(v, str) and k != "password_hash"]
    assert not [t for t in texts if clear(t)]

    sent: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        sent.append(f"{statement} {parameters!r}".casefold())

    sa.event.listen(coffre.engine, "before_cursor_execute", capture)
    try:
        read(coffre, world.physician, world)
    finally:
        sa.event.remove(coffre.engine, "before_cursor_execute", capture)
    assert {"same_family", "same_address"} <= last_facts(coffre).keys()
    assert sent and not [s for s in sent if clear(s)]
    assert not clear(repr(journal_records(coffre)))


def test_a_record_registered_before_the_index_kinds_gets_them_at_its_next_update(coffre, world):
    personal(coffre, "dr.martin", "Lefèvre", ADDRESS)
    with coffre.engine.begin() as conn:  # as a record indexed before revision 0011 is
        conn.execute(sa.text("DELETE FROM patient_index WHERE kind IN ('family', 'address')"))
    read(coffre, world.physician, world)
    assert not RELATIVES & last_facts(coffre).keys()
    records.update_patient(
        coffre.uow(), coffre.vault, world.receptionist, world.patient_id, patient(), CARE
    )
    read(coffre, world.physician, world)
    assert last_facts(coffre).keys() >= RELATIVES


def test_a_patient_registered_at_the_front_desk_is_indexed_for_relatives(coffre, world):
    personal(coffre, "dr.martin", "Nouveau")
    patient_id = records.register_patient(
        coffre.uow(),
        coffre.vault,
        world.receptionist,
        patient(family="Nouveau", given="Arthur", address=None),
        CARE,
    )
    with coffre.engine.connect() as conn:
        kinds = set(
            conn.execute(
                sa.text("SELECT kind FROM patient_index WHERE patient_id = :id"), {"id": patient_id}
            ).scalars()
        )
    assert "family" in kinds and "address" not in kinds  # no address given, none indexed
    with pytest.raises(AccessDenied):
        records.read_record(coffre.uow(), coffre.vault, world.physician, patient_id, CARE)
    assert last_facts(coffre)["same_family"] == "true"


@pytest.mark.parametrize(
    ("family", "address", "match"),
    [
        ("- '", None, "family name"),
        ("Martin", "somewhere without a postcode", "STREET, POSTCODE CITY"),
        ("Martin", "75011 Paris", "STREET, POSTCODE CITY"),
    ],
)
def test_what_cannot_be_compared_is_refused_in_one_sentence(coffre, world, family, address, match):
    with pytest.raises(IdentityError, match=match):
        personal(coffre, "dr.martin", family, address)


def test_an_unknown_account_is_refused(coffre, world):
    with pytest.raises(identity.AccountNotFound):
        personal(coffre, "nobody", "Martin")
