"""Settings declared once: the dataclass field is the key, its metadata the check."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import marshmallow as ma
import pytest
from marshmallow import fields, validate

from tracking_worker.sections import checked, schema_for, setting
from tracking_worker.settings import _SECTIONS, DeliverySettings


@dataclass(frozen=True, kw_only=True)
class Sample:
    name: str = field(metadata=checked(fields.String(required=True)))
    count: int = setting(3, fields.Integer(strict=True, validate=validate.Range(min=1)))
    tags: list[str] = field(default_factory=list, metadata=checked(fields.List(fields.String())))


def test_the_schema_built_from_the_dataclass_loads_it_with_its_defaults() -> None:
    loaded = schema_for(Sample)().load({"name": "a"})
    assert loaded == Sample(name="a", count=3, tags=[])


@pytest.mark.parametrize(
    ("data", "named"),
    [({}, "name"), ({"name": "a", "count": 0}, "count"), ({"name": "a", "colour": 1}, "colour")],
)
def test_refusals_name_the_key(data: dict[str, object], named: str) -> None:
    with pytest.raises(ma.ValidationError) as caught:
        schema_for(Sample)().load(data)
    assert named in caught.value.messages_dict


def test_every_section_key_is_one_dataclass_field() -> None:
    for schema in _SECTIONS.values():
        declared = {f.name for f in dataclasses.fields(schema.section)}
        assert set(schema().fields) == declared
    assert schema_for(DeliverySettings)().load({}) == DeliverySettings()
