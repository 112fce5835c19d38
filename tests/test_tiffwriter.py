"""viewer.tiffwriter: files it writes open in real OpenSlide (generic-tiff) and tifffile with the
sizes, levels, resolution and pixels written; JPEG tiles self-contained or sharing JPEGTables;
writes are atomic."""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openslide
import pytest
import tifffile
from _slide_helpers import make_test_slide, slide_levels
from PIL import Image

from viewer.slides.tiffreader import assemble_jpeg, read_tiled_directories
from viewer.tiffwriter import (
    abbreviate_jpeg,
    encode_tile,
    jpeg_tables,
    pyramid_sizes,
    split_jpeg_tables,
    write_pyramid_tiff,
)

DQT, DHT = b"\xff\xdb", b"\xff\xc4"


def _tiles(pixels: np.ndarray, tile_size: int, compression: str) -> Iterator[bytes]:
    h, w = pixels.shape[:2]
    for y in range(0, h, tile_size):
        for x in range(0, w, tile_size):
            yield encode_tile(pixels[y:y + tile_size, x:x + tile_size], compression, tile_size=tile_size)


def _openslide_rgb(slide: openslide.OpenSlide, level: int) -> np.ndarray:
    w, h = slide.level_dimensions[level]
    ds = slide.level_downsamples[level]
    assert ds == round(ds)
    return np.asarray(slide.read_region((0, 0), level, (w, h)).convert("RGB"))


@pytest.mark.parametrize("shared", [False, True], ids=["self-contained", "shared-tables"])
def test_jpeg_pyramid_opens_in_openslide_and_tifffile(tmp_path: Path, shared: bool) -> None:
    # not a power of two, not a multiple of the tile size: edge tiles are padded
    width, height, tile = 1000, 700, 256
    path = make_test_slide(tmp_path / "slide.tif", width, height, tile, shared_tables=shared,
                           mpp=(0.243, 0.25), description="generated for a test")
    expected = slide_levels(width, height, min_size=tile)
    assert [a.shape[:2] for a in expected] == [(700, 1000), (350, 500), (175, 250)]

    with openslide.OpenSlide(path) as slide:
        assert slide.properties["openslide.vendor"] == "generic-tiff"
        assert slide.level_dimensions == ((1000, 700), (500, 350), (250, 175))
        assert slide.level_downsamples == (1.0, 2.0, 4.0)
        assert float(slide.properties["openslide.mpp-x"]) == pytest.approx(0.243, abs=1e-9)
        assert float(slide.properties["openslide.mpp-y"]) == pytest.approx(0.25, abs=1e-9)
        assert slide.properties["tiff.ImageDescription"] == "generated for a test"
        assert slide.properties["tiff.ResolutionUnit"] == "centimeter"
        decoded = [_openslide_rgb(slide, level) for level in range(slide.level_count)]
    for level, (got, want) in enumerate(zip(decoded, expected, strict=True)):
        error = np.abs(got.astype(int) - want.astype(int))
        # JPEG q90 4:2:0 of a textured image: small mean error, no misplaced tiles
        assert error.mean() < 6, (level, error.mean())
        assert np.percentile(error, 99) < 60, level

    with tifffile.TiffFile(path) as tif:
        assert tif.is_bigtiff
        pages = tif.pages
        assert len(pages) == 3
        for level, page in enumerate(pages):
            assert page.is_tiled and page.tilewidth == page.tilelength == tile
            assert page.compression == tifffile.COMPRESSION.JPEG
            assert page.photometric == tifffile.PHOTOMETRIC.YCBCR
            assert page.subfiletype == (0 if level == 0 else 1)
            assert (("JPEGTables" in page.tags) == shared)
            # tifffile's JPEG decoder gives the same pixels as OpenSlide's, near enough
            assert np.abs(page.asarray().astype(int) - decoded[level].astype(int)).mean() < 1.0
        resolution = pages[0].tags["XResolution"].value
        assert resolution[0] / resolution[1] == pytest.approx(10_000 / 0.243)
        assert pages[1].tags["XResolution"].value[0] / pages[1].tags["XResolution"].value[1] == \
            pytest.approx(10_000 / 0.243 / 2)
        assert pages[0].tags["YCbCrSubSampling"].value == (2, 2)
        assert len(tif.series[0].levels) == 3

    # The lead's raw-tile reader sees the same directories; stored tiles carry tables or not
    directories = read_tiled_directories(path)
    assert [(d.width, d.height) for d in directories] == [(1000, 700), (500, 350), (250, 175)]
    with open(path, "rb") as f:
        offset, count = directories[0].tile_extent(3, 2)
        f.seek(offset)
        stored = f.read(count)
    assert (DQT in stored) == (not shared)
    assert (directories[0].jpeg_tables is not None) == shared
    standalone = assemble_jpeg(directories[0], stored)
    assert standalone is not None
    pixels = np.asarray(Image.open(io.BytesIO(standalone)).convert("RGB"))
    assert pixels.shape == (tile, tile, 3)
    want = expected[0][512:700, 768:1000]
    assert np.abs(pixels[:188, :232].astype(int) - want.astype(int)).mean() < 6


