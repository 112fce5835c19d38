"""ASAP annotation XML: read and write it exactly as ASAP does (parsed by :mod:`.xmlsafe`).

The format is ASAP's ``XmlRepository`` (see ``ASAP_FORMAT.md``). Coordinates are slide space
(level-0 px). ASAP holds them as C ``float``: the reader rounds every value through float32 and the
writer prints it with C's ``%.9g``, so ``write_asap(read_asap(f))`` is byte-identical to what ASAP
saves for the same file.

Reading policy (ASAP's own behaviour in brackets):

* tolerated like ASAP: missing ``Order`` (file order), unsorted ``Order`` (sorted), a group whose
  parent is not declared (made top-level), no ``<AnnotationGroups>``, a bare ``<Annotations>`` root,
  unknown elements and attributes, unknown ``Type`` (kept as ``"None"``), missing/empty ``Color``
  (``#F4FA58``), CRLF, a BOM or another declared encoding, a default ``xmlns``, comments and
  processing instructions; also hex (``0x10``) and exponent numbers, as C's ``strtod``;
* ``X="10,5"`` with no dot is read as 10.5, as written by ASAP in a comma locale [ASAP reads 10];
* groups sharing a name are all kept, in order, with a warning; annotations and child groups
  naming it belong to the last one, and every group of the name gets the parent declared last
  [ASAP the same];
* text and non-``Coordinate`` elements inside ``<Coordinates>`` are ignored with a warning that
  says what ASAP makes of them [it stores each as a point at slot ``Order`` (0 when absent), X and
  Y 0 when absent: text turns ASAP's point 0 into (0, 0) unless a later ``Order="0"`` overwrites it];
* a group ``Color`` left empty reads as ``#F4FA58``, ASAP's object default, not the GUI's group
  colour ``#64FE2E``; the model forbids empty colours so that every set round-trips;
* rejected with the element and line, where ASAP rejects, crashes or silently loses data: an
  annotation in an undeclared group [load fails], ``Order`` out of range [out-of-bounds write],
  duplicate or partly missing ``Order`` [points become (0, 0)], group cycles [stack overflow],
  a missing or non-numeric ``X``/``Y`` and nan/inf [read as 0 or kept];
* rejected outright: non-XML and truncated files [ASAP loads what it parsed], any other root
  element [empty list], any DOCTYPE (:mod:`.xmlsafe`: no entity, DTD or other file is ever
  expanded, opened or fetched, and the error is the same whatever the DOCTYPE names), nesting
  deeper than libxml2's default limit (256), and files over ``max_bytes``.

Speed: a ``<Coordinates>`` block written in ASAP's own layout is decoded straight from the bytes
(split on quotes, one C loop converting the numbers) and replaced by a marker before lxml parses the rest;
any block that is not exactly canonical goes through the element-by-element path, which is the
reference and gives the precise errors. Both paths give equal models.

Comments: ASAP has none. An annotation's :attr:`~viewer.annotations.model.Annotation.comment` is
written as one extra attribute, ``Comment``, after ASAP's four (``Name Type PartOfGroup Color
Comment``) and only when it is not empty. ASAP's reader looks attributes up by name and ignores the
others, so ASAP still opens the file (and drops the comment if it saves it again); ASAP's own
attributes keep ASAP's order and place, so a file without comments is still byte for byte ASAP's.

The package: :mod:`.reader` (the element-by-element reader and its rules), :mod:`.fast_blocks`
(ASAP's own ``<Coordinates>`` layout decoded straight from the bytes), :mod:`.numbers` (numbers
as C's ``strtod`` and pugixml read them), :mod:`.writer`. Size-limited input is
:mod:`viewer.annotations.limits`.
"""

from __future__ import annotations

from viewer.annotations.asap.reader import read_asap
from viewer.annotations.asap.writer import COMMENT_ATTRIBUTE, save_asap, write_asap
from viewer.annotations.limits import DEFAULT_MAX_BYTES, read_limited

__all__ = ["read_asap", "write_asap", "save_asap", "read_limited", "DEFAULT_MAX_BYTES", "COMMENT_ATTRIBUTE"]
