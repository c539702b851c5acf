"""`dlq show` and `dlq list` mask e-mail addresses and phone numbers wherever they are (the
event's properties and context, the provider's reason), unless `show --reveal`."""

from __future__ import annotations

import json
from pathlib import Path

import redis

from tests.helpers import enqueue_call
from tests.ops.support import cli, offline_env
from tracking_worker.keys import Keys
from tracking_worker.store.lua_scripts import Scripts
from tracking_worker.store.queue import DeadEvent, ProviderQueue, Settlement
from tracking_worker.worker.observability import mask_phones

EVENT = {
    "event_id": "e-phone",
    "name": "purchase",
    "occurred_at": "2024-01-01T10:00:00.000+00:00",
    "email": "ann@example.test",
    "properties": {"phone": 79123456789, "note": "call me on +49 170 1234567"},
    "context": {"support": "(415) 555-2671", "order": "A-123-4"},
}
REASON = "VibeTrace: user ann@example.test (tel. 415-555-2671) not found"


def test_show_masks_phones_and_emails_unless_revealed(redis_url: str, tmp_path: Path) -> None:
    queue = ProviderQueue(redis.Redis.from_url(redis_url), Scripts(), Keys("vibetrace"))
    queue.scripts.call(queue.client, enqueue_call([json.dumps(EVENT)]), queue.keys)
    batch = queue.claim(lease=30, size=10, flush=True, wait=0)
    assert batch is not None
    dead = DeadEvent(batch.events[0], REASON, "rejected", 400, '{"phone": "+7 912 345-67-89"}')
    assert queue.settle(batch, Settlement(dead=[dead]))
    env = offline_env(redis_url, tmp_path)

    shown = cli(env, "dlq", "show", "e-phone", "--provider", "vibetrace")
    assert shown.returncode == 0, shown.stderr
    entry = json.loads(shown.stdout)
    event = entry["event"]
    assert event["properties"] == {"phone": "***89", "note": "call me on +***67"}
    assert event["context"] == {"support": "***71", "order": "A-123-4"}
    assert event["email"] == "a***@example.test"
    assert entry["reason"] == "VibeTrace: user a***@example.test (tel. ***71) not found"
    assert "345-67-89" not in entry["excerpt"]
    revealed = json.loads(cli(env, "dlq", "show", "e-phone", "--reveal").stdout)
    assert revealed["event"]["properties"] == EVENT["properties"]
    assert revealed["reason"] == REASON

    listed = cli(env, "dlq", "list", "--provider", "vibetrace").stdout
    assert "415-555-2671" not in listed and "ann@example.test" not in listed
    as_json = cli(env, "dlq", "list", "--json").stdout
    assert "79123456789" not in as_json and "1234567" not in as_json


def test_what_is_not_a_phone_number_is_left_alone() -> None:
    for text in ("1700000000000-0", "2024-01-01T10:00:00.000+00:00", "order A-123", "+1234"):
        assert mask_phones(text) == text
    assert mask_phones("+14155552671 and 415.555.2671") == "+***71 and ***71"
