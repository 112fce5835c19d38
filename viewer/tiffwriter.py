"""A streaming writer of tiled, pyramidal TIFF / BigTIFF files (``tifffile.TiffWriter``, Pillow, zlib).

The layout is the one OpenSlide's ``generic-tiff`` vendor reads (and CAMELYON's files use): one
tiled image directory (IFD) per pyramid level, level 0 first, every following directory a smaller,
reduced-resolution (NewSubfileType 1) level. Tiles are passed in already encoded
(:func:`encode_tile`), level by level, in row-major order, and ``tifffile.TiffWriter`` writes them as
they come (``write(data=<iterator of bytes>, ...)``, one call per level, its IFD before its tiles); only
the tile byte counts of the level being written are kept, so memory does not grow with the image.

The file appears atomically: it is written to a hidden temporary file in the target directory,
fsynced and renamed over *path*; on any exception the temporary file is removed.

Sizes are in pixels of the level concerned; ``mpp`` is micrometres per level-0 pixel.

tifffile replaced an in-house IFD writer (issue 14: one TIFF library) because it writes as fast:
``benchmarks/tiff_io.py``, the demo slide's pyramid (61,440 x 40,960 px, 12,806 encoded 512 px JPEG
tiles, 195 MB, fsync included), medians of alternating runs in one run on a loaded 2-core machine
(load average 4.5): in-house 175 ms wall / 67 ms CPU, tifffile 182 ms / 75 ms (0.6 µs more CPU per
tile; the demo's encoding takes most of a minute); the likelihood map (17 deflate tiles) 1.5 /
0.9 ms against 1.8 / 1.1 ms (an earlier run, load 2.3: 264 / 68 against 240 / 74 ms for the slide).
Tiles are byte-identical and the tags the same but for two defaults tifffile leaves out
(SampleFormat 1, PlanarConfiguration 1 of one sample) and XResolution 1/1 with ResolutionUnit
"none" when no *mpp* is given. The reader of stored tiles stayed in-house: see
``viewer.slides.tiffreader`` for its figures.
"""

from __future__ import annotations

import io
import itertools
import os
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction

import numpy as np
import tifffile
from PIL import Image

from viewer.atomicfile import atomic_write

__all__ = ["write_pyramid_tiff", "encode_tile", "split_jpeg_tables", "abbreviate_jpeg", "jpeg_tables",
           "pyramid_sizes"]

_COMPRESSIONS = {"none": 1, "jpeg": 7, "deflate": 8}  # TIFF Compression tag values
_PHOTOMETRICS = {"minisblack": 1, "rgb": 2, "ycbcr": 6}
_SUBSAMPLINGS = ("4:4:4", "4:2:2", "4:2:0")

