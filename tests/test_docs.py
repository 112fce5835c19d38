"""The README stays true: the two commands, every setting, .ci/run running the test command, and the
curl walkthrough of the HTTP API run against a real server."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import requests
import tifffile

from tests._server import running_server
from tests.test_server import DEMO_ENV, DEMO_ID, _wait_ready
from viewer.annotations.asap import read_asap
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
    assert "HEALTHCHECK" in dockerfile and "/healthz" in dockerfile
    assert 'CMD ["wsi-viewer", "serve"]' in dockerfile
    assert "pip install ." in dockerfile and "-e ." not in dockerfile


def _script_block() -> str:
    """The README's "From a script" shell block."""
    section = README.split("**From a script.**", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


@pytest.mark.timeout(300)
def test_the_readme_curl_walkthrough_runs_against_the_demo(tmp_path: Path) -> None:
    block = _script_block()
    assert block.startswith("S=http://127.0.0.1:8000\n")
    data = tmp_path / "data"
    data.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    with running_server("--workers", "1", data_dir=data, env=DEMO_ENV) as running:
        _wait_ready(running.url)
        script = block.replace("S=http://127.0.0.1:8000", f"S={running.url}", 1)
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, capture_output=True,
                              text=True, timeout=240)
        assert done.returncode == 0, done.stdout + done.stderr
        # what each step claims, checked on the server and on disk
        sets = requests.get(f"{running.url}/api/annotations/{DEMO_ID}", timeout=30).json()["sets"]
        assert [s["name"] for s in sets] == ["tumor_demo.xml", "second reader"]
        assert sets[1]["annotation_count"] == 14
        assert read_asap(work / "tumor_demo.xml").annotations[0].name == "Annotation 0"
        edited = requests.get(f"{running.url}/api/sets/1/annotations/1", timeout=30)
        assert edited.headers["ETag"] == '"2"'
        assert edited.json()["properties"]["name"] == "Tumour 1 (checked)"
        history = requests.get(f"{running.url}/api/sets/1/history", params={"limit": 1}, timeout=30)
        (change,) = history.json()["changes"]
        assert change["who"] == "ann"
    with tifffile.TiffFile(work / "tumor_demo-mask.tif") as tif:
        mask = tif.pages[0].asarray()
    assert mask.shape == (3072 // 4, 4096 // 4)
    assert set(np.unique(mask).tolist()) == {0, 1, 2}
    # the 200 answers went to stdout: the slide list and the set's sets as JSON, among them
    assert '"id":"tumor_demo.tif"' in done.stdout and '"name":"second reader"' in done.stdout
