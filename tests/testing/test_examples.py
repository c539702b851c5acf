"""The examples' own tests, which use the plugin, run as their docstrings say; and every code
block of the README's "Testing your app" is code that runs here: the examples' test files hold
the first three word for word, and the last runs as a user's test file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.testing.support import plugin_args, run

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
#: Where each README block comes from, in the section's order.
SOURCES = (
    EXAMPLES / "django_site" / "shop" / "tests.py",
    EXAMPLES / "flask_app" / "test_shop.py",
    EXAMPLES / "aiogram_bot" / "test_bot.py",
)
KEY = "graspil-key-of-the-test-run-77e1"


def readme_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Testing your app\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def example_env(tmp_path: Path) -> dict[str, str]:
    """This checkout's package, no configuration of ours, a key the output must not show."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKING_")}
    return {**env, "PYTHONPATH": str(ROOT), "GRASPIL_API_KEY": KEY, "HOME": str(tmp_path)}


def example_run(args: list[str], folder: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        args, cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert KEY not in output
    return output


@pytest.mark.parametrize("example", ["flask_app", "aiogram_bot"])
def test_the_examples_pytest_tests_pass_with_the_plugin(example: str, tmp_path: Path) -> None:
    pytest_args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin_args()]
    output = example_run([sys.executable, *pytest_args], EXAMPLES / example, example_env(tmp_path))
    assert "2 passed" in output


def test_the_django_examples_testcase_passes(tmp_path: Path) -> None:
    output = example_run(
        [sys.executable, "manage.py", "test", "--noinput"],
        EXAMPLES / "django_site",
        example_env(tmp_path),
    )
    assert "Ran 2 tests" in output and "\nOK\n" in output


def test_the_readme_shows_the_examples_tests_word_for_word() -> None:
    blocks = readme_blocks()
    assert len(blocks) == len(SOURCES) + 1
    for block, source in zip(blocks, SOURCES, strict=False):
        assert block in source.read_text(encoding="utf-8"), source


def test_the_readmes_sandbox_example_runs_as_a_users_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(readme_blocks()[-1])
    run(pytester).assert_outcomes(passed=1)
