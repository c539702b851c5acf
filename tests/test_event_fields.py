"""An event's fields are declared once (``event_fields.DECLARED``): the schema, the fast path,
track()'s keywords and the CLI's options follow from it, and the typed views match it."""

from __future__ import annotations

import dataclasses
import inspect
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import tracking_worker
from tracking_worker import event_fields, wire
from tracking_worker.cli.events import send
from tracking_worker.event_fields import DECLARED, FAST, Event, EventSchema, TrackFields

NAMES = [declared.name for declared in DECLARED]


def test_the_schema_has_the_declared_fields_in_their_order() -> None:
    assert list(EventSchema().load_fields) == NAMES
    assert FAST.keys() <= set(NAMES)


def test_the_typed_views_name_the_declared_fields() -> None:
    assert set(TrackFields.__optional_keys__) == set(NAMES) - {"name"}
    stored = {d.name for d in DECLARED if d.stored}
    assert {f.name for f in dataclasses.fields(Event)} == stored | {"queued_at"}


def test_track_and_atrack_take_the_typed_keywords_and_nothing_else() -> None:
    for function in (tracking_worker.track, tracking_worker.atrack):
        kinds = {p.name: p.kind for p in inspect.signature(function).parameters.values()}
        assert kinds.pop("name") == inspect.Parameter.POSITIONAL_OR_KEYWORD
        assert kinds.pop("fields") == inspect.Parameter.VAR_KEYWORD
        assert set(kinds) <= {"on_commit"}
    with pytest.raises(TypeError, match="track\\(\\) got an unexpected keyword argument 'colour'"):
        tracking_worker.track("a", colour="red")  # type: ignore[call-arg]


def test_given_keywords_drop_none_and_list_the_providers() -> None:
    given = tracking_worker._given(
        {"telegram_id": 5, "email": None, "providers": iter(("graspil",))}, "track"
    )
    assert given == {"telegram_id": 5, "providers": ["graspil"]}


def test_send_has_an_argument_or_option_per_declared_field() -> None:
    # The declared fields in their order, then send's own options (--json, --timeout).
    params = {p.name: p for p in send.params if p.name in NAMES}
    assert list(params) == NAMES
    assert {p.name for p in send.params} - set(NAMES) == {"as_json", "timeout"}
    assert params["name"].param_type_name == "argument"
    assert params["properties"].opts == ["--property"] and params["properties"].multiple
    assert params["order_id"].opts == ["--order-id"]


def _copy_with(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    """A copy of the package with ``event_fields.py`` edited (each edit: a line, and the line
    to put after it)."""
    root = tmp_path / "src"
    shutil.copytree(
        Path(event_fields.__file__).parent,
        root / "tracking_worker",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    path = root / "tracking_worker" / "event_fields.py"
    source = path.read_text(encoding="utf-8")
    for line, after in edits:
        assert source.count(line) == 1, line
        source = source.replace(line, line + after)
    path.write_text(source, encoding="utf-8")
    return root


PHONE = (
    '    Declared("email", fields.Email(allow_none=True, validate=validate.Length(max=254))),\n',
    '    Declared("phone", fields.String(allow_none=True), checks.text(32), help="Phone."),\n',
)
PHONE_TYPED = ("    email: str | None\n", "    phone: str | None\n")
PHONE_STORED = ("    email: str | None = None\n", "    phone: str | None = None\n")

SHOW_PHONE = """
import json
from tracking_worker.cli.events import send
from tracking_worker.event_fields import FAST, EventSchema, TrackFields
from tracking_worker.events import Event, normalize

normalized = normalize({"name": "a", "phone": "+15550100"}, EventSchema(), now=0.0)
print(json.dumps({
    "schema": list(EventSchema().load_fields).index("phone"),
    "fast": FAST["phone"]("+1"),
    "typed": "phone" in TrackFields.__optional_keys__,
    "cli": [p.opts for p in send.params if p.name == "phone"],
    "event": normalized.event.phone,
    "wire": json.loads(normalized.raw)["phone"],
    "back": Event.from_json(normalized.raw).phone,
}))
"""


def _run(root: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,  # ``-c`` puts the working directory first on the path
        env={"PYTHONPATH": str(root), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_new_field_is_its_declaration_and_its_two_typed_lines(tmp_path: Path) -> None:
    done = _run(_copy_with(tmp_path, PHONE, PHONE_TYPED, PHONE_STORED), SHOW_PHONE)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "schema": 3,
        "fast": "+1",
        "typed": True,
        "cli": [["--phone"]],
        "event": "+15550100",
        "wire": "+15550100",
        "back": "+15550100",
    }


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        ((PHONE, PHONE_TYPED), "Event does not match DECLARED: missing ['phone']"),
        ((PHONE, PHONE_STORED), "TrackFields does not match DECLARED: missing ['phone']"),
        ((PHONE_TYPED, PHONE_STORED), "Event does not match DECLARED: missing [], extra ['phone']"),
    ],
)
def test_a_field_missing_from_a_view_fails_the_import_naming_it(
    tmp_path: Path, edits: tuple[tuple[str, str], ...], message: str
) -> None:
    done = _run(_copy_with(tmp_path, *edits), "import tracking_worker")
    assert done.returncode == 1 and message in done.stderr, done.stderr


@dataclasses.dataclass(frozen=True)
class _IdLast:
    name: str
    event_id: str


def test_the_wire_form_starts_with_the_event_id() -> None:
    event = Event(event_id="e-1", name="a", occurred_at="t", telegram_id=5)
    assert event.to_json().startswith('{"event_id":"e-1",')
    assert wire.event_id_of(event.to_json()) == "e-1"
    assert wire.event_id_of('{"name":"a","event_id":"e-1"}') is None
    with pytest.raises(TypeError, match="first field must be 'event_id'"):
        wire.Codec(_IdLast)


def test_the_wire_codec_refuses_what_its_bypass_cannot_build() -> None:
    @dataclasses.dataclass(frozen=True)
    class Hooked:
        event_id: str

        def __post_init__(self) -> None:
            pass

    @dataclasses.dataclass(frozen=True, slots=True)
    class Slotted:
        event_id: str

    for cls in (Hooked, Slotted):
        with pytest.raises(TypeError, match="__dict__ and no __post_init__"):
            wire.Codec[Any](cls)
