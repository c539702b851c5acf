"""People's ids out of log lines and Sentry events (``observability.hash_ids``): each Telegram,
user and visitor id replaced by a keyed hash, the same for the same id, so one person's lines
still correlate while the logs name nobody.

Keyed with ``observability.hash_key`` (a secret), not a plain hash: a Telegram id has few
enough values that anyone could hash them all and read a plain hash back. The key is the
operator's, not one Redis keeps, so the same ids give the same hashes in every worker and
after a restart; a new key starts new hashes.

An id is found where it is named: after ``telegram_id``, ``user_id``, ``visitor_id`` (or giosg's
``visitor_identity``) and ``=`` or ``:``, as events, the providers' payloads and their answers
write them (``user_id=42``, ``"user_id": "u-1"``, ``'visitor_id': 'v-1'``, ``user_id: 42``, and
the first word of a message listed under the name: ``{"user_id": ["42 is unknown"]}``), and
as the value of such a key in structured data (a JSON log line's fields, a Sentry event's
frame variables). An id written alone in free text is not recognised.
"""

from __future__ import annotations

import re
from hashlib import blake2b

#: The names an id is found after (our fields, and the providers' names for them).
ID_NAMES = frozenset({"telegram_id", "user_id", "visitor_id", "visitor_identity"})
#: What a hash looks like: never hashed again when a line is scrubbed twice.
PREFIX = "id#"
_NAMED = re.compile(
    r"(?P<name>\b(?:telegram_id|user_id|visitor_id|visitor_identity))"
    r"(?P<sep>\\?[\"']?\s*[:=]\s*(?:\[\s*)?(?:\\?[\"'])?)"
    rf"(?!{PREFIX}|(?:None|null)\b)(?P<value>[^\s\"'\\,;(){{}}\[\]]+)"
)


class IdHasher:
    """Replaces ids by ``id#<12 hex digits>``, a BLAKE2b hash keyed with the operator's key."""

    def __init__(self, key: str) -> None:
        self._key = blake2b(key.encode(), digest_size=32, person=b"tw-hash-ids").digest()

    def token(self, value: object) -> str:
        """One id's hash (an int and its digits are one id, as track() stores them alike)."""
        text = str(value)
        if text.startswith(PREFIX):
            return text
        return PREFIX + blake2b(text.encode(), key=self._key, digest_size=6).hexdigest()

    def __call__(self, text: str) -> str:
        """``text`` with every named id replaced."""
        if "_id" not in text:  # the usual line: no scan
            return text
        return _NAMED.sub(lambda m: f"{m['name']}{m['sep']}{self.token(m['value'])}", text)

    def value(self, key: object, value: object) -> object:
        """A structured field's value: hashed when its key names an id."""
        if key in ID_NAMES and isinstance(value, (str, int)) and not isinstance(value, bool):
            return self.token(value)
        return value
