"""Who a forget is about: the identifiers given, checked, and in the form the scripts take."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tracking_worker.errors import PersonError
from tracking_worker.person import Person, fold_email


def test_identifiers_are_taken_one_or_several_and_e_mails_folded() -> None:
    person = Person.of(telegram_id=[5, 6], email=" Ann@Example.COM\t", user_id=42, visitor_id="v")
    assert person == Person((5, 6), ("ann@example.com",), ("42",), ("v",))
    assert person.needles()[:6] == ("telegram_id", "5", "5", "telegram_id", "6", "6")
    assert person.needles()[6:9] == ("email", "ann@example.com", '"ann@example.com"')
    assert fold_email(" ÄNN@X.io ") == "Änn@x.io"  # ASCII letters only, as Lua folds them


@pytest.mark.parametrize(
    "given",
    [{}, {"telegram_id": 0}, {"telegram_id": True}, {"telegram_id": "5"}, {"email": " "}],
    ids=["nothing", "id 0", "a bool", "id as text", "blank e-mail"],
)
def test_no_usable_identifier_is_an_error(given: dict[str, Any]) -> None:
    with pytest.raises(PersonError):
        Person.of(**given)


def test_an_event_is_the_person_s_by_its_own_fields_only() -> None:
    ann = Person.of(telegram_id=5, email="ann@example.com")
    assert ann.owns({"telegram_id": 5}) and ann.owns({"email": "ANN@example.com "})
    assert not ann.owns({"telegram_id": 6, "properties": {"telegram_id": 5}})
    assert not ann.owns({"telegram_id": 5.0}) and not ann.owns({"email": None})
    line = json.dumps(
        {"event": {"telegram_id": 51, "email": "Ann@Example.com"}}, separators=(",", ":")
    )
    assert ann.written_in(line[:-2]) and not ann.written_in('{"telegram_id":51,"x')
