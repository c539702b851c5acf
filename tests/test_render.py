"""render.py: each provider's request for one event with its secrets masked, or why it is
skipped; the one rendering behind ``tracking-worker render``, ``tracked`` and a dry run."""

from __future__ import annotations

import json
from collections.abc import Sequence

from tracking_worker.events import Event
from tracking_worker.providers import HttpRequest
from tracking_worker.providers.graspil import Graspil
from tracking_worker.redact import MASK, Redactor
from tracking_worker.render import Renderer, rendered
from tracking_worker.sandbox import provider_settings
from tracking_worker.settings import build_settings

KEY = "graspil-secret-4b1d"
TOKEN = "tga-secret-77aa"


def providers() -> Renderer:
    sections = provider_settings("https://example.test")
    sections["graspil"]["api_key"] = KEY
    sections["tganalytics"]["token"] = TOKEN
    return Renderer(build_settings({"providers": sections}).build_providers())


def event(**fields: object) -> Event:
    return Event(
        event_id="e-1", name="purchase", occurred_at="2025-04-01T10:33:19.534+00:00", **fields
    )  # type: ignore[arg-type]


def test_each_routed_provider_gets_its_request_and_the_others_their_skip_reason() -> None:
    got = providers().render(event(telegram_id=5, value=9.99, currency="USD"))
    graspil = got.requests["graspil"]
    assert (graspil.method, graspil.url) == ("POST", "https://example.test/v1/send-target")
    assert graspil.json == [
        {
            "target_id": 12,
            "user_id": 5,
            "date": "2025-04-01T10:33:19.534+00:00",
            "value": 9.99,
            "unit": "USD",
        }
    ]
    assert set(got.requests) == {"graspil", "grampixel"}
    assert got.skipped == {
        "tganalytics": "no miniapp_session_id (TG Analytics needs the Mini App session UUID)",
        "giosg": "no visitor_id (giosg visitor_identity)",
        "vibetrace": "no email or user_id (VibeTrace identifies users by them)",
    }


def test_only_the_providers_asked_for_are_rendered() -> None:
    got = providers().render(event(telegram_id=5), ["grampixel", "giosg"])
    assert list(got.requests) == ["grampixel"] and list(got.skipped) == ["giosg"]


def test_secrets_are_masked_in_headers_and_never_anywhere_in_the_rendering() -> None:
    got = providers().render(
        event(telegram_id=5, miniapp_session_id="1b4e28ba-2fa1-11d2-883f-0016d3cca427")
    )
    assert got.requests["graspil"].headers["Api-Key"] == MASK
    assert got.requests["tganalytics"].headers["TGA-Auth-Token"] == MASK
    shown = json.dumps([r.as_dict() for r in got.requests.values()]) + " ".join(
        r.line() for r in got.requests.values()
    )
    assert KEY not in shown and TOKEN not in shown


def test_a_secret_in_the_url_or_the_body_is_masked_and_the_body_stays_json() -> None:
    request = HttpRequest(
        "POST",
        f"https://example.test/hook?key={KEY}",
        {"Authorization": f"Bearer {KEY}"},
        {"auth": KEY, "items": [{"note": f'say "{KEY}"'}]},
    )
    got = rendered(request, Redactor([KEY]))
    assert got.url == f"https://example.test/hook?key={MASK}"
    assert got.headers == {"Authorization": f"Bearer {MASK}"}
    assert got.json == {"auth": MASK, "items": [{"note": f'say "{MASK}"'}]}


def test_a_long_body_is_cut_in_the_one_line_form_only() -> None:
    request = rendered(HttpRequest("POST", "https://x.test", {}, ["a" * 50]), Redactor([]))
    assert request.line(10) == 'POST https://x.test {} ["aaaaaaaa...(+44 chars)'
    assert request.line().endswith('"]')


class _Broken(Graspil):
    def build_request(self, events: Sequence[Event]) -> HttpRequest:
        raise KeyError(f"no such field (key {self.settings.api_key})")


def test_a_mapping_that_raises_is_shown_as_a_skip_with_its_error_and_no_secret() -> None:
    settings = build_settings({"providers": {"graspil": {"api_key": KEY, "targets": {"p": 1}}}})
    broken = _Broken(settings.providers["graspil"])
    got = Renderer({"graspil": broken}).render(
        Event(event_id="e", name="p", occurred_at="2025-04-01T10:33:19.534+00:00", telegram_id=1)
    )
    assert got.requests == {}
    assert got.skipped["graspil"].startswith("mapping failed: KeyError: ")
    assert KEY not in got.skipped["graspil"] and MASK in got.skipped["graspil"]
