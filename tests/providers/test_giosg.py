"""Giosg: goal-match mapping, skip rules, the two kinds of 404, settings."""

from __future__ import annotations

from typing import Any

import pytest

from tests.providers.support import (
    TRANSIENT,
    answer,
    assert_bad_settings,
    assert_classified,
    assert_post,
    assert_skip_reason,
    assert_transient,
    event_factory,
    load_provider,
)
from tracking_worker.events import Event
from tracking_worker.outcomes import Configuration, Credentials, Delivered, NotYet, Reject
from tracking_worker.providers import REGISTRY, HttpResponse
from tracking_worker.providers.giosg import Giosg

ORG = "ac83d426-be80-4d75-8c62-49a77f98468e"
GOAL = "4d0648b8-9074-11e6-963e-f45c89c72de3"
LEAD_GOAL = "5e1759c9-9074-11e6-963e-f45c89c72de3"
ROOMS = ["e6a850ca-e1d3-11e4-9706-38b1dbe48b5b", "f7b961db-e1d3-11e4-9706-38b1dbe48b5b"]
SETTINGS = {
    "token": "giosg-secret-token",
    "organization_id": ORG,
    "goals": {"purchase": GOAL, "lead": LEAD_GOAL},
    "rooms": ROOMS,
}
HEADERS = {"Authorization": "Token giosg-secret-token", "Content-Type": "application/json"}


def provider(**settings: Any) -> Giosg:
    return load_provider(Giosg, SETTINGS, **settings)


event = event_factory(
    occurred_at="2016-10-10T22:00:49.123+00:00",
    visitor_id="customer-12345678",
    value=123.45,
    currency="EUR",
)


MAPPING = [
    pytest.param(
        event(),
        GOAL,
        {
            "visitor_identity": "customer-12345678",
            "goal_matched_at": "2016-10-10T22:00:49.123+00:00",
            "rooms": ROOMS,
            "goal_value": "123.45",
        },
        id="with-value",
    ),
    pytest.param(
        event(name="lead", value=None, currency=None),
        LEAD_GOAL,
        {
            "visitor_identity": "customer-12345678",
            "goal_matched_at": "2016-10-10T22:00:49.123+00:00",
            "rooms": ROOMS,
        },
        id="without-value-giosg-uses-goal-default",
    ),
]


@pytest.mark.parametrize(("given", "goal", "body"), MAPPING)
def test_maps_one_event_to_one_goal_match(given: Event, goal: str, body: dict[str, Any]) -> None:
    request = provider().build_request([given])
    url = f"https://service.giosg.com/api/v5/orgs/{ORG}/goals/{goal}/matches"
    assert_post(request, url, HEADERS, body)


def test_base_url_is_configurable() -> None:
    url = provider(base_url="http://localhost:8083").build_request([event()]).url
    assert url == f"http://localhost:8083/api/v5/orgs/{ORG}/goals/{GOAL}/matches"


SKIPS = [
    pytest.param(event(name="signup"), "no goal", id="no-goal-for-name"),
    pytest.param(event(visitor_id=None), "no visitor_id", id="no-visitor-id"),
    pytest.param(event(), None, id="complete"),
]


@pytest.mark.parametrize(("given", "reason"), SKIPS)
def test_skip_reason(given: Event, reason: str | None) -> None:
    assert_skip_reason(provider().skip_reason(given), reason)


