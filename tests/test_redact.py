"""A secret is masked in every form a provider or a client is likely to echo it in.

The expected forms are produced with the standard library's own encoders (``json``,
``urllib.parse``, ``base64``), not with the Redactor's, so the two are checked against each other.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import pytest

from tracking_worker.redact import MASK, Redactor

#: Keys with ``/``, ``+``, ``=`` and non-ASCII; between them: every base64 padding length, a
#: ``/`` and a ``+`` in their base64, a character outside the BMP, a control character, a quote.
KEYS = {
    "padded": "sk/Live+kéy=Q9x",
    "slash_in_base64": "sk/Live+ké?y=Q9x",
    "astral": "gp/ünï+c0de==😀~",
    "control": 'tok/\t"x+=ñ;k3~',
}


def _upper_hex(escaped: str) -> str:
    """``\\u00e9`` as ``\\u00E9``: what encoders other than Python's write."""
    return re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m[1].upper(), escaped)


def _long_controls(escaped: str) -> str:
    """``\\t`` as ``\\u0009``: control characters escaped the long way."""
    short = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}

    def one(m: re.Match[str]) -> str:
        char = short.get(m[1])
        return f"\\u{ord(char):04x}" if char else m[0]

    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", one, escaped)


def _json(key: str, *, ascii: bool = True) -> str:
    return json.dumps(key, ensure_ascii=ascii)[1:-1]


def _slashes(escaped: str) -> str:
    """``/`` as ``\\/``: PHP's ``json_encode`` default."""
    return escaped.replace("/", "\\/")


def _b64(key: str) -> str:
    return base64.b64encode(key.encode()).decode()


def _b64url(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


ENCODINGS: dict[str, Callable[[str], str]] = {
    "json": _json,
    "json_unicode": lambda k: _json(k, ascii=False),
    "json_upper_hex": lambda k: _upper_hex(_json(k)),
    "json_long_controls": lambda k: _long_controls(_json(k)),
    "php_json": lambda k: _slashes(_json(k)),
    "php_json_unicode": lambda k: _slashes(_json(k, ascii=False)),
    "php_json_upper_hex": lambda k: _slashes(_upper_hex(_json(k))),
    "php_json_upper_long_controls": lambda k: _slashes(_upper_hex(_long_controls(_json(k)))),
    "url_path": quote,
    "url_component": lambda k: quote(k, safe=""),
    "url_form": quote_plus,
    "base64": _b64,
    "base64_unpadded": lambda k: _b64(k).rstrip("="),
    "base64_urlsafe": _b64url,
    "base64_urlsafe_unpadded": lambda k: _b64url(k).rstrip("="),
    "base64_in_php_json": lambda k: _slashes(_b64(k)),
}


def _cases() -> list[object]:
    """Each (key, encoding) whose form differs from the raw key and from the key's forms
    already listed: the raw key alone is covered in tests/worker/test_observability.py."""
    cases: list[object] = []
    for key_id, key in KEYS.items():
        seen = {key}
        for name, encode in ENCODINGS.items():
            form = encode(key)
            if form not in seen:
                seen.add(form)
                cases.append(pytest.param(key, form, id=f"{key_id}-{name}"))
    return cases


@pytest.mark.parametrize(("key", "form"), _cases())
def test_each_encoding_of_a_key_is_masked_whole(key: str, form: str) -> None:
    """A provider echoing the key in any of these forms must not leak it, nor a piece of it."""
    assert Redactor([key])(f'{{"error": "bad key {form}"}}') == f'{{"error": "bad key {MASK}"}}'


def _stream_cases() -> list[object]:
    cases: list[object] = []
    for key_id, key in KEYS.items():
        for before in (b"Ab:", b"Abc:", b"Abcd:"):  # the key starts at each byte alignment
            for name, encode in (("std", base64.b64encode), ("urlsafe", base64.urlsafe_b64encode)):
                alignment = len(before) % 3
                cases.append(pytest.param(key, before, encode, id=f"{key_id}-{alignment}-{name}"))
    return cases


@pytest.mark.parametrize(("key", "before", "encode"), _stream_cases())
def test_a_key_inside_a_longer_base64_stream_is_masked_at_each_alignment(
    key: str, before: bytes, encode: Callable[[bytes], bytes]
) -> None:
    """An HTTP Basic ``user:key`` credential (or any base64 blob holding the key): all the
    characters only the key's bits determine are masked; what is left depends on neighbours."""
    secret, after = key.encode(), b"\n-more-data"
    stream = encode(before + secret + after).decode()
    masked = Redactor([key])(f"Authorization: Basic {stream}")
    head, sep, tail = masked.removeprefix("Authorization: Basic ").partition(MASK)
    assert sep and MASK not in tail
    # Output character i carries bits [6i, 6i + 6): those before the key's first bit and after
    # its last one (plus the one character on each side that straddles the edge) may remain.
    assert len(head) <= -(-8 * len(before) // 6)
    assert len(tail) <= len(stream) - (8 * (len(before) + len(secret))) // 6
    assert stream.startswith(head) and stream.endswith(tail)


ENCLOSING = "sk/Live+kéy=Q9x/ou+ter"  # holds KEYS["padded"]


@pytest.mark.parametrize("order", [1, -1], ids=["outer_first", "inner_first"])
@pytest.mark.parametrize(
    "encoding", ["php_json", "php_json_upper_hex", "url_component", "url_form", "base64"]
)
def test_a_secret_containing_another_is_masked_whole(encoding: str, order: int) -> None:
    """The longer secret's form wins over the shorter one's inside it, whatever the order the
    secrets were configured in: no tail of the longer one is left next to the mask."""
    redact = Redactor([ENCLOSING, KEYS["padded"]][::order])
    form = ENCODINGS[encoding](ENCLOSING)
    assert redact(f"echo {form} end") == f"echo {MASK} end"


NEAR_MISSES = {
    "other_key_raw": "sk/Live+kéy=Q9y",
    "other_key_php_json": _slashes(_json("sk/Live+kéy=Q8x")),
    "other_key_url": quote("sk/Live+kéY=Q9x", safe=""),
    "other_key_base64": _b64("sk/Live+kéy=Q0x"),
    "truncated_key": "sk/Live+kéy=Q9",
    "basic_credential": "Basic " + _b64("user:hunter2"),
    "json_text": json.dumps({"path": "/v1/events", "note": "Ünïcode +1 = 2 \t ok"}),
    "url": "https://api.example.com/a%2Fb?x=1+2&y=%C3%A9",
    "short_words": "sk/L Live kéy= Q9x c2sv",
}


@pytest.mark.parametrize("near_miss", list(NEAR_MISSES.values()), ids=list(NEAR_MISSES))
def test_only_the_echoed_key_changes_in_a_provider_answer(near_miss: str) -> None:
    """Text holding no secret is left exactly as it was, even right next to an echoed key and
    when it nearly matches one of the key's forms: only whole forms of a secret are masked."""
    key = KEYS["padded"]
    answer = {"error": "invalid api_key", "api_key": key, "detail": near_miss}
    body = _slashes(json.dumps(answer))  # as PHP's json_encode writes it
    expected = _slashes(json.dumps({**answer, "api_key": "@@"})).replace("@@", MASK)
    assert Redactor([key, "Zm9vYmFy", "hunter3"])(body) == expected
