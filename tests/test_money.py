"""Amounts in the form each API documents, and the currencies track() takes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.providers import test_giosg, test_grampixel, test_graspil, test_vibetrace
from tracking_worker import money
from tracking_worker.errors import ValidationError
from tracking_worker.event_fields import Event
from tracking_worker.events import EventSchema, normalize

#: Every finite non-negative float, as track() takes them.
AMOUNTS = st.floats(min_value=0, allow_nan=False, allow_infinity=False)
SPECIAL = [0.1 + 0.2, 19.999, 1e21, 5e-324, 2.675, 1.7976931348623157e308, 12345678901234.567]


def track(**data: Any) -> Event:
    """The event ``track()`` would enqueue for ``data``."""
    return normalize({"name": "purchase", **data}, EventSchema(), now=1_750_000_000.0).event


def test_the_giosg_document_example_renders_as_written() -> None:
    assert money.decimal_text(123.45) == "123.45"
    assert money.decimal_text(0.1 + 0.2) == "0.30"
    assert money.decimal_text(19.999) == "20.00"
    assert money.decimal_text(1e21) == "1000000000000000000000.00"
    assert money.decimal_text(5e-324) == "0.00"
    assert money.decimal_text(0.125) == "0.12"  # half-even, on the decimal as written


@given(AMOUNTS)
@example(0.1 + 0.2)
@example(1e21)
@example(5e-324)
def test_decimal_text_has_two_places_and_no_exponent(value: float) -> None:
    text = money.decimal_text(value)
    whole, _, cents = text.partition(".")
    assert whole.isdigit() and len(cents) == 2, text
    assert abs(Decimal(text) - Decimal(repr(value))) <= Decimal("0.005")


@given(AMOUNTS, st.sampled_from([0, 2, 3, 4]))
@example(0.1 + 0.2, 2)
@example(19.999, 2)
@example(1e21, 2)
@example(5e-324, 2)
@example(12345678901234.567, 2)
def test_a_json_amount_shows_the_rounded_decimal_exactly(value: float, places: int) -> None:
    """No float artifact: the JSON text is the amount rounded to the currency's places, with
    no exponent; or none at all (the provider skips it with a reason)."""
    number = money.json_number(value, places)
    if number is None:
        return
    text = json.dumps(number)
    assert "e" not in text.lower()
    assert Decimal(text) == money.rounded(value, places)


def _amount_texts(body: Any) -> list[str]:
    """Each amount of a request body, as the JSON text the provider reads."""
    found: list[str] = []
    if isinstance(body, list):
        for item in body:
            found += _amount_texts(item)
    elif isinstance(body, dict):
        for key, value in body.items():
            if key in ("value", "total", "goal_value"):
                found.append(value if isinstance(value, str) else json.dumps(value))
            else:
                found += _amount_texts(value)
    return found


PROVIDERS = [
    pytest.param(test_graspil.provider(), {"telegram_id": 5}, id="graspil"),
    pytest.param(test_grampixel.provider(), {"telegram_id": 5}, id="grampixel"),
    pytest.param(test_giosg.provider(), {"visitor_id": "v-1"}, id="giosg"),
    pytest.param(test_vibetrace.provider(), {"email": "a@b.co", "order_id": "A-1"}, id="vibetrace"),
]


@pytest.mark.parametrize(("provider", "ids"), PROVIDERS)
@pytest.mark.parametrize("currency", ["USD", "JPY", "KWD"])
@given(value=st.one_of(st.sampled_from(SPECIAL), AMOUNTS))
def test_every_provider_sends_amounts_without_float_artifacts(
    provider: Any, ids: dict[str, Any], currency: str, value: float
) -> None:
    event = track(value=value, currency=currency, **ids)
    if provider.skip_reason(event) is not None:
        return  # said why, and sent nothing
    (text,) = _amount_texts(provider.build_request([event]).body)
    places = 2 if provider.name == "giosg" else money.places_of(currency)
    assert "e" not in text.lower() and "E" not in text
    assert Decimal(text) == money.rounded(value, places)
    if provider.name == "giosg":
        assert len(text.partition(".")[2]) == 2  # the document's "123.45"


@pytest.mark.parametrize("code", ["usd", "EUR", "jpy", "XTR", "xtr", "KWD"])
def test_track_takes_iso_4217_codes_and_telegram_stars(code: str) -> None:
    assert track(value=1.0, currency=code).currency == code.upper()


@pytest.mark.parametrize("code", ["ABC", "XXX", "ZZZ", "US1", "usd\n", "XAU"])
def test_track_refuses_three_letters_that_are_no_currency(code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        track(value=1.0, currency=code)
    assert list(caught.value.errors) == ["currency"]


def test_the_shipped_list_is_iso_4217_with_its_minor_units() -> None:
    assert {code: money.ISO_4217[code] for code in ("USD", "JPY", "KWD", "CLF", "EUR")} == {
        "USD": 2,
        "JPY": 0,
        "KWD": 3,
        "CLF": 4,
        "EUR": 2,
    }
    assert "XTR" not in money.ISO_4217 and money.CURRENCIES["XTR"] == 0
    assert all(len(code) == 3 and code.isupper() for code in money.CURRENCIES)


STARS = [
    pytest.param(test_graspil.provider(), {"telegram_id": 5}, None, id="graspil-takes-stars"),
    pytest.param(test_grampixel.provider(), {"telegram_id": 5}, "XTR", id="grampixel-iso-only"),
    pytest.param(test_giosg.provider(), {"visitor_id": "v"}, "Telegram Stars", id="giosg-money"),
    pytest.param(
        test_vibetrace.provider(), {"email": "a@b.co", "order_id": "A"}, "XTR", id="vibetrace"
    ),
]


@pytest.mark.parametrize(("provider", "ids", "reason"), STARS)
def test_an_amount_in_stars_is_skipped_with_the_reason_where_not_taken(
    provider: Any, ids: dict[str, Any], reason: str | None
) -> None:
    event = track(value=50, currency="xtr", **ids)
    found = provider.skip_reason(event)
    if reason is None:
        assert found is None
        (text,) = _amount_texts(provider.build_request([event]).body)
        assert text == "50"  # whole stars
    else:
        assert found is not None and reason in found