# JPEG markers
_SOI, _EOI, _SOS, _DQT, _DHT, _APP0 = 0xD8, 0xD9, 0xDA, 0xDB, 0xC4, 0xE0
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def pyramid_sizes(width: int, height: int, min_size: int = 1024) -> list[tuple[int, int]]:
    """Level sizes halving (rounding up) from (width, height) until the larger side is < *min_size*.

    This is CAMELYON's generic-tiff layout: downsample 2 per level, smallest level under *min_size* px.
    """
    sizes = [(width, height)]
    while max(sizes[-1]) >= min_size:
        w, h = sizes[-1]
        sizes.append(((w + 1) // 2, (h + 1) // 2))
    return sizes


def write_pyramid_tiff(
    path: str | os.PathLike[str],
    level_sizes: list[tuple[int, int]],
    tile_size: int,
    tiles: Callable[[int], Iterable[bytes]],
    *,
    samples_per_pixel: int,
    photometric: str,
    compression: str,
    mpp: tuple[float, float] | None = None,
    description: str | None = None,
    jpeg_tables: bytes | None = None,
    bigtiff: bool = True,
) -> None:
    """Write a tiled pyramid to *path*, atomically.

    *level_sizes* are (width, height) per level in pixels, level 0 first, each smaller than the one
    before. ``tiles(level)`` yields the level's encoded tiles (full *tile_size* squares, see
    :func:`encode_tile`) in row-major order; an empty ``b""`` marks an absent tile (offset and byte
    count 0). *photometric* is ``"minisblack"``, ``"rgb"`` or ``"ycbcr"``; *compression* ``"jpeg"``,
    ``"deflate"`` or ``"none"``. *mpp* (µm per level-0 pixel, x and y) is stored as X/YResolution in
    pixels per centimetre (ResolutionUnit 3), scaled per level, which is where OpenSlide's
    generic-tiff reads ``openslide.mpp-x/y`` from. *jpeg_tables* (SOI, DQT/DHT segments, EOI) is
    the shared JPEGTables block of abbreviated JPEG tiles (see :func:`split_jpeg_tables`).
    *description* goes into level 0's ImageDescription.

    :raises ValueError: on inconsistent arguments, a wrong number of tiles, or a classic TIFF over 4 GiB.
    """
    if compression not in _COMPRESSIONS:
        raise ValueError(f"compression must be one of {sorted(_COMPRESSIONS)}, not {compression!r}")
    if photometric not in _PHOTOMETRICS:
        raise ValueError(f"photometric must be one of {sorted(_PHOTOMETRICS)}, not {photometric!r}")
    if photometric == "ycbcr" and (compression != "jpeg" or samples_per_pixel != 3):
        raise ValueError("photometric 'ycbcr' needs compression 'jpeg' and 3 samples per pixel")
    if samples_per_pixel < 1 or (photometric in ("rgb", "ycbcr") and samples_per_pixel < 3):
        raise ValueError(f"{samples_per_pixel} samples per pixel cannot be {photometric}")
    if tile_size <= 0 or tile_size % 16:
        raise ValueError(f"tile size must be a positive multiple of 16 (TIFF rule), not {tile_size}")
    if not level_sizes:
        raise ValueError("at least one level is needed")
    for w, h in level_sizes:
        if w <= 0 or h <= 0:
            raise ValueError(f"level sizes must be positive, got {(w, h)}")
    if jpeg_tables is not None and (compression != "jpeg" or jpeg_tables[:2] != b"\xff\xd8"):
        raise ValueError("jpeg_tables must be a JPEG tables block (SOI ... EOI) and needs compression 'jpeg'")
    if mpp is not None and not (mpp[0] > 0 and mpp[1] > 0):
        raise ValueError(f"mpp must be positive, got {mpp}")

    written = [0]
    with atomic_write(path, buffering=1 << 20) as f, tifffile.TiffWriter(
        # named here: tifffile reads a stream's name, and a nameless (O_TMPFILE) file's is a number
        tifffile.FileHandle(f, mode="wb", name=os.fspath(path), size=0), bigtiff=bigtiff, byteorder="<",
    ) as tif:
        for level, (width, height) in enumerate(level_sizes):
            try:
                _write_level(
                    tif, level, width, height, tile_size, tiles(level),
                    samples_per_pixel=samples_per_pixel, photometric=photometric, compression=compression,
                    resolution=None if mpp is None else (
                        _pixels_per_cm(mpp[0], level_sizes[0][0] / width),
                        _pixels_per_cm(mpp[1], level_sizes[0][1] / height),
                    ),
                    description=description if level == 0 else None,
                    jpeg_tables=jpeg_tables, written=written,
                )
            except struct.error as e:  # an offset beyond 32 bits
                raise ValueError("classic TIFF cannot exceed 4 GiB; write a BigTIFF") from e


def _pixels_per_cm(mpp: float, downsample: float) -> Fraction:
    """10 000 µm/cm over the level's µm per pixel, as an exact 32-bit rational where possible."""
    value = Fraction(10_000) / (Fraction(repr(float(mpp))) * Fraction(downsample))
    if value.numerator >= 1 << 32 or value.denominator >= 1 << 32:
        # the largest denominator that keeps the numerator within 32 bits too
        value = value.limit_denominator(max(1, min(1 << 20, ((1 << 32) - 1) // (int(value) + 1))))
    return value


def _write_level(
    tif: tifffile.TiffWriter, level: int, width: int, height: int, tile_size: int, tiles: Iterable[bytes], *,
    samples_per_pixel: int, photometric: str, compression: str, resolution: tuple[Fraction, Fraction] | None,
    description: str | None, jpeg_tables: bytes | None, written: list[int],
) -> None:
    count = (-(-width // tile_size)) * (-(-height // tile_size))
    source = iter(tiles)
    leading: list[bytes] = []
    subsampling: tuple[int, int] | None = None
    compressionargs: dict[str, str] = {}
    if compression == "jpeg" and samples_per_pixel == 3:
        # tifffile writes YCbCrSubSampling (and ReferenceBlackWhite) before the tiles: read it from
        # the first stored tile
        for tile in source:
            leading.append(tile)
            if len(tile) or len(leading) > count:
                break
        subsampling = _chroma_subsampling(next((t for t in leading if len(t)), None))
        # PhotometricInterpretation YCbCr, or RGB for tiles whose components are R, G, B
        compressionargs["outcolorspace"] = "YCBCR" if photometric == "ycbcr" else "RGB"
    data = _counted(itertools.chain(leading, source), count, level, width, height, tif, written)
    tif.write(
        data,
        shape=(height, width, samples_per_pixel) if samples_per_pixel > 1 else (height, width),
        dtype=np.uint8,
        photometric="rgb" if photometric == "ycbcr" else photometric,
        planarconfig="contig",
        tile=(tile_size, tile_size),
        compression=_COMPRESSIONS[compression],
        compressionargs=compressionargs,
        subsampling=subsampling,
        jpegtables=jpeg_tables,
        description=None if description is None else description.encode("utf-8"),
        resolution=None if resolution is None else (
            (resolution[0].numerator, resolution[0].denominator),
            (resolution[1].numerator, resolution[1].denominator)),
        resolutionunit="CENTIMETER" if resolution is not None else None,
        subfiletype=0 if level == 0 else 1,  # NewSubfileType 1: a reduced-resolution image
        software="wsi-viewer tiffwriter",
        metadata=None,
    )
    if len(leading) > count or next(source, None) is not None:
        raise ValueError(f"level {level}: more than the {count} tiles of a {width}x{height} level")


def _counted(tiles: Iterator[bytes], count: int, level: int, width: int, height: int,
             tif: tifffile.TiffWriter, written: list[int]) -> Iterator[bytes]:
    """*tiles*, refusing fewer than *count* and a classic TIFF's data beyond 4 GiB (*written*: the
    tile bytes so far, all levels)."""
    index = -1
    for index, tile in enumerate(tiles):
        written[0] += len(tile)
        if not tif.tiff.is_bigtiff and written[0] >= 1 << 32:
            raise ValueError("classic TIFF cannot exceed 4 GiB; write a BigTIFF")
        yield tile
        if index + 1 == count:
            return
    raise ValueError(f"level {level}: got {index + 1} tiles, a {width}x{height} level has {count}")


def _jpeg_segments(data: bytes) -> Iterable[tuple[int, int, int]]:
    """(marker, start, end) of each header segment of a JPEG up to and including SOS.

    The SOS entry's end is the end of *data* (scan data and EOI follow its header).
    """
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG (no SOI marker)")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError(f"corrupt JPEG: no marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == _EOI:
            yield marker, pos, pos + 2
            return
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if marker == _SOS:
            yield marker, pos, len(data)
            return
        yield marker, pos, pos + 2 + length
        pos += 2 + length
    raise ValueError("corrupt JPEG: truncated header")


def _chroma_subsampling(jpeg: bytes | None) -> tuple[int, int]:
    """TIFF YCbCrSubSampling (horizontal, vertical) read from a JPEG's frame header; 2, 2 if unknown."""
    if jpeg is None:
        return 2, 2
    try:
        for marker, start, _end in _jpeg_segments(jpeg):
            if marker in _SOF_MARKERS:
                components = jpeg[start + 9]
                factors = [jpeg[start + 11 + 3 * i] for i in range(components)]
                if components != 3:
                    return 1, 1
                h_max, v_max = factors[0] >> 4, factors[0] & 15
                return max(1, h_max // max(1, factors[1] >> 4)), max(1, v_max // max(1, factors[1] & 15))
    except (ValueError, IndexError):
        pass
    return 2, 2


def abbreviate_jpeg(tile: bytes) -> tuple[bytes, bytes]:
    """Split one self-contained JPEG into (tables, abbreviated tile).

    *tables* is SOI + the DQT and DHT segments + EOI (a TIFF JPEGTables block); the abbreviated tile
    keeps everything else but the JFIF APP0 segment (TIFF tags carry the colour space).
    """
    tables = [b"\xff\xd8"]
    body = [b"\xff\xd8"]
    for marker, start, end in _jpeg_segments(tile):
        if marker in (_DQT, _DHT):
            tables.append(tile[start:end])
        elif marker == _APP0 and tile[start + 4:start + 9] == b"JFIF\0":
            continue
        else:
            body.append(tile[start:end])
    tables.append(b"\xff\xd9")
    return b"".join(tables), b"".join(body)


def split_jpeg_tables(jpeg_tiles: Iterable[bytes]) -> tuple[bytes, list[bytes]]:
    """(shared JPEGTables block, abbreviated tiles) from self-contained JPEG tiles.

    The tiles must have been encoded with identical settings (Pillow with ``optimize=False`` writes
    the same quantisation and Huffman tables for the same quality and subsampling), as scanners such
    as Aperio store them.

    :raises ValueError: if the tiles do not all carry the same tables.
    """
    shared: bytes | None = None
    out: list[bytes] = []
    for tile in jpeg_tiles:
        tables, body = abbreviate_jpeg(tile)
        if shared is None:
            shared = tables
        elif tables != shared:
            raise ValueError(f"tile {len(out)} has different JPEG tables from tile 0")
        out.append(body)
    if shared is None:
        raise ValueError("no tiles")
    return shared, out


def jpeg_tables(quality: int = 90, subsampling: str = "4:2:0", samples_per_pixel: int = 3) -> bytes:
    """The JPEGTables block :func:`encode_tile` tiles of these settings share (for streaming writers)."""
    blank = np.zeros((16, 16, samples_per_pixel) if samples_per_pixel > 1 else (16, 16), np.uint8)
    return abbreviate_jpeg(encode_tile(blank, "jpeg", quality, subsampling))[0]


def encode_tile(
    array: np.ndarray,
    compression: str,
    quality: int = 90,
    subsampling: str = "4:2:0",
    *,
    tile_size: int | None = None,
    pad_value: int | None = None,
) -> bytes:
    """Encode one uint8 tile, (h, w) or (h, w, samples), as TIFF tile bytes.

    A tile smaller than *tile_size* (a right or bottom edge tile) is padded to the full square,
    because TIFF tiles are always full size; the padding is *pad_value* (default: 255, white, for
    3+ samples; 0 for single-channel masks). ``"jpeg"`` writes a self-contained baseline JPEG
    (YCbCr for 3 samples, with *quality* and *subsampling* ``"4:4:4"|"4:2:2"|"4:2:0"``; optimize off so
    all tiles share tables), ``"deflate"`` zlib data, ``"none"`` the raw bytes.
    """
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise ValueError(f"tiles must be uint8 (h, w) or (h, w, samples), got {array.dtype} {array.shape}")
    if tile_size is not None:
        h, w = array.shape[:2]
        if h > tile_size or w > tile_size:
            raise ValueError(f"tile of {w}x{h} px is larger than the tile size {tile_size}")
        if (h, w) != (tile_size, tile_size):
            samples = 1 if array.ndim == 2 else array.shape[2]
            fill = pad_value if pad_value is not None else (255 if samples >= 3 else 0)
            padded = np.full((tile_size, tile_size) + array.shape[2:], fill, np.uint8)
            padded[:h, :w] = array
            array = padded
    if compression == "jpeg":
        if subsampling not in _SUBSAMPLINGS:
            raise ValueError(f"subsampling must be one of {_SUBSAMPLINGS}, not {subsampling!r}")
        image = Image.fromarray(array[:, :, 0] if array.ndim == 3 and array.shape[2] == 1 else array)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality, subsampling=subsampling, optimize=False)
        return buffer.getvalue()
    if compression == "deflate":
        return zlib.compress(np.ascontiguousarray(array).tobytes(), 6)
    if compression == "none":
        return np.ascontiguousarray(array).tobytes()
    raise ValueError(f"compression must be one of {sorted(_COMPRESSIONS)}, not {compression!r}")