@pytest.mark.parametrize("bigtiff", [True, False], ids=["bigtiff", "classic"])
def test_deflate_single_channel_mask_is_lossless(tmp_path: Path, bigtiff: bool) -> None:
    rng = np.random.default_rng(1)
    mask = rng.integers(0, 4, size=(300, 520), dtype=np.uint8)
    half = mask[::2, ::2]
    levels = [mask, half]
    path = tmp_path / "mask.tif"
    write_pyramid_tiff(path, [(520, 300), (260, 150)], 128,
                       lambda level: _tiles(levels[level], 128, "deflate"),
                       samples_per_pixel=1, photometric="minisblack", compression="deflate", mpp=(16.0, 16.0),
                       bigtiff=bigtiff)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_bigtiff == bigtiff
        assert tif.pages[0].compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.MINISBLACK
        np.testing.assert_array_equal(tif.pages[0].asarray(), mask)
        np.testing.assert_array_equal(tif.pages[1].asarray(), half)
    with openslide.OpenSlide(path) as slide:
        assert slide.properties["openslide.vendor"] == "generic-tiff"
        assert slide.level_dimensions == ((520, 300), (260, 150))
        assert float(slide.properties["openslide.mpp-x"]) == 16.0
        region = np.asarray(slide.read_region((0, 0), 0, (520, 300)))
        np.testing.assert_array_equal(region[..., 0], mask)
        np.testing.assert_array_equal(region[..., 2], mask)
        assert (region[..., 3] == 255).all()


@pytest.mark.parametrize("compression", ["deflate", "none"])
def test_rgb_is_lossless(tmp_path: Path, compression: str) -> None:
    pixels = slide_levels(333, 257, seed=3, min_size=10_000)[0]
    path = tmp_path / "rgb.tif"
    write_pyramid_tiff(path, [(333, 257)], 64, lambda level: _tiles(pixels, 64, compression),
                       samples_per_pixel=3, photometric="rgb", compression=compression)
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.RGB
        np.testing.assert_array_equal(tif.pages[0].asarray(), pixels)
        # no mpp: no unit (tifffile writes XResolution 1/1 with ResolutionUnit none), so no mpp read
        assert tif.pages[0].tags["ResolutionUnit"].value == tifffile.RESUNIT.NONE
    with openslide.OpenSlide(path) as slide:
        assert slide.properties["openslide.vendor"] == "generic-tiff"
        assert "openslide.mpp-x" not in slide.properties
        np.testing.assert_array_equal(_openslide_rgb(slide, 0), pixels)


