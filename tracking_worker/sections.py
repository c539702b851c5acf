"""Settings declared once per key: a frozen dataclass whose fields carry the marshmallow field
that validates them, and the schema that loads a section built from that dataclass.

A key's name, type and default are its dataclass field's; how a source's value is checked is
the marshmallow field in its metadata. A key a source leaves out takes the dataclass default,
so no default is written twice.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, TypeVar, cast

import marshmallow as ma
from marshmallow import fields

T = TypeVar("T")

#: Where a dataclass field keeps the marshmallow field that validates its key.
CHECK = "check"


def setting(default: T, check: fields.Field[Any]) -> T:
    """A key with a default, checked by ``check`` (a marshmallow field) when a source gives it."""
    return dataclasses.field(default=default, metadata={CHECK: check})


def checked(check: fields.Field[Any]) -> dict[str, fields.Field[Any]]:
    """The metadata of a key declared with ``dataclasses.field`` (a required key, or a default
    built per section: ``field(default_factory=dict, metadata=checked(...))``)."""
    return {CHECK: check}


class SectionSchema(ma.Schema):
    """Builds the section's dataclass from what a source gave; left-out keys take defaults."""

    section: ClassVar[type[Any]]

    @ma.post_load
    def _build(self, data: dict[str, Any], **_: Any) -> Any:
        return self.section(**data)


def schema_for(
    section: type[Any], base: type[SectionSchema] = SectionSchema
) -> type[SectionSchema]:
    """The schema loading ``section`` (a dataclass declared with ``setting``/``checked``): its keys
    are the dataclass's fields; ``base`` may add hooks (``@ma.validates``)."""
    declared = {f.name: f.metadata[CHECK] for f in dataclasses.fields(section)}
    attrs = {**declared, "section": section}
    return cast(type[SectionSchema], type(f"{section.__name__}Schema", (base,), attrs))
