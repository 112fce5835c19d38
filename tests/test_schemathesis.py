"""The OpenAPI document against the app: schemathesis generates requests for every operation
(bounded), and no response may be a 5xx or break the documented schema."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from viewer.app import create_app

DATA = Path(__file__).parent / "data"


def _app(tmp: Path):  # type: ignore[no-untyped-def]
    slides = tmp / "slides"
    slides.mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA / "slides" / "aperio" / "CMU-1-Small-Region.svs", slides / "CMU-1-Small-Region.svs")
    shutil.copy(DATA / "asap" / "real" / "patient_004_node_4.xml", slides / "CMU-1-Small-Region.xml")
    app = create_app({"SLIDE_DIR": str(slides), "DATA_DIR": str(tmp / "data"), "SIDECAR_WRITEBACK": True})
    app.config["TESTING"] = True
    client = app.test_client()
    # Something to find: the sidecar set (id 1) with annotations and a group, and a second set.
    assert client.get("/api/annotations/CMU-1-Small-Region.svs").status_code == 200
    assert client.post("/api/annotations/CMU-1-Small-Region.svs", json={"name": "second"}).status_code == 201
    return app


_TMP = Path(__import__("tempfile").mkdtemp(prefix="wsi-schemathesis-"))
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", _app(_TMP))


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> object:
    yield None
    shutil.rmtree(_TMP, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_never_5xx_and_matches_its_schema(case: schemathesis.Case) -> None:
    # The properties the API promises: never a 5xx; status codes, content types and bodies as documented.
    case.call_and_validate(
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ]
    )