def test_absent_tiles_are_written_as_zero_extents(tmp_path: Path) -> None:
    pixels = np.full((256, 256, 3), 90, np.uint8)
    tiles = [encode_tile(pixels[:128, :128], "jpeg", tile_size=128), b"", b"",
             encode_tile(pixels[:128, :128], "jpeg", tile_size=128)]
    path = tmp_path / "sparse.tif"
    write_pyramid_tiff(path, [(256, 256)], 128, lambda level: iter(tiles),
                       samples_per_pixel=3, photometric="ycbcr", compression="jpeg")
    (directory,) = read_tiled_directories(path)
    assert directory.tile_extent(1, 0) == (0, 0)
    assert directory.tile_extent(0, 1) == (0, 0)
    assert directory.tile_extent(0, 0)[1] == len(tiles[0])


def _count_files(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def test_exception_mid_write_leaves_nothing(tmp_path: Path) -> None:
    pixels = slide_levels(600, 400, min_size=10_000)[0]

    def tiles(level: int) -> Iterator[bytes]:
        if level == 1:
            yield encode_tile(pixels[:128, :128], "jpeg", tile_size=128)
            raise RuntimeError("generator failed")
        yield from _tiles(pixels, 128, "jpeg")

    with pytest.raises(RuntimeError, match="generator failed"):
        write_pyramid_tiff(tmp_path / "slide.tif", [(600, 400), (300, 200)], 128, tiles,
                           samples_per_pixel=3, photometric="ycbcr", compression="jpeg")
    assert _count_files(tmp_path) == []


def test_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    path = make_test_slide(tmp_path / "slide.tif", 300, 200, 128)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="got 3 tiles"):
        # 300 x 200 in 128 px tiles is 3 x 2 tiles
        write_pyramid_tiff(path, [(300, 200)], 128, lambda level: (b"\xff\xd8\xff\xd9" for _ in range(3)),
                           samples_per_pixel=3, photometric="ycbcr", compression="jpeg")
    with pytest.raises(ValueError, match="more than the 6 tiles"):
        write_pyramid_tiff(path, [(300, 200)], 128, lambda level: (b"\xff\xd8\xff\xd9" for _ in range(7)),
                           samples_per_pixel=3, photometric="ycbcr", compression="jpeg")
    assert path.read_bytes() == before
    assert _count_files(tmp_path) == ["slide.tif"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"compression": "lzw"}, "compression"),
        ({"photometric": "cmyk"}, "photometric"),
        ({"photometric": "ycbcr", "compression": "deflate"}, "ycbcr"),
        ({"tile_size": 100}, "multiple of 16"),
        ({"level_sizes": [(0, 10)]}, "positive"),
        ({"mpp": (0.0, 0.5)}, "mpp"),
        ({"jpeg_tables": b"nope"}, "jpeg_tables"),
    ],
)
def test_bad_arguments_are_refused_before_writing(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {
        "level_sizes": [(64, 64)], "tile_size": 64, "samples_per_pixel": 3, "photometric": "ycbcr",
        "compression": "jpeg",
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        write_pyramid_tiff(tmp_path / "x.tif", tiles=lambda level: iter([b""]),
                           **arguments)  # type: ignore[arg-type]
    assert _count_files(tmp_path) == []


def test_written_file_has_ordinary_permissions(tmp_path: Path) -> None:
    path = make_test_slide(tmp_path / "slide.tif", 100, 100, 64)
    assert path.stat().st_mode & 0o777 == 0o644


def test_encode_tile_pads_edge_tiles() -> None:
    rgb = np.full((50, 70, 3), 40, np.uint8)
    decoded = np.asarray(Image.open(io.BytesIO(encode_tile(rgb, "jpeg", tile_size=128))))
    assert decoded.shape == (128, 128, 3)
    assert np.abs(decoded[:40, :60].astype(int) - 40).max() <= 3
    assert np.abs(decoded[60:, 80:].astype(int) - 255).max() <= 3  # white padding

    mask = np.full((10, 20), 7, np.uint8)
    raw = zlib.decompress(encode_tile(mask, "deflate", tile_size=32))
    array = np.frombuffer(raw, np.uint8).reshape(32, 32)
    assert (array[:10, :20] == 7).all() and (array[10:] == 0).all() and (array[:, 20:] == 0).all()
    assert encode_tile(mask, "none", tile_size=32, pad_value=9)[-1] == 9
    with pytest.raises(ValueError, match="larger than the tile size"):
        encode_tile(np.zeros((40, 10), np.uint8), "none", tile_size=32)
    with pytest.raises(ValueError, match="uint8"):
        encode_tile(np.zeros((8, 8), np.uint16), "none")


def test_encode_tile_subsampling_reaches_the_tiff_tag(tmp_path: Path) -> None:
    pixels = slide_levels(64, 64, min_size=10_000)[0]
    path = tmp_path / "444.tif"
    tile = encode_tile(pixels, "jpeg", subsampling="4:4:4")
    write_pyramid_tiff(path, [(64, 64)], 64, lambda level: iter([tile]),
                       samples_per_pixel=3, photometric="ycbcr", compression="jpeg")
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].tags["YCbCrSubSampling"].value == (1, 1)
        assert np.abs(tif.pages[0].asarray().astype(int) - pixels.astype(int)).mean() < 3


def test_split_jpeg_tables_round_trips_pixels() -> None:
    pixels = slide_levels(256, 128, seed=5, min_size=10_000)[0]
    tiles = [encode_tile(pixels[:, x:x + 128], "jpeg", 85) for x in (0, 128)]
    tables, abbreviated = split_jpeg_tables(tiles)
    assert tables.startswith(b"\xff\xd8") and tables.endswith(b"\xff\xd9")
    assert DQT in tables and DHT in tables
    assert tables == jpeg_tables(85, "4:2:0")
    for original, short in zip(tiles, abbreviated, strict=True):
        assert DQT not in short and DHT not in short and b"JFIF" not in short
        assert len(short) < len(original)
        merged = b"\xff\xd8" + tables[2:-2] + short[2:]
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(merged))),
                                      np.asarray(Image.open(io.BytesIO(original))))
    assert abbreviate_jpeg(tiles[0]) == (tables, abbreviated[0])