CLASSIFY = [
    (answer(200, {}), Delivered, None),
    (answer(201, ""), Delivered, None),
    (
        answer(400, {"visitor_identity": ["This field is required."]}),
        Reject,
        "giosg: visitor_identity: This field is required.",
    ),
    (answer(400, {"detail": "JSON parse error"}), Reject, "JSON parse error"),
    (answer(400, ["Invalid payload"]), Reject, "Invalid payload"),
    (
        answer(401, {"detail": "Authentication credentials were not provided."}),
        Credentials,
        "credentials were not provided",
    ),
    (answer(403, {"detail": "No active subscription."}), Credentials, "subscription"),
    (answer(403, {"detail": "No access to organization."}), Credentials, "organization"),
    (answer(404, {"detail": "Not found."}), Configuration, "goal_not_found: Not found."),
    (answer(404, {"detail": "Goal was not found."}), Configuration, "goal_not_found: Goal was"),
    (
        answer(404, {"detail": "No session found for 'visitor_identity'."}),
        NotYet,
        "no_visitor_session: No session found",
    ),
    (
        answer(404, {"detail": "There is no connected rooms found for visitor session."}),
        Configuration,
        "There is no connected rooms",
    ),
    (answer(404, {"detail": "Unknown visitor_identity."}), NotYet, "no_visitor_session: Unknown"),
    (answer(404, {"detail": "No connected rooms found."}), Configuration, "No connected rooms"),
    (answer(405, "Method Not Allowed"), Reject, "Method Not Allowed"),
]


@pytest.mark.parametrize(("response", "kind", "text"), CLASSIFY)
def test_classify(response: HttpResponse, kind: type, text: str | None) -> None:
    assert_classified(provider(), response, kind, text)


@pytest.mark.parametrize(
    ("detail", "prefix"),
    [
        ("Not found.", "goal_not_found:"),
        ("No session found for 'visitor_identity'.", "no_visitor_session:"),
    ],
)
def test_the_two_404s_get_distinct_named_reasons(detail: str, prefix: str) -> None:
    outcome = provider().classify(answer(404, {"detail": detail}))
    assert isinstance(outcome, NotYet | Configuration)
    assert outcome.reason.startswith(prefix)


@pytest.mark.parametrize(
    ("detail", "setting", "per_route"),
    [
        ("Goal was not found.", "goals", True),
        ("There is no connected rooms found for visitor session.", "rooms", False),
    ],
)
def test_a_wrong_setting_pauses_its_route_or_the_provider(
    detail: str, setting: str, per_route: bool
) -> None:
    outcome = provider().classify(answer(404, {"detail": detail}))
    assert isinstance(outcome, Configuration)
    assert (outcome.setting, outcome.per_route, outcome.route) == (setting, per_route, None)


@pytest.mark.parametrize(("response", "text", "after", "throttled"), TRANSIENT)
def test_transient(response: HttpResponse, text: str, after: float | None, throttled: bool) -> None:
    assert_transient(provider(), response, text, after, throttled)


def test_uuids_are_kept_as_canonical_text() -> None:
    loaded = Giosg.schema().load(
        {
            "token": "t",
            "organization_id": ORG.upper(),
            "goals": {"purchase": GOAL.upper()},
            "rooms": [ROOMS[0].upper()],
        }
    )
    assert loaded.organization_id == ORG
    assert loaded.goals == {"purchase": GOAL}
    assert loaded.rooms == [ROOMS[0]]
    assert loaded.base_url == "https://service.giosg.com"


def test_secrets_and_registry() -> None:
    assert provider().secrets == ["giosg-secret-token"]
    assert provider().batch_size == 1
    assert REGISTRY["giosg"] is Giosg


BAD_SETTINGS = [
    pytest.param({"token": None}, "token", id="missing-token"),
    pytest.param({"token": ""}, "token", id="empty-token"),
    pytest.param({"organization_id": None}, "organization_id", id="missing-org"),
    pytest.param({"goals": None}, "goals", id="missing-goals"),
    pytest.param({"rooms": None}, "rooms", id="missing-rooms"),
    pytest.param({"rooms": []}, "rooms", id="empty-rooms"),
    pytest.param({"rooms": ["lobby"]}, "rooms", id="room-not-uuid"),
    pytest.param({"rooms": ROOMS[0]}, "rooms", id="rooms-not-list"),
    pytest.param({"goals": {"purchase": "42"}}, "goals", id="goal-not-uuid"),
    pytest.param({"organization_id": "acme"}, "organization_id", id="org-not-uuid"),
    pytest.param({"room": ROOMS}, "room", id="unknown-key"),
]


@pytest.mark.parametrize(("change", "key"), BAD_SETTINGS)
def test_bad_settings_name_the_key(change: dict[str, Any], key: str) -> None:
    assert_bad_settings(Giosg.schema, SETTINGS, change, key)
