"""A person's identifiers hash alike from an event and from ``suppress()``'s arguments."""

from __future__ import annotations

import pytest

from tracking_worker.errors import ValidationError
from tracking_worker.events import Event
from tracking_worker.people import MEMBER_BYTES, event_members, given_members, member, shown


def event(**ids: object) -> Event:
    return Event("e1", "purchase", "2024-01-01T00:00:00.000+00:00", **ids)  # type: ignore[arg-type]


def test_an_event_and_the_suppress_arguments_give_the_same_members() -> None:
    ids = {"telegram_id": 42, "email": "Ann@Example.com", "user_id": "u-1", "visitor_id": "v-1"}
    assert event_members(event(**ids)) == b"".join(given_members(ids))


def test_emails_match_in_any_case_and_with_spaces_around() -> None:
    assert member("email", "  ANN@example.COM ") == member("email", "ann@example.com")
    assert given_members({"email": " Ann@Example.com"}) == [member("email", "ann@example.com")]


def test_a_member_names_its_kind_and_never_the_value() -> None:
    stored = member("telegram_id", "123456789")
    assert len(stored) == MEMBER_BYTES and b"123456789" not in stored
    kind, _, digest = shown(stored).partition(":")
    assert kind == "telegram_id" and len(digest) == 16 and "123456789" not in digest
    # Each kind is hashed with its name: one value under two kinds is two people.
    assert member("user_id", "123456789")[1:] != stored[1:]


def test_telegram_ids_are_the_same_person_as_int_or_digits() -> None:
    assert given_members({"telegram_id": "42"}) == given_members({"telegram_id": 42})
    assert given_members({"user_id": 7}) == [member("user_id", "7")]  # as track() stores it


def test_an_event_without_identifiers_has_no_members() -> None:
    assert event_members(event()) == b""


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({}, "person"),
        ({"telegram_id": 0}, "telegram_id"),
        ({"telegram_id": True}, "telegram_id"),
        ({"telegram_id": "abc"}, "telegram_id"),
        ({"email": "   "}, "email"),
        ({"user_id": ""}, "user_id"),
    ],
)
def test_bad_or_missing_identifiers_are_refused(given: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        given_members(given)
    assert field in caught.value.errors
