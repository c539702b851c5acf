"""Scrub secret values out of text bound for logs, dead letters and Sentry.

A provider rarely echoes a key back byte for byte: PHP's ``json_encode`` writes ``/`` as ``\\/``,
other encoders write non-ASCII as ``\\u00e9`` or ``\\u00E9``, query strings percent-encode it and
HTTP Basic credentials base64 it. So every secret is masked in each of those forms too; the
forms are computed once, and one compiled regex (a trie of them all) finds them in a single scan.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Iterator
from itertools import product
from urllib.parse import quote, quote_plus

MASK = "[redacted]"

_Node = dict[str, "_Node"]

#: Shorter values (and encoded forms) would mask ordinary words and base64 fragments.
MIN_LENGTH = 4

#: The two-character escapes JSON encoders (Python's ``json``, PHP's ``json_encode``) prefer.
_JSON_SHORT = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


class Redactor:
    """Replaces each configured secret, in any form it is likely echoed in, by a mask."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret containing another is masked whole.
        self.secrets = sorted({s for s in secrets if len(s) >= MIN_LENGTH}, key=len, reverse=True)
        forms = {form for s in self.secrets for form in encoded_forms(s) if len(form) >= MIN_LENGTH}
        self._pattern = re.compile(_trie_pattern(forms)) if forms else None

    def __call__(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None:
            return text
        match = pattern.search(text)
        if match is None:  # the usual case: one scan, nothing allocated
            return text
        # Mask the union of every occurrence, overlapping ones included, so no form of any
        # secret survives however the secrets (or their encodings) overlap in the text.
        spans: list[list[int]] = []
        while match is not None:
            start, end = match.span()
            if spans and start < spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
            match = pattern.search(text, start + 1)
        parts: list[str] = []
        done = 0
        for start, end in spans:
            parts += (text[done:start], MASK)
            done = end
        parts.append(text[done:])
        return "".join(parts)


def _trie_pattern(words: Iterable[str]) -> str:
    """One regex matching any of ``words``, the longest one at a position, built as a trie.

    A flat ``a|b|c`` alternation of a few hundred forms makes ``re`` try each at every position
    (~10x slower on a 10 kB answer); the trie tests each character once per depth. Built
    iteratively: a trie is as deep as its longest form, deeper than Python's recursion limit
    for a long secret with every character ``\\u``-escaped.
    """
    root: _Node = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here
    built: dict[int, str] = {}
    stack: list[tuple[_Node, bool]] = [(root, False)]
    while stack:
        node, children_built = stack.pop()
        if not children_built:
            stack.append((node, True))
            stack.extend((child, False) for char, child in node.items() if char)
            continue
        branches = [re.escape(c) + built.pop(id(child)) for c, child in node.items() if c]
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node and branches:  # a word ends here: longer if one matches, else stop here
            body = "(?:" + body + ")?"
        built[id(node)] = body if branches else ""
    return built[id(root)]


def encoded_forms(secret: str) -> set[str]:
    """The secret as it appears raw, JSON-escaped, URL-encoded and base64-encoded; each also
    with ``/`` written ``\\/``, as a JSON encoder that escapes slashes would echo it."""
    forms = {secret, *_json_forms(secret), *_url_forms(secret), *_base64_forms(secret)}
    return forms | {form.replace("/", "\\/") for form in forms}


def _json_forms(secret: str) -> Iterator[str]:
    """Every mix of: non-ASCII raw or ``\\uXXXX``; control characters as their short escape
    (``\\n``) or ``\\uXXXX``; hex digits lower- or upper-case. Python's ``json.dumps`` (with and
    without ``ensure_ascii``) and PHP's ``json_encode`` each write one of these."""
    for escape_non_ascii, short_controls, upper in product((False, True), repeat=3):
        yield "".join(_json_char(c, escape_non_ascii, short_controls, upper) for c in secret)


def _json_char(char: str, escape_non_ascii: bool, short_controls: bool, upper: bool) -> str:
    code = ord(char)
    if char in '"\\':
        return _JSON_SHORT[char]
    if code < 0x20:
        if short_controls and char in _JSON_SHORT:
            return _JSON_SHORT[char]
        return _unicode_escape(code, upper)
    if code > 0x7E and escape_non_ascii:  # DEL and beyond, as json.dumps escapes them
        if code > 0xFFFF:  # outside the BMP: a UTF-16 surrogate pair
            code -= 0x10000
            high, low = 0xD800 | (code >> 10), 0xDC00 | (code & 0x3FF)
            return _unicode_escape(high, upper) + _unicode_escape(low, upper)
        return _unicode_escape(code, upper)
    return char


def _unicode_escape(code: int, upper: bool) -> str:
    return f"\\u{code:04X}" if upper else f"\\u{code:04x}"


def _url_forms(secret: str) -> set[str]:
    """Percent-encoded as a path (``/`` kept), as a query value, and as form data."""
    return {quote(secret), quote(secret, safe=""), quote_plus(secret)}


def _base64_forms(secret: str) -> Iterator[str]:
    """Base64 of the secret alone (standard and URL-safe, padded or not), and the part of a
    longer base64 stream that only the secret's bytes determine, at each of the 3 byte
    alignments it can start at: that catches it inside e.g. an HTTP Basic ``user:secret``."""
    data = secret.encode()
    encoders: tuple[Callable[[bytes], bytes], ...] = (base64.b64encode, base64.urlsafe_b64encode)
    for encode in encoders:
        whole = encode(data).decode("ascii")
        yield whole
        yield whole.rstrip("=")
        for offset in range(3):
            # Output character i carries bits [6i, 6i + 6); the secret's are [8k, 8k + 8n).
            first = -(-8 * offset // 6)
            last = (8 * (offset + len(data))) // 6
            yield encode(bytes(offset) + data).decode("ascii")[first:last]
