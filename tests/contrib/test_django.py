"""The Django integration, through ``examples/django_site`` and Django's own test client."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

django = pytest.importorskip("django")

from django.core import checks  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections, transaction  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402

import tracking_worker  # noqa: E402
from tests.contrib.support import EXAMPLES, sections  # noqa: E402
from tests.helpers import wait_for  # noqa: E402
from tests.system import System  # noqa: E402
from tracking_worker.events import Event  # noqa: E402
from tracking_worker.keys import Keys  # noqa: E402
from tracking_worker.sandbox import SandboxServer, provider_settings  # noqa: E402

SITE = EXAMPLES / "django_site"
BUYER = 5842703839
DBS = ("default", "other")


@pytest.fixture(scope="module")
def django_site() -> Iterator[None]:
    """The example site, set up once per process as Django must be, on a test database."""
    sys.path.insert(0, str(SITE))
    # Read once, by setup(), and gone again before any worker starts: Celery's Django fixup
    # would set Django up in our workers from an inherited DJANGO_SETTINGS_MODULE.
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.contrib.two_databases"
    try:
        django.setup()
    finally:
        del os.environ["DJANGO_SETTINGS_MODULE"]
    setup_test_environment()
    created = {alias: connections[alias].creation.create_test_db(verbosity=0) for alias in DBS}
    try:
        yield
    finally:
        for alias, name in created.items():
            connections[alias].creation.destroy_test_db(name, verbosity=0)
        teardown_test_environment()
        # Other tests run without Django: no deferral, settings from the environment again.
        tracking_worker.set_deferral(None)
        tracking_worker.use_settings(None)
        sys.path.remove(str(SITE))


@pytest.fixture
def local_settings(redis_url: str, tmp_path: Path) -> dict[str, Any]:
    """Settings on the test Redis and no worker: what track() enqueues stays to be looked at."""
    return {
        "redis": {"url": redis_url},
        "producer": {"spool_dir": str(tmp_path / "spool")},
        "providers": {"graspil": provider_settings("http://127.0.0.1:9")["graspil"]},
    }


def pending(client: redis.Redis) -> list[int | None]:
    raw = client.lrange(Keys("graspil").pending, 0, -1)
    return [Event.from_json(item).telegram_id for item in raw]


def checkout(client: Client, **data: Any) -> Any:
    return client.post("/checkout/", json.dumps(data), content_type="application/json")


def test_a_committed_purchase_reaches_the_provider_a_rolled_back_one_never_leaves(
    django_site: None,
    make_system: Callable[..., System],
    sandbox: SandboxServer,
    redis_client: redis.Redis,
) -> None:
    from shop.models import Order

    system = make_system(providers=["graspil"])
    with override_settings(TRACKING_WORKER=sections(system)):
        client = Client()
        paid = checkout(client, telegram_id=BUYER, amount="19.99", currency="usd")
        declined = checkout(client, telegram_id=13, amount="5.00", currency="usd", card="declined")

        assert paid.status_code == 201, paid.content
        assert declined.status_code == 402
        assert list(Order.objects.values_list("telegram_id", flat=True)) == [BUYER]
        received = wait_for(lambda: sandbox.received("graspil"), 30, message="delivered")
        assert [(item["user_id"], item["value"]) for item in received] == [(BUYER, 19.99)]
        # The declined order's event was never enqueued, not merely late: one event ever
        # entered Redis, and it is delivered (counted once the provider's answer is settled).
        key = Keys("graspil").stats
        wait_for(lambda: redis_client.hget(key, "delivered") == b"1", 30, message="settled")
        assert redis_client.hget(key, "enqueued") == b"1"


class Boom(Exception):
    """Raised inside an atomic block to roll it back."""


def test_inside_atomic_validated_at_once_enqueued_on_commit(
    django_site: None, local_settings: dict[str, Any], redis_client: redis.Redis
) -> None:
    with override_settings(TRACKING_WORKER=local_settings):
        tracking_worker.get_tracker().trigger = lambda name: None
        tracking_worker.track("purchase", telegram_id=1)  # outside a transaction: now
        assert pending(redis_client) == [1]

        with transaction.atomic():
            tracking_worker.track("purchase", telegram_id=2)
            tracking_worker.track_many([{"name": "purchase", "telegram_id": 3}])
            with pytest.raises(tracking_worker.ValidationError):  # raises in the view
                tracking_worker.track("purchase", telegram_id=4, value=5)  # no currency
            tracking_worker.track("purchase", telegram_id=5, on_commit=False)  # now anyway
            with contextlib.suppress(Boom), transaction.atomic():  # a savepoint rolled back
                tracking_worker.track("purchase", telegram_id=6)
                raise Boom
            assert pending(redis_client) == [1, 5]
        assert pending(redis_client) == [1, 5, 2, 3]

        with contextlib.suppress(Boom), transaction.atomic():  # rolled back: never enqueued
            tracking_worker.track("purchase", telegram_id=7)
            raise Boom
        assert pending(redis_client) == [1, 5, 2, 3]


def counted_enqueues() -> list[int]:
    """How many events each enqueue of the default tracker carried, in order (a deferred event
    enqueued twice would show here even where Redis refuses its id the second time)."""
    tracker = tracking_worker.get_tracker()
    tracker.trigger = lambda name: None
    calls: list[int] = []
    enqueue = tracker.enqueue

    def counting(valid: list[Any]) -> None:
        calls.append(len(valid))
        enqueue(valid)

    tracker.enqueue = counting  # type: ignore[method-assign]
    return calls


def test_inside_atomic_on_another_database_enqueued_on_its_commit(
    django_site: None, local_settings: dict[str, Any], redis_client: redis.Redis
) -> None:
    from shop.models import Order

    with override_settings(TRACKING_WORKER=local_settings):
        calls = counted_enqueues()
        with contextlib.suppress(Boom), transaction.atomic(using="other"):
            Order.objects.using("other").create(telegram_id=1, amount=5, currency="usd")
            tracking_worker.track("purchase", telegram_id=1)
            raise Boom
        assert not Order.objects.using("other").exists()
        assert pending(redis_client) == [] and calls == []  # rolled back: neither left

        with transaction.atomic(using="other", durable=True):
            Order.objects.using("other").create(telegram_id=2, amount=5, currency="usd")
            tracking_worker.track("purchase", telegram_id=2)
            assert pending(redis_client) == []
        assert pending(redis_client) == [2] and calls == [1]


def test_with_atomic_blocks_on_two_databases_the_event_waits_for_both(
    django_site: None, local_settings: dict[str, Any], redis_client: redis.Redis
) -> None:
    with override_settings(TRACKING_WORKER=local_settings):
        calls = counted_enqueues()
        with transaction.atomic(using="other"):
            with transaction.atomic():
                tracking_worker.track("purchase", telegram_id=1)
                tracking_worker.track_many([{"name": "purchase", "telegram_id": 2}])
            assert pending(redis_client) == []  # default committed, other still open
        assert pending(redis_client) == [1, 2] and calls == [1, 1]

        with contextlib.suppress(Boom), transaction.atomic(using="other"):
            with transaction.atomic():
                tracking_worker.track("purchase", telegram_id=3)
            raise Boom  # default committed, other rolled back: never sent
        with transaction.atomic(using="other"), contextlib.suppress(Boom), transaction.atomic():
            tracking_worker.track("purchase", telegram_id=4)
            raise Boom  # the other way round
        with transaction.atomic(), transaction.atomic(using="other"):
            with contextlib.suppress(Boom), transaction.atomic(using="other"):
                tracking_worker.track("purchase", telegram_id=5)
                raise Boom  # a savepoint on other rolled back
            tracking_worker.track("purchase", telegram_id=6)
        assert pending(redis_client) == [1, 2, 6] and calls == [1, 1, 1]


def test_a_test_case_capturing_each_database_runs_the_event(
    django_site: None, local_settings: dict[str, Any], redis_client: redis.Redis
) -> None:
    """As the README says: a TestCase on two databases captures on both."""
    from django.test import TestCase

    capture = TestCase.captureOnCommitCallbacks
    with override_settings(TRACKING_WORKER=local_settings):
        calls = counted_enqueues()
        # A TestCase's own blocks, on every database it names, rolled back after the test.
        with contextlib.suppress(Boom), transaction.atomic(), transaction.atomic(using="other"):
            with capture(execute=True), capture(using="other", execute=True):
                tracking_worker.track("purchase", telegram_id=1)
            assert pending(redis_client) == [1] and calls == [1]
            with capture(execute=True):  # only one captured: held by the other still
                tracking_worker.track("purchase", telegram_id=2)
            raise Boom
        assert pending(redis_client) == [1] and calls == [1]


def test_system_checks_name_the_bad_key(django_site: None) -> None:
    def messages(value: Any) -> list[tuple[str, str]]:
        with override_settings(TRACKING_WORKER=value):
            return [(m.id, m.msg) for m in checks.run_checks(tags=["tracking_worker"])]

    assert messages({"delivery": {"flush_interval": -1}}) == [
        ("tracking_worker.E001", "delivery.flush_interval: Must be greater than 0.")
    ]
    ((check_id, text),) = messages({"delivery": {"flush_intervall": 1}})
    assert check_id == "tracking_worker.E001" and "delivery.flush_intervall" in text
    assert [i for i, _ in messages(["redis"])] == ["tracking_worker.E002"]
    assert [i for i, _ in messages({})] == ["tracking_worker.W001"]
    # And track() refuses to run on them, with the same message, rather than fall back.
    with (
        override_settings(TRACKING_WORKER={"delivery": {"flush_interval": -1}}),
        pytest.raises(tracking_worker.ConfigurationError, match=r"delivery\.flush_interval"),
    ):
        tracking_worker.track("purchase", telegram_id=1)


def test_manage_py_check_reports_a_missing_key_with_its_check_id() -> None:
    """As a developer runs it: the example reads its Graspil key from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKING_", "GRASPIL_"))}
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=SITE,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "(tracking_worker.E001) providers.graspil.api_key" in done.stderr
    assert "GRASPIL_API_KEY is not set" in done.stderr


def test_tracking_status_prints_the_table(
    django_site: None, local_settings: dict[str, Any], redis_client: redis.Redis
) -> None:
    with override_settings(TRACKING_WORKER=local_settings):
        tracking_worker.get_tracker().trigger = lambda name: None
        tracking_worker.track("purchase", telegram_id=1)
        out = io.StringIO()
        call_command("tracking_status", stdout=out)
        assert "graspil" in out.getvalue()
        out = io.StringIO()
        call_command("tracking_status", "--json", stdout=out)
        assert json.loads(out.getvalue())["graspil"]["pending"] == 1
