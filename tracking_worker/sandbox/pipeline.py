"""One request to a provider path, from bytes to answer: route, fault, latency, emulate, record."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from .base import Emulator, Incoming, Reply
from .checks import parse_json
from .peers import Client
from .routes import Router
from .state import Record, SandboxState

logger = logging.getLogger(__name__)


def _new_record(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    raw: bytes,
    client: Client | None,
) -> Record:
    body, body_error = parse_json(raw)
    return {
        "provider": None,
        "method": method,
        "path": path,
        "query": query,
        "headers": dict(headers),
        "body": body,
        "body_error": body_error,
        "timestamp": time.time(),
        "client": None if client is None else client.address,
        "client_pid": None if client is None else client.pid,
    }


class Pipeline:
    """Answers provider requests; every one is recorded before its answer is sent.

    Recording first means a client that has its answer can assert on the records at once.
    """

    def __init__(self, state: SandboxState, router: Router, wait: Callable[[float], Any]) -> None:
        self._state = state
        self._router = router
        self._wait = wait

    def run(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        raw: bytes,
        *,
        client: Client | None = None,
    ) -> Reply:
        record = _new_record(method, path, query, headers, raw, client)
        record["generation"] = self._state.generation
        match = self._router.match(path)
        if match is None:
            reply = Reply(404, {"error": f"the sandbox serves no provider API at {path}"})
            return self._finish(record, reply, "unrouted")
        record["provider"] = match.emulator.name
        if method != "POST":
            reply = Reply(405, {"error": f"{method} is not allowed; use POST"}, {"Allow": "POST"})
            return self._finish(record, reply, "rejected")
        fault = self._state.take_fault(match.emulator.name)
        self._wait(self._state.latency(match.emulator.name))
        if fault is not None:
            return self._finish(
                record, fault.reply(), "dropped" if fault.status == 0 else "faulted"
            )
        incoming = Incoming(
            method=method,
            path=path,
            headers={name.lower(): value for name, value in headers.items()},
            body=record["body"],
            body_error=record["body_error"],
            params=match.params,
        )
        reply, outcome = self._emulate(match.emulator, incoming)
        return self._finish(record, reply, outcome)

    def _emulate(self, emulator: Emulator, incoming: Incoming) -> tuple[Reply, str]:
        try:
            reply = emulator.handle(incoming, self._state.credentials(emulator.name))
        except Exception as exc:  # an emulator bug answers 500, logged with its traceback
            logger.error("the %s emulator failed on %s", emulator.name, incoming.path, exc_info=exc)
            return Reply(500, {"error": f"sandbox {emulator.name} emulator error"}), "error"
        if not reply.ok:
            return reply, "rejected"
        for rule in self._state.rules(emulator.name):
            index = rule.first_match(reply.items)
            if index is not None:
                return emulator.rejection(rule.field, rule.message, index), "rejected"
        return reply, "accepted"

    def _finish(self, record: Record, reply: Reply, outcome: str) -> Reply:
        record.update(status=reply.status, outcome=outcome, response=reply.body)
        accepted = outcome == "accepted"
        items = reply.items if accepted else []
        self._state.conclude(record, items, reply.dedupe_key if accepted else None)
        return reply
