"""The dry-run sender and the settings that choose it: each request rendered and logged in one
line per batch, secrets masked, nothing sent; a mapping's poison still dead alone."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from tracking_worker.delivery.deliverer import RunReport
from tracking_worker.delivery.dry_run import DryRunSender
from tracking_worker.delivery.transport import Transport
from tracking_worker.errors import ConfigurationError
from tracking_worker.events import Event
from tracking_worker.keys import Keys
from tracking_worker.outcomes import Delivered, MappingFailed
from tracking_worker.providers import HttpRequest, Provider
from tracking_worker.providers.graspil import Graspil
from tracking_worker.redact import Redactor
from tracking_worker.sandbox import SandboxServer, provider_settings
from tracking_worker.settings import build_settings
from tracking_worker.store.lua_scripts import Scripts
from tracking_worker.store.queue import ProviderQueue, Settlement
from tracking_worker.store.receipts import read_receipts

KEY = "graspil-live-key-5e1b"


def events(*names: str) -> list[tuple[str, Event]]:
    made = [
        Event(
            event_id=f"e-{i}",
            name=name,
            occurred_at="2025-04-01T10:33:19.534+00:00",
            telegram_id=i + 1,
        )
        for i, name in enumerate(names)
    ]
    return [(e.to_json(), e) for e in made]


def providers(sandbox_url: str) -> dict[str, Provider]:
    sections = provider_settings(sandbox_url)
    sections["graspil"]["api_key"] = KEY
    return build_settings({"providers": sections}).build_providers()


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as pool:
        yield pool


def sender(provider: Provider, pool: ThreadPoolExecutor) -> DryRunSender:
    transport = Transport(max_connections=2, timeout=(1.0, 1.0))
    return DryRunSender(provider, transport, pool, redact=Redactor(provider.secrets))


@pytest.mark.parametrize(("name", "requests"), [("graspil", 1), ("grampixel", 3)])
def test_every_request_is_rendered_and_logged_in_one_line_and_none_is_sent(
    name: str,
    requests: int,
    sandbox: SandboxServer,
    executor: ThreadPoolExecutor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = providers(sandbox.url)[name]
    with caplog.at_level(logging.INFO, "tracking_worker.delivery"):
        sent = sender(provider, executor).send(
            events("purchase", "purchase", "registration"), keep_alive=lambda: True
        )
    assert [type(outcome) for _, outcome in sent.results] == [Delivered] * 3
    assert sent.requests == 0 and sandbox.requests() == []
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith(f"{name}: dry run: 3 event(s) as {requests} request(s), not sent: POST ")
    assert line.count(f"POST {sandbox.url}") == requests
    assert KEY not in line


class _PoisonedBy(Graspil):
    """Graspil whose mapping raises on an event named ``poison``."""

    def build_request(self, items: Sequence[Event]) -> HttpRequest:
        if any(e.name == "poison" for e in items):
            raise ValueError(f"cannot map (key {self.settings.api_key})")
        return super().build_request(items)


def test_a_mapping_that_raises_is_dead_alone_and_the_rest_rendered(
    executor: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    settings = build_settings(
        {"providers": {"graspil": {"api_key": KEY, "targets": {"purchase": 1, "poison": 2}}}}
    )
    provider = _PoisonedBy(settings.providers["graspil"])
    with caplog.at_level(logging.INFO, "tracking_worker.delivery"):
        sent = sender(provider, executor).send(
            events("purchase", "poison", "purchase", "purchase"), keep_alive=lambda: True
        )
    kinds = [type(outcome) for _, outcome in sent.results]
    assert kinds == [Delivered, MappingFailed, Delivered, Delivered]
    [line] = [r.getMessage() for r in caplog.records]
    assert "(1 the mapping failed on: dead)" in line and KEY not in line
    assert KEY not in str(sent.results[1][1])


def test_the_mode_is_send_or_dry_run_globally_and_per_provider() -> None:
    graspil = {"api_key": KEY, "targets": {"purchase": 1}}
    settings = build_settings(
        {"delivery": {"mode": "dry_run"}, "providers": {"graspil": {**graspil, "mode": "send"}}}
    )
    assert settings.delivery.mode == "dry_run" and settings.providers["graspil"].mode == "send"
    assert build_settings({}).delivery.mode == "send"
    with pytest.raises(ConfigurationError, match=r"^delivery\.mode: Must be one of: send, dry_run"):
        build_settings({"delivery": {"mode": "dry-run"}})
    with pytest.raises(ConfigurationError, match=r"^providers\.graspil\.mode: Must be one of"):
        build_settings({"providers": {"graspil": {**graspil, "mode": "off"}}})


def test_settle_counts_and_receipts_a_dry_run_apart_from_deliveries(
    redis_client: redis.Redis,
) -> None:
    keys = Keys("graspil")
    queue = ProviderQueue(redis_client, Scripts(), keys, receipts_ttl=600)
    raws = [raw for raw, _ in events("purchase", "purchase")]
    redis_client.rpush(keys.pending, *raws)
    batch = queue.claim(lease=30, size=2, flush=True, wait=0)
    assert batch is not None
    done = Settlement(delivered=2, delivered_ids=["e-0", "e-1"], delivered_as="dry_run")
    assert queue.settle(batch, done)
    counts = queue.counts()
    assert (counts["dry_run"], counts["delivered"], counts["leased_batches"]) == (2, 0, 0)
    found = read_receipts(redis_client, {"graspil": keys}, "e-1", 600)
    assert found["graspil"]["state"] == "dry_run"


def test_a_runs_report_counts_a_dry_run_apart_from_deliveries() -> None:
    """What a deliver task returns (Flower shows it): a dry run delivered nothing."""
    report = RunReport()
    report.count(Settlement(delivered=3, delivered_as="dry_run"))
    report.count(Settlement(delivered=2))
    assert (report.batches, report.dry_run, report.delivered) == (2, 3, 2)
