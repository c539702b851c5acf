"""An integration imported without its framework says which extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("module", "framework", "extra"),
    [
        ("tracking_worker.contrib.django", "django", "django"),
        ("tracking_worker.contrib.django.apps", "django", "django"),
        ("tracking_worker.contrib.flask", "flask", "flask"),
    ],
)
def test_importing_an_integration_without_its_framework_names_the_extra(
    module: str, framework: str, extra: str
) -> None:
    # A fresh interpreter where the framework cannot be imported (None in sys.modules is
    # how the import system spells "not there"), whatever this venv has installed.
    code = f"""
import sys
sys.modules[{framework!r}] = None
try:
    import {module}
except ImportError as exc:
    print(exc)
else:
    print("imported")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == (
        f"tracking_worker.contrib.{framework} needs {framework.capitalize()}: "
        f"pip install 'tracking-worker[{extra}]'"
    )


def test_the_core_and_atrack_need_no_extra() -> None:
    """With neither framework (nor aiogram) importable, the package and atrack still load."""
    code = """
import sys
for name in ("django", "flask", "aiogram"):
    sys.modules[name] = None
import tracking_worker
from tracking_worker.producer.async_tracker import AsyncTracker
print(tracking_worker.atrack.__name__, AsyncTracker.__name__)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["atrack", "AsyncTracker"]
