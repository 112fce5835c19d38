"""The README stays true: the two commands, every setting, and .ci/run running the test command."""

from __future__ import annotations

import re
from pathlib import Path

from viewer.config import SETTINGS

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_two_commands() -> None:
    block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert block is not None
    lines = block.group(1).strip().splitlines()
    assert len(lines) == 2
    assert "pip install ." in lines[0] and lines[0].endswith("wsi-viewer serve")
    assert lines[1] == "bash tests/run-all.sh"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "exec bash tests/run-all.sh" in ci


def test_every_setting_is_documented() -> None:
    table = README.split("<!-- settings-table")[1].split("\n\n")[0]
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", table, re.M))
    assert documented == {s.name for s in SETTINGS}


def test_dockerfile_runs_gunicorn_as_non_root_with_healthcheck() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER viewer$", dockerfile, re.M)
    assert "HEALTHCHECK" in dockerfile and "/api/slides" in dockerfile
    assert 'CMD ["wsi-viewer", "serve"]' in dockerfile
    assert "pip install ." in dockerfile and "-e ." not in dockerfile
