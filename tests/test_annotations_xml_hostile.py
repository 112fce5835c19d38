"""Local file probing through XML: a DOCTYPE, an entity, XInclude or a stylesheet that names a file
on the server's disk opens nothing, answers promptly and gives one error text whatever it names
(an existing file, a missing one, a directory, a FIFO, a URL), in UTF-8 (with or without a BOM) and
UTF-16 LE/BE (with or without a BOM), behind the comment and processing-instruction tricks that got
past the old byte scan. Checked on the reader, on the parser alone, and through a real server
(set upload, set replace, sidecar import at first use and after an edit on disk).

A FIFO is the proof that nothing is opened: opening one for reading blocks until a writer comes,
so a parse that so much as opened the named path would hang (each parse runs in a thread with a
deadline, and a hung one is released by opening the FIFO for writing)."""

from __future__ import annotations

import itertools
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from lxml import etree

from tests._server import running_server
from viewer.annotations import xmlsafe
from viewer.annotations.asap import read_asap, write_asap
from viewer.annotations.xmlsafe import REFUSED, has_doctype, parse_untrusted, safe_parser
from viewer.errors import AnnotationFormatError

DATA = Path(__file__).parent / "data"
SLIDE = DATA / "slides" / "aperio" / "CMU-1-Small-Region.svs"
REAL = DATA / "asap" / "real"
PROMPT_S = 5.0
BODY = '<ASAP_Annotations><Annotations><Annotation Name="a" PartOfGroup="None" Type="Dot">' \
       '<Coordinates><Coordinate Order="0" X="1" Y="2"/></Coordinates></Annotation></Annotations>' \
       "</ASAP_Annotations>"


@pytest.fixture
def targets(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Paths a hostile document may name: an existing file, a missing one, a directory, a FIFO, a URL."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE\n")
    directory = tmp_path / "a-directory"
    directory.mkdir()
    fifo = tmp_path / "a-fifo"
    os.mkfifo(fifo)
    yield {
        "file": str(secret),
        "missing": str(tmp_path / "missing" / "nothing.dtd"),
        "directory": str(directory),
        "fifo": str(fifo),
        "file-uri": fifo.as_uri(),
        "url": "http://192.0.2.1/never.dtd",
    }


def release_fifos(paths: list[str]) -> None:
    """Open every FIFO in *paths* for writing, which lets a reader blocked in open() go on."""
    for path in paths:
        if path.startswith("/") and Path(path).is_fifo():
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass  # no reader waiting


