"""The names ImageScope's reader and writer share: the group attributes holding a layer's and a
region's ImageScope details, the region attributes the model itself carries, XML names."""

from __future__ import annotations

import re

#: Group attribute holding a layer's ImageScope details (JSON).
LAYER_KEY = "imagescope.layer"
#: Prefix of the group attributes holding a region's ImageScope details (JSON), + its Id.
REGION_KEY_PREFIX = "imagescope.region."
#: Region attributes the model itself carries (or that are computed on export).
DERIVED = frozenset({"Id", "Text", "NegativeROA", "Length", "Area", "LengthMicrons", "AreaMicrons"})
INT = re.compile(r"\s*[+-]?\d+\s*\Z", re.ASCII)
XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
