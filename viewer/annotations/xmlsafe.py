"""Parsing untrusted XML: the project's one lxml parser, for every XML it reads (ASAP XML uploads and
sidecars today, Aperio ImageScope XML later). The only module that imports lxml.

A hostile document must never make the server open a local file or a URL (an external DTD subset,
external general or parameter entities, XInclude, ``xml-stylesheet``), expand an entity, block on a
FIFO, or let its error message tell one path on the server's disk from another. How:

* The parser loads no DTD, resolves no entity and has no network (``load_dtd=False``,
  ``resolve_entities=False``, ``no_network=True``) and keeps libxml2's size, depth and entity
  amplification limits (``huge_tree=False``).
* ``collect_ids`` stays on. lxml implements ``collect_ids=False`` by setting ``XML_SKIP_IDS`` in
  libxml2's ``loadsubset``, and libxml2 (2.14) loads the external subset and external parameter
  entities whenever ``loadsubset`` is non-zero, whatever ``load_dtd`` says: that one option made
  ``<!DOCTYPE x SYSTEM "/etc/passwd">`` open the file (seen with strace), answer differently for an
  existing file, a missing one and a directory, and hang on a FIFO.
* Every external load libxml2 still asks for goes to a resolver that refuses it, before any file is
  opened (belt and braces: a later lxml or libxml2 default cannot reopen the hole).
* A DOCTYPE is refused: first by a scan of the prolog decoded the way XML detects encodings (BOM,
  UTF-16/32 without BOM, EBCDIC), skipping comments and processing instructions, so a hostile
  document is refused before libxml2 reads its entity declarations; then, for whatever the scan
  cannot decode, after parsing, from the parsed document's DOCTYPE. Both give :data:`REFUSED`, the
  same text whatever the DOCTYPE names.
* XInclude is never processed (no ``xinclude()`` call) and processing instructions, such as
  ``xml-stylesheet``, are dropped (no XSLT anywhere).
"""

from __future__ import annotations

import codecs
import re
from typing import Any

from lxml import etree

from viewer.errors import AnnotationFormatError

#: The one error for a document with a DOCTYPE or an external reference, whatever it names.
REFUSED = (
    "DOCTYPE declarations are not allowed in annotation XML "
    "(no DTD, entity or other file is ever loaded, fetched or expanded)"
)


class _Refused(Exception):
    """Raised by the resolver: libxml2 asked to load something external."""


class _RefuseEverything(etree.Resolver):  # type: ignore[misc]  # lxml has no type stubs
    """Answers every request to load a DTD, an entity or any other URL or file with a refusal."""

    def resolve(self, system_url: str | None, public_id: str | None, context: Any) -> Any:
        raise _Refused


_RESOLVER = _RefuseEverything()


def safe_parser(*, remove_comments: bool = True, remove_pis: bool = True) -> etree.XMLParser:
    """A new lxml parser that loads, fetches and expands nothing (one per parse: lxml parsers are
    not shared between threads). :func:`parse_untrusted` is the checked way to use it."""
    parser = etree.XMLParser(
        resolve_entities=False, load_dtd=False, dtd_validation=False, attribute_defaults=False,
        no_network=True, huge_tree=False, recover=False, remove_comments=remove_comments,
        remove_pis=remove_pis,  # collect_ids must stay True: see the module docstring
    )
    parser.resolvers.add(_RESOLVER)
    return parser


def parse_untrusted(data: bytes, *, remove_comments: bool = True, remove_pis: bool = True) -> Any:
    """The root element of the XML document *data*, parsed with :func:`safe_parser`.

    :raises AnnotationFormatError: a DOCTYPE or an external reference (:data:`REFUSED`), or the
        document is not well-formed (libxml2's message, with its line and column).
    """
    if has_doctype(data):
        raise AnnotationFormatError(REFUSED)
    try:
        root = etree.fromstring(data, safe_parser(remove_comments=remove_comments, remove_pis=remove_pis))
    except _Refused:
        raise AnnotationFormatError(REFUSED) from None
    except etree.XMLSyntaxError as exc:
        # libxml2's message already ends in ", line N, column M"
        raise AnnotationFormatError(f"not well-formed XML: {exc.msg}", details=[exc.msg]) from None
    except ValueError as exc:  # e.g. an encoding declaration lxml cannot honour
        raise AnnotationFormatError(f"cannot parse annotation XML: {exc}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise AnnotationFormatError(REFUSED)
    return root


def local_name(element: Any) -> str:
    """An element's tag without its ``{namespace}``."""
    return str(etree.QName(element).localname)


def is_element(node: Any) -> bool:
    """True for elements; False for comments, processing instructions and entity references."""
    return isinstance(node.tag, str)


# -- the prolog scan ------------------------------------------------------------------------------

# Anything XML allows before a DOCTYPE: whitespace, the declaration and other PIs, comments.
_PROLOG_BYTES = re.compile(rb"(?:[ \t\r\n]+|<\?.*?\?>|<!--.*?-->)*", re.S)
_PROLOG_TEXT = re.compile(r"(?:[ \t\r\n]+|<\?.*?\?>|<!--.*?-->)*", re.S)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# XML 1.0 appendix F: the first bytes of '<?xml' in encodings that are not ASCII-compatible.
_SIGNATURES = (
    (b"<\x00\x00\x00", "utf-32-le"), (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00?\x00", "utf-16-le"), (b"\x00<\x00?", "utf-16-be"), (b"\x4c\x6f\xa7\x94", "cp037"),
)


def _encoding_of(data: bytes) -> tuple[str | None, int]:
    """(codec, BOM length) for the prolog scan; None for ASCII-compatible bytes (scanned as they are)."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return (None if codec == "utf-8" else codec), len(bom)
    for signature, codec in _SIGNATURES:
        if data.startswith(signature):
            return codec, 0
    return None, 0


def has_doctype(data: bytes) -> bool:
    """Whether *data* declares a DOCTYPE in its prolog (before the first element).

    A cheap early refusal; :func:`parse_untrusted` checks the parsed document as well.
    """
    codec, start = _encoding_of(data)
    if codec is None:
        end = _PROLOG_BYTES.match(data, start).end()  # type: ignore[union-attr]
        return data.startswith(b"<!DOCTYPE", end)
    # Decode a growing prefix until the prolog is seen to end (a cut comment or PI needs more).
    size = 4096
    while True:
        chunk = data[start:start + size]
        text = codecs.decode(chunk, codec, errors="replace")
        end = _PROLOG_TEXT.match(text).end()  # type: ignore[union-attr]
        rest = text[end:]
        if rest.startswith("<!DOCTYPE"):
            return True
        complete = start + size >= len(data)
        if complete or (len(rest) >= len("<!DOCTYPE") and not rest.startswith(("<?", "<!--"))):
            return False
        size *= 4