def promptly(call: Callable[[], Any], fifos: list[str]) -> tuple[str, Any]:
    """("ok", result) or ("error", the exception) of *call*, which must return within PROMPT_S."""
    outcome: list[tuple[str, Any]] = []

    def run() -> None:
        try:
            outcome.append(("ok", call()))
        except Exception as exc:  # noqa: BLE001 - reported to the test
            outcome.append(("error", exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(PROMPT_S)
    if thread.is_alive():
        release_fifos(fifos)
        thread.join(PROMPT_S)
        pytest.fail(f"the parse blocked for {PROMPT_S} s: it opened a path named in the document")
    return outcome[0]


# -- documents ------------------------------------------------------------------------------------

DECLARATIONS = {
    "utf-8": ('<?xml version="1.0" encoding="UTF-8"?>', "utf-8", b""),
    "utf-8 BOM": ('<?xml version="1.0" encoding="UTF-8"?>', "utf-8", b"\xef\xbb\xbf"),
    "utf-8 no declaration": ("", "utf-8", b""),
    "utf-16-le BOM": ('<?xml version="1.0" encoding="UTF-16"?>', "utf-16-le", b"\xff\xfe"),
    "utf-16-be BOM": ('<?xml version="1.0" encoding="UTF-16"?>', "utf-16-be", b"\xfe\xff"),
    "utf-16-le": ('<?xml version="1.0" encoding="UTF-16LE"?>', "utf-16-le", b""),
    "utf-16-be": ('<?xml version="1.0" encoding="UTF-16BE"?>', "utf-16-be", b""),
}
PREFIXES = {
    "plain": "",
    "comment holding <a": "\n<!-- <a href='x'> -->\n",
    "PI holding <a": "\n<?note <a ?>\n",
    "both": "<?x <b?><!--<a-->",
}


def doctypes(path: str) -> dict[str, str]:
    return {
        "SYSTEM": f'<!DOCTYPE ASAP_Annotations SYSTEM "{path}">',
        "PUBLIC": f'<!DOCTYPE ASAP_Annotations PUBLIC "-//Hostile//EN" "{path}">',
        "parameter entity": f'<!DOCTYPE ASAP_Annotations [<!ENTITY % p SYSTEM "{path}"> %p;]>',
        "external entity": f'<!DOCTYPE ASAP_Annotations [<!ENTITY e SYSTEM "{path}">]>',
    }


def document(encoding: str, prefix: str, doctype: str, body: str = BODY) -> bytes:
    declaration, codec, bom = DECLARATIONS[encoding]
    return bom + (declaration + prefix + doctype + "\n" + body).encode(codec)


def test_every_encoding_and_prefix_reads_without_a_doctype() -> None:
    """The documents below are valid ASAP XML but for their DOCTYPE: the refusal is the DOCTYPE's."""
    expected = read_asap(BODY.encode())
    for encoding, prefix in itertools.product(DECLARATIONS, PREFIXES.values()):
        assert read_asap(document(encoding, prefix, "")) == expected, encoding


def test_doctype_bypasses_give_one_error_and_open_nothing(targets: dict[str, str]) -> None:
    fifos = list(targets.values())
    messages = set()
    cases = 0
    for (encoding, prefix), (kind, path) in itertools.product(
        itertools.product(DECLARATIONS, PREFIXES.values()), targets.items()
    ):
        for doctype in doctypes(path).values():
            body = BODY.replace('Name="a"', 'Name="&e;"') if "ENTITY e " in doctype else BODY
            data = document(encoding, prefix, doctype, body)
            status, result = promptly(lambda data=data: read_asap(data), fifos)  # type: ignore[misc]
            assert status == "error" and isinstance(result, AnnotationFormatError), (encoding, kind, doctype)
            messages.add((result.message, tuple(result.details)))
            cases += 1
    assert cases == len(DECLARATIONS) * len(PREFIXES) * len(targets) * 4
    assert messages == {(REFUSED, ())}


def test_the_parser_alone_opens_nothing_a_document_names(targets: dict[str, str]) -> None:
    """Without the DOCTYPE scan in front: the lxml parser itself loads, fetches and expands nothing."""
    fifos = list(targets.values())
    for path in targets.values():
        documents = {
            **{kind: f"{d}<a>x</a>" for kind, d in doctypes(path).items()},
            "external entity in content": f'<!DOCTYPE a [<!ENTITY e SYSTEM "{path}">]><a>&e;</a>',
            "unparsed entity": f'<!DOCTYPE a [<!NOTATION n SYSTEM "{path}">'
                               f'<!ENTITY u SYSTEM "{path}" NDATA n>]><a/>',
            "subset and parameter entity": f'<!DOCTYPE a SYSTEM "{path}" [<!ENTITY % q SYSTEM "{path}"> %q;]>'
                                           "<a/>",
            "XInclude": f'<a xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="{path}" '
                        'parse="text"/></a>',
            "xml-stylesheet": f'<?xml-stylesheet type="text/xsl" href="{path}"?><a/>',
            "schema location": f'<a xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                               f'xsi:noNamespaceSchemaLocation="{path}"/>',
        }
        for kind, text in documents.items():

            def parse(text: str = text) -> Any:
                parser = safe_parser()
                parser.feed(text.encode())
                return parser.close()

            status, result = promptly(parse, fifos)
            assert status == "ok", (kind, path, result)
            assert b"TOP-SECRET" not in etree.tostring(result), kind
            assert "TOP-SECRET" not in "".join(result.itertext()), kind


def test_the_resolver_refuses_before_any_file_is_opened(targets: dict[str, str]) -> None:
    """Belt and braces: even a parser told to load DTDs asks the resolver first, which refuses."""
    for path in targets.values():
        parser = etree.XMLParser(load_dtd=True, no_network=False, resolve_entities=True)
        parser.resolvers.add(xmlsafe._RESOLVER)
        data = f'<!DOCTYPE a SYSTEM "{path}"><a/>'.encode()
        status, result = promptly(lambda p=parser, d=data: etree.fromstring(d, p), list(targets.values()))
        assert status == "error" and isinstance(result, xmlsafe._Refused), (path, result)


def test_the_prolog_scan() -> None:
    assert not has_doctype(b"<a/>") and not has_doctype(b"")
    assert has_doctype(b"\xef\xbb\xbf<?x?><!-- <a --> <!DOCTYPE a>")
    assert not has_doctype(b"<!-- <!DOCTYPE a> --><a/>")  # only a real DOCTYPE counts
    long_comment = "<!--" + "<a " * 50_000 + "-->"  # past the first decoded chunk
    for codec in ("utf-16", "utf-16-le", "utf-16-be", "utf-32"):
        assert has_doctype(f'<?xml version="1.0"?>{long_comment}<!DOCTYPE a><a/>'.encode(codec)), codec
        assert not has_doctype(f'<?xml version="1.0"?>{long_comment}<a/>'.encode(codec)), codec


def test_a_doctype_past_the_scan_is_refused_after_parsing(
    targets: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second line of defence: with the scan switched off, the parsed DOCTYPE is refused."""
    monkeypatch.setattr(xmlsafe, "has_doctype", lambda _data: False)
    for encoding, path in itertools.product(DECLARATIONS, targets.values()):
        for doctype in doctypes(path).values():
            data = document(encoding, PREFIXES["comment holding <a"], doctype)
            status, result = promptly(lambda data=data: parse_untrusted(data), list(targets.values()))
            assert status == "error" and result.message == REFUSED, (encoding, doctype, result)


def test_a_fifo_as_the_file_to_read_is_refused_promptly(targets: dict[str, str]) -> None:
    status, result = promptly(lambda: read_asap(targets["fifo"]), [targets["fifo"]])
    assert status == "error" and "not a regular file" in str(result)


# -- through a real server ------------------------------------------------------------------------

HEADERS = {"Content-Type": "application/xml", "X-Requested-With": "wsi-viewer-test"}


def test_uploads_and_sidecars_through_the_api_answer_the_same_text(tmp_path: Path) -> None:
    slides = tmp_path / "slides"
    slides.mkdir()
    shutil.copy(SLIDE, slides / "CMU-1-Small-Region.svs")
    shutil.copy(SLIDE, slides / "second.svs")
    fifo = tmp_path / "probe-fifo"
    os.mkfifo(fifo)
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE\n")
    # A sidecar holding the UTF-16 bypass, naming the FIFO; the other slide's sidecar is fine for now.
    (slides / "CMU-1-Small-Region.xml").write_bytes(
        document("utf-16-le BOM", PREFIXES["comment holding <a"], doctypes(str(fifo))["SYSTEM"])
    )
    (slides / "second.xml").write_bytes((REAL / "tumor_111.xml").read_bytes())
    hostile = [
        document(encoding, prefix, doctypes(path)["SYSTEM"])
        for encoding, prefix, path in [
            ("utf-8", PREFIXES["PI holding <a"], str(secret)),
            ("utf-16-be", PREFIXES["comment holding <a"], str(fifo)),
            ("utf-16-le BOM", "", str(tmp_path)),
            ("utf-8 BOM", PREFIXES["both"], str(tmp_path / "missing.dtd")),
        ]
    ]
    try:
        with running_server(str(slides), "--workers", "1", "--threads", "4",
                            data_dir=tmp_path / "data") as server:
            listed = requests.get(server.url + "/api/slides", timeout=60).json()["slides"]
            by_name = {s["id"]: s for s in listed}
            first, second = by_name["CMU-1-Small-Region.svs"], by_name["second.svs"]
            got = requests.get(server.url + first["urls"]["annotations"], timeout=30).json()
            assert got["sidecar_error"] == f"CMU-1-Small-Region.xml: {REFUSED}"
            assert got["sets"] == []

            for data in hostile:
                upload = requests.post(server.url + first["urls"]["annotations"], params={"name": "x"},
                                       data=data, headers=HEADERS, timeout=30)
                assert (upload.status_code, upload.json()["error"]) == (400, REFUSED)
                files = {"file": ("hostile.xml", data, "application/xml")}
                multipart = requests.post(server.url + first["urls"]["annotations"], files=files,
                                          headers={"X-Requested-With": "wsi-viewer-test"}, timeout=30)
                assert (multipart.status_code, multipart.json()["error"]) == (400, REFUSED)
                put = requests.put(server.url + first["urls"]["annotations_xml"], data=data,
                                   headers=HEADERS, timeout=30)
                assert (put.status_code, put.json()["error"]) == (400, REFUSED)
                assert "TOP-SECRET" not in upload.text + multipart.text + put.text

            # A sidecar imported fine, then edited on disk into a hostile one: the same text again.
            (set_info,) = requests.get(server.url + second["urls"]["annotations"], timeout=30).json()["sets"]
            (slides / "second.xml").write_bytes(hostile[1])
            os.utime(slides / "second.xml", ns=(5, 5))
            again = requests.get(server.url + set_info["urls"]["self"], timeout=30).json()
            changed = f"second.xml changed on disk but cannot be imported: {REFUSED}"
            assert again["sidecar"]["error"] == changed
            assert len(again["features"]) == len(read_asap(REAL / "tumor_111.xml").annotations)
            # The server still serves (no thread hangs on the FIFO).
            assert requests.get(server.url + first["urls"]["dzi"], timeout=10).status_code == 200
            assert read_asap(requests.get(server.url + set_info["urls"]["asap_xml"], timeout=30).content) \
                == read_asap(write_asap(read_asap(REAL / "tumor_111.xml")))
    finally:
        release_fifos([str(fifo)])
