"""The [redis] section on a Redis Cluster (cluster, cluster_nodes, broker_url): what a cluster
needs and what it cannot take, each refused naming the key; what is kept of a good one."""

from __future__ import annotations

from typing import Any

import pytest

from tracking_worker import routing
from tracking_worker.errors import ConfigurationError
from tracking_worker.settings import load_settings

NODE = "redis://10.0.0.1:7000/0"
NODES = ["10.0.0.2:7001", "[::1]:7002"]
BROKER = "redis://broker-host:6379/0"


def refusal(section: dict[str, Any]) -> str:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"redis": section}, environ={})
    return str(caught.value)


def cluster(**keys: Any) -> dict[str, Any]:
    """A good cluster section, with ``keys`` over it (None: the key left out)."""
    section = {"url": NODE, "cluster": True, "cluster_nodes": NODES, "broker_url": BROKER, **keys}
    return {key: value for key, value in section.items() if value is not None}


@pytest.mark.parametrize(
    ("section", "named"),
    [
        pytest.param(
            cluster(broker_url=None),
            "redis.broker_url: Required when redis.cluster is on",
            id="broker_url-missing",
        ),
        pytest.param(
            cluster(broker_url=""),
            "redis.broker_url: Required when redis.cluster is on",
            id="broker_url-empty",
        ),
        pytest.param(
            cluster(sentinels=["10.0.0.9:26379"], master_name="mymaster"),
            "redis.cluster: redis.cluster and redis.sentinels cannot be used together",
            id="sentinels",
        ),
        pytest.param(
            cluster(url="redis://10.0.0.1:7000/3"),
            "redis.url: A Redis Cluster has database 0 only",
            id="database-3",
        ),
        pytest.param(
            cluster(url="redis://10.0.0.1:7000/0", broker_url="redis://10.0.0.1:7000/1"),
            "redis.broker_url: Names a node of the cluster (redis.url or redis.cluster_nodes)",
            id="broker-is-url",
        ),
        pytest.param(
            cluster(broker_url="redis://10.0.0.2:7001/0"),
            "redis.broker_url: Names a node of the cluster (redis.url or redis.cluster_nodes)",
            id="broker-in-cluster_nodes",
        ),
        pytest.param(
            cluster(broker_url="rediss://user:pw@[::1]:7002/2"),
            "redis.broker_url: Names a node of the cluster",
            id="broker-ipv6-node",
        ),
        pytest.param(
            cluster(url="redis://localhost/0", broker_url="redis://localhost:6379/1"),
            "redis.broker_url: Names a node of the cluster",
            id="broker-default-port",
        ),
        pytest.param(
            cluster(wait_replicas=1),
            "redis.wait_replicas: Not offered with redis.cluster",
            id="wait_replicas",
        ),
        pytest.param(
            {"cluster_nodes": NODES},
            "redis.cluster_nodes: Only used with redis.cluster, which is off",
            id="cluster_nodes-alone",
        ),
        pytest.param(
            {"broker_url": BROKER},
            "redis.broker_url: Only used with redis.cluster, which is off",
            id="broker_url-alone",
        ),
        pytest.param(
            {"cluster": False, "cluster_nodes": NODES, "broker_url": BROKER},
            "Only used with redis.cluster, which is off",
            id="cluster-false",
        ),
        pytest.param(
            cluster(cluster_nodes=["10.0.0.2"]),
            "redis.cluster_nodes.0: Not host:port: '10.0.0.2'",
            id="node-no-port",
        ),
        pytest.param(
            cluster(cluster_nodes=["10.0.0.2:7001", "h:0"]),
            "redis.cluster_nodes.1: Not host:port: 'h:0'",
            id="node-port-0",
        ),
        pytest.param(
            cluster(cluster_nodes=["h:65536"]),
            "redis.cluster_nodes.0: Not host:port",
            id="node-port-too-big",
        ),
        pytest.param(
            cluster(cluster_nodes=[":7001"]),
            "redis.cluster_nodes.0: Not host:port",
            id="node-no-host",
        ),
        pytest.param(
            cluster(cluster_nodes=["redis://10.0.0.2:7001"]),
            "redis.cluster_nodes.0: Not host:port",
            id="node-as-url",
        ),
        pytest.param(
            cluster(cluster_nodes="10.0.0.2:7001"),
            "redis.cluster_nodes: Not a valid list",
            id="nodes-not-a-list",
        ),
        pytest.param(
            cluster(cluster_nodes=["10.0.0.2:7001 10.0.0.3:7002"]),
            "redis.cluster_nodes.0: Must not contain",
            id="two-nodes-in-one",
        ),
        pytest.param(
            cluster(broker_url="broker-host:6379"),
            "redis.broker_url: Must start with redis:// or rediss://",
            id="broker-no-scheme",
        ),
        pytest.param(cluster(cluster="yes"), "redis.cluster: Must be true or false", id="flag"),
    ],
)
def test_a_bad_cluster_setting_is_refused_naming_the_key(
    section: dict[str, Any], named: str
) -> None:
    assert named in refusal(section)


def test_the_database_check_reads_the_default_url() -> None:
    """No url given: the default (redis://localhost:6379/0) is database 0, and a broker on
    localhost:6379 is that node."""
    refused = refusal({"cluster": True, "broker_url": "redis://localhost:6379/1"})
    assert "redis.broker_url: Names a node of the cluster" in refused
    settings = load_settings({"redis": {"cluster": True, "broker_url": BROKER}}, environ={})
    assert settings.redis.cluster_addresses == [("localhost", 6379)]


def test_a_cluster_is_kept_with_its_nodes_and_broker() -> None:
    settings = load_settings(
        {"redis": cluster(url="rediss://app:node-pw@10.0.0.1:7000/0", broker_url=BROKER)},
        environ={},
    )
    conf = settings.redis
    assert conf.cluster is True
    assert conf.cluster_nodes == tuple(NODES)
    assert conf.cluster_addresses == [("10.0.0.1", 7000), ("10.0.0.2", 7001), ("::1", 7002)]
    assert conf.broker_url == BROKER
    assert routing.broker_url(settings) == BROKER, "Celery's broker is broker_url, not a node"


def test_the_brokers_password_is_a_secret() -> None:
    settings = load_settings(
        {"redis": cluster(broker_url="redis://:broker-s3cret@broker-host:6379/0")}, environ={}
    )
    assert settings.redis.broker_password == "broker-s3cret"
    assert "broker-s3cret" in settings.secrets()


def test_a_broker_on_another_port_of_a_nodes_host_is_accepted() -> None:
    """The check compares host and port: a plain Redis on a node's machine is no node."""
    settings = load_settings({"redis": cluster(broker_url="redis://10.0.0.1:6380/2")}, environ={})
    assert settings.redis.broker_url == "redis://10.0.0.1:6380/2"