def test_split_jpeg_tables_refuses_mixed_settings() -> None:
    pixels = np.full((64, 64, 3), 128, np.uint8)
    with pytest.raises(ValueError, match="different JPEG tables"):
        split_jpeg_tables([encode_tile(pixels, "jpeg", 90), encode_tile(pixels, "jpeg", 70)])
    with pytest.raises(ValueError, match="not a JPEG"):
        split_jpeg_tables([b"GIF89a"])


def test_pyramid_sizes_halve_until_under_the_minimum() -> None:
    assert pyramid_sizes(61440, 40960) == [(61440 >> k, 40960 >> k) for k in range(7)]
    assert pyramid_sizes(1001, 999, 256) == [(1001, 999), (501, 500), (251, 250)]
    assert pyramid_sizes(100, 50, 256) == [(100, 50)]


def test_resolution_of_levels_with_non_integer_downsamples(tmp_path: Path) -> None:
    # 1001 / 501 is not a "nice" number: the rational must still fit TIFF's 32-bit fields
    sizes = [(1001, 999), (501, 500), (251, 250)]
    pixels = [np.full((h, w), 9, np.uint8) for w, h in sizes]
    path = tmp_path / "odd.tif"
    write_pyramid_tiff(path, sizes, 256, lambda level: _tiles(pixels[level], 256, "deflate"),
                       samples_per_pixel=1, photometric="minisblack", compression="deflate",
                       mpp=(0.243, 0.243))
    with tifffile.TiffFile(path) as tif:
        for page, (w, _h) in zip(tif.pages, sizes, strict=True):
            numerator, denominator = page.tags["XResolution"].value
            assert numerator / denominator == pytest.approx(10_000 / (0.243 * 1001 / w), rel=1e-6)
    with openslide.OpenSlide(path) as slide:
        assert float(slide.properties["openslide.mpp-x"]) == pytest.approx(0.243)
        assert slide.level_dimensions == tuple(sizes)
