"""``tracking-worker render``: the exact request one event becomes for each provider, with no
Redis; the same rendering as the ``tracked`` test fixture (``render.py``)."""

from __future__ import annotations

import json
from typing import Any

import click

from .events import _declared_options, _event


@click.command(short_help="Print the request an event becomes for each provider.")
@_declared_options
@click.option("--json", "as_json", is_flag=True, help="The event and its requests as JSON.")
def render(as_json: bool, **given: Any) -> int:
    """Validate the event NAME as track() does (the same options as `send`) and print, for
    each configured provider it goes to (`--provider` to choose), the request a worker would
    send: method, URL, headers (keys and tokens masked) and JSON body; or why that provider
    skips it. Nothing is enqueued or sent: no Redis is needed."""
    from ..errors import ConfigurationError
    from ..producer.enqueue import Producer
    from ..render import Renderer
    from ..settings import load_settings

    settings = load_settings()
    providers = settings.build_providers()
    if not providers:
        raise ConfigurationError(
            "no provider is configured: set TRACKING_CONFIG to a file with [providers.<name>]"
        )
    [valid] = Producer(providers, settings.delivery).validate([_event(given)], single=True)
    rendering = Renderer(providers).render(valid.event, valid.providers)
    if as_json:
        requests = {name: r.as_dict() for name, r in rendering.requests.items()}
        event = json.loads(valid.raw or valid.event.to_json())
        shown = {"event": event, "requests": requests, "skipped": dict(rendering.skipped)}
        click.echo(json.dumps(shown, indent=2, ensure_ascii=False))
        return 0
    for name in valid.providers or providers:
        request = rendering.requests.get(name)
        if request is None:
            click.echo(f"{name}: skipped: {rendering.skipped[name]}\n")
            continue
        click.echo(f"{name}: {request.method} {request.url}")
        for header, value in request.headers.items():
            click.echo(f"  {header}: {value}")
        body = json.dumps(request.json, indent=2, ensure_ascii=False)
        click.echo("\n".join(f"  {line}" for line in body.splitlines()) + "\n")
    return 0
