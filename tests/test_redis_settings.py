"""The [redis] section: a Sentinel-managed master (sentinels, master_name, the sentinels' own
password and TLS) and wait_replicas, each refused naming the key; what a broker and a client
are built from it."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from tracking_worker import routing
from tracking_worker.errors import ConfigurationError
from tracking_worker.settings import Settings, load_settings
from tracking_worker.store import failover
from tracking_worker.store.connection import (
    COMMAND_FAILOVER_WAIT,
    WORKER_FAILOVER_WAIT,
    producer_client,
    worker_client,
)

SENTINELS = ["10.0.0.1:26379", "[::1]:26380", "sentinel-c:26381"]


def sentinel_settings(**redis_section: Any) -> Settings:
    return load_settings(
        {"redis": {"sentinels": SENTINELS, "master_name": "mymaster", **redis_section}},
        environ={},
    )


def refusal(section: dict[str, Any]) -> str:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"redis": section}, environ={})
    return str(caught.value)


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ({"sentinels": SENTINELS}, "redis.master_name: Required when redis.sentinels is set"),
        ({"master_name": "mymaster"}, "redis.sentinels: Required when redis.master_name is set"),
        (
            {"sentinel_password": "pw"},
            "redis.sentinel_password: Only used with redis.sentinels",
        ),
        ({"sentinel_ssl": True}, "redis.sentinel_ssl: Only used with redis.sentinels"),
        ({"sentinels": ["10.0.0.1"], "master_name": "m"}, "redis.sentinels.0: Not host:port"),
        ({"sentinels": ["h:0"], "master_name": "m"}, "redis.sentinels.0: Not host:port"),
        (
            {"sentinels": ["sentinel://h:26379"], "master_name": "m"},
            "redis.sentinels.0: Not host:port",
        ),
        ({"sentinels": "h:26379", "master_name": "m"}, "redis.sentinels: Not a valid list"),
        ({"sentinels": ["h:26379"], "master_name": "m x"}, "redis.master_name: Must not contain"),
        ({"sentinels": ["h:1"], "master_name": "m", "sentinel_ssl": "yes"}, "Must be true or"),
        ({"wait_replicas": -1}, "redis.wait_replicas:"),
        ({"wait_replicas": 1.0}, "redis.wait_replicas: Not a valid integer"),
        ({"url": "sentinel://h:26379"}, "set redis.sentinels and redis.master_name"),
    ],
)
def test_a_bad_sentinel_setting_is_refused_naming_the_key(
    section: dict[str, Any], named: str
) -> None:
    assert named in refusal(section)


def test_sentinels_are_kept_with_their_addresses() -> None:
    settings = sentinel_settings(sentinel_password="s3cret-sentinel", wait_replicas=1)
    conf = settings.redis
    assert conf.sentinels == tuple(SENTINELS)
    assert conf.sentinel_addresses == [("10.0.0.1", 26379), ("::1", 26380), ("sentinel-c", 26381)]
    assert conf.wait_replicas == 1
    assert "s3cret-sentinel" in settings.secrets()


def test_celery_gets_a_sentinel_broker_with_the_masters_credentials() -> None:
    settings = sentinel_settings(
        url="redis://app:master-pw@ignored:1/3", sentinel_password="sentinel-pw"
    )
    config = routing.broker_config(settings, timeout=2.0)
    assert config["broker_url"] == ";".join(
        f"sentinel://app:master-pw@{address}/3" for address in SENTINELS
    )
    options = config["broker_transport_options"]
    assert options["master_name"] == "mymaster"
    assert options["sentinel_kwargs"] == {
        "password": "sentinel-pw",
        "socket_timeout": 2.0,
        "socket_connect_timeout": 2.0,
    }
    assert options["visibility_timeout"] == 3600  # what every app of ours agrees on
    assert "broker_use_ssl" not in config


def test_tls_to_the_master_and_to_the_sentinels() -> None:
    settings = sentinel_settings(
        url="rediss://:pw@m/0?ssl_cert_reqs=required&ssl_ca_certs=/etc/ca.pem", sentinel_ssl=True
    )
    config = routing.broker_config(settings)
    assert config["broker_use_ssl"] == {"ssl_cert_reqs": "required", "ssl_ca_certs": "/etc/ca.pem"}
    assert config["broker_transport_options"]["sentinel_kwargs"]["ssl"] is True
    client = worker_client(settings)
    pool = client.connection_pool
    assert pool.connection_class is failover.FailoverSentinelSSLConnection
    kwargs = pool.connection_kwargs
    assert (kwargs["ssl_cert_reqs"], kwargs["ssl_ca_certs"]) == ("required", "/etc/ca.pem")
    assert kwargs["password"] == "pw"


def test_without_sentinels_the_broker_and_clients_use_the_url() -> None:
    settings = load_settings({"redis": {"url": "rediss://:pw@cache:6380/2"}}, environ={})
    assert routing.broker_config(settings)["broker_url"] == "rediss://:pw@cache:6380/2"
    client = producer_client(settings)
    assert client.connection_pool.connection_class is failover.FailoverSSLConnection
    plain = producer_client(load_settings(environ={}))
    assert plain.connection_pool.connection_class is failover.FailoverConnection


def waits(pool: Any) -> tuple[float, float]:
    return pool.connection_kwargs["socket_timeout"], pool.connection_kwargs["failover_wait"]


def test_every_client_of_a_sentinel_master_keeps_its_timeouts() -> None:
    settings = sentinel_settings(socket_timeout=0.25)
    web = producer_client(settings).connection_pool
    assert web.connection_class is failover.FailoverSentinelConnection
    assert web.service_name == "mymaster"  # type: ignore[attr-defined]
    assert waits(web) == (0.25, 0.25)  # track() retries a failover within socket_timeout
    sentinel = web.sentinel_manager.sentinels[0]  # type: ignore[attr-defined]
    assert isinstance(sentinel, redis.Redis)
    assert sentinel.connection_pool.connection_kwargs["socket_timeout"] == 0.25
    shell = worker_client(settings, timeout=3.0).connection_pool
    assert waits(shell) == (3.0, COMMAND_FAILOVER_WAIT)  # a command does not keep its operator
    assert waits(worker_client(settings).connection_pool) == (30, WORKER_FAILOVER_WAIT)
