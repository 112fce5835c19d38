"""Every overlay source kind, written the way models write them (tifffile, numpy, Pillow, csv), and
every malformed upload: a precise error, and nothing left in the overlay directory."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import tifffile
from _overlay_helpers import overlay_library
from _slide_helpers import make_test_slide
from PIL import Image

from viewer.errors import InputTooLargeError, OverlayFormatError, OverlayNotFoundError
from viewer.overlays import AddOptions, Overlay, OverlayLibrary, decode_png
from viewer.overlays.sources import fit_scale
from viewer.slides import SlideLibrary, TileOptions

W, H = 3000, 2200
SLIDE = "s.tif"


@pytest.fixture(scope="module")
def slides(tmp_path_factory: pytest.TempPathFactory) -> SlideLibrary:
    root = tmp_path_factory.mktemp("slides")
    make_test_slide(root / SLIDE, W, H)
    return SlideLibrary(root, options=TileOptions(tile_size=254, overlap=1))


@pytest.fixture()
def overlays(tmp_path: Path, slides: SlideLibrary) -> OverlayLibrary:
    return overlay_library(tmp_path, slides)


def native_codes(overlays: OverlayLibrary, overlay: Overlay) -> tuple[np.ndarray, np.ndarray]:
    """Decoded values and codes of the top-left value tile at the overlay's native level."""
    return decode_png(overlay, overlays.tile(overlay.id, overlay.native_level, 0, 0))


def test_float32_pyramid_tiff_at_one_sixteenth(tmp_path: Path, overlays: OverlayLibrary) -> None:
    rng = np.random.default_rng(1)
    grid = rng.random((-(-H // 16), -(-W // 16)), dtype=np.float32)  # 138 x 188, ceil
    path = tmp_path / "heat.tif"
    with tifffile.TiffWriter(path, bigtiff=True) as tif:  # a pyramid in SubIFDs, as QuPath/bfconvert write
        tif.write(grid, tile=(64, 64), compression="zlib", subifds=1)
        tif.write(grid[::2, ::2], tile=(64, 64), compression="zlib", subfiletype=1)
    overlay = overlays.add(SLIDE, path, "heat.tif", AddOptions(name="model A"))
    assert (overlay.name, overlay.kind, overlay.source_format, overlay.source_dtype) == (
        "model A", "heatmap", "tiff", "float32")
    assert (overlay.width, overlay.height, overlay.scale) == (188, 138, 16)
    assert (overlay.value_min, overlay.value_max, overlay.encoding) == (0, 1, "u16")
    values, _ = native_codes(overlays, overlay)
    # native level: d = 16 = scale, so px (i, j) is cell (i, j); 16 bits: within 1/65535
    np.testing.assert_allclose(values, grid[:values.shape[0], :values.shape[1]], atol=0.5 / 65535)
    assert overlays.value_at(overlay.id, 16 * 5 + 1, 16 * 9 + 15) == pytest.approx(float(grid[9, 5]))
    assert [o.id for o in overlays.list(SLIDE)] == [overlay.id]
    assert overlays.get(overlay.id) == overlay


def test_uint16_striped_tiff_floor_ratio_and_float_range_outside_0_1(
        tmp_path: Path, overlays: OverlayLibrary) -> None:
    grid = (np.arange((H // 32) * (W // 32)) * 7 % 65536).astype(np.uint16).reshape(H // 32, W // 32)
    tifffile.imwrite(tmp_path / "u16.tiff", grid, rowsperstrip=8)
    overlay = overlays.add(SLIDE, tmp_path / "u16.tiff", "u16.tiff", AddOptions())
    assert (overlay.width, overlay.height, overlay.scale, overlay.source_dtype) == (93, 68, 32, "uint16")
    assert (overlay.value_min, overlay.value_max, overlay.encoding) == (0, 65535, "u16")
    values, codes = native_codes(overlays, overlay)
    assert codes.shape == (69, 94)  # the slide's tile: the map's last 24 px column and row are not covered
    np.testing.assert_array_equal(codes[:68, :93], grid)
    assert np.isnan(values[68]).all() and np.isnan(values[:, 93]).all()
    assert not np.isnan(values[:68, :93]).any()
    # float32 logits: the range is the data's
    logits = np.linspace(-3, 5, 93 * 68, dtype=np.float32).reshape(68, 93)
    tifffile.imwrite(tmp_path / "logits.tif", logits)
    overlay = overlays.add(SLIDE, tmp_path / "logits.tif", "logits.tif", AddOptions())
    assert (overlay.value_min, overlay.value_max) == (-3, 5)
    # the upload may state the range
    stated = overlays.add(SLIDE, tmp_path / "logits.tif", "logits.tif",
                          AddOptions(value_min=-10, value_max=10))
    assert (stated.value_min, stated.value_max) == (-10, 10)


def test_npy_arrays_of_each_dtype(tmp_path: Path, overlays: OverlayLibrary) -> None:
    shape = (-(-H // 64), -(-W // 64))
    rng = np.random.default_rng(2)
    cases = {
        "bool": (rng.random(shape) > 0.5, ("u8", 0, 1)),
        "uint8": (rng.integers(0, 256, shape).astype(np.uint8), ("u8", 0, 255)),
        "uint16": (rng.integers(0, 65536, shape).astype(np.uint16), ("u16", 0, 65535)),
        "int32": (rng.integers(-5, 6, shape).astype(np.int32), ("u16", -5, 5)),
        "float64": (rng.random(shape) * 0.5 + 0.25, ("u16", 0, 1)),
    }
    for dtype, (array, (encoding, lo, hi)) in cases.items():
        np.save(tmp_path / f"{dtype}.npy", array)
        overlay = overlays.add(SLIDE, tmp_path / f"{dtype}.npy", f"{dtype}.npy", AddOptions())
        assert (overlay.source_format, overlay.source_dtype, overlay.scale) == ("npy", dtype, 64)
        assert (overlay.encoding, overlay.value_min, overlay.value_max) == (encoding, lo, hi), dtype
        values, _ = native_codes(overlays, overlay)
        step = (hi - lo) / (255 if encoding == "u8" else 65535)
        np.testing.assert_allclose(values, array[:values.shape[0], :values.shape[1]].astype(float),
                                   atol=step / 2 + 1e-9, err_msg=dtype)
        np.testing.assert_array_equal(overlays.field(overlay.id).level(0), array.astype(np.float32))
    assert len(overlays.list(SLIDE)) == len(cases)


def test_png_grey_16_bit_and_palette_label_map(tmp_path: Path, overlays: OverlayLibrary) -> None:
    shape = (-(-H // 32), -(-W // 32))
    grey = ((np.arange(shape[1])[None, :] + np.arange(shape[0])[:, None]) % 256).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    overlay = overlays.add(SLIDE, tmp_path / "grey.png", "grey.png", AddOptions())
    assert (overlay.source_format, overlay.source_dtype, overlay.encoding) == ("png", "uint8", "u8")
    _, codes = native_codes(overlays, overlay)
    np.testing.assert_array_equal(codes, grey[:codes.shape[0], :codes.shape[1]])

    deep = (np.arange(shape[0] * shape[1]) * 9).astype(np.uint16).reshape(shape)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as written:
        assert written.mode.startswith("I")
    overlay = overlays.add(SLIDE, tmp_path / "deep.png", "deep.png", AddOptions())
    assert (overlay.source_dtype, overlay.encoding) == ("uint16", "u16")
    _, codes = native_codes(overlays, overlay)
    np.testing.assert_array_equal(codes, deep[:codes.shape[0], :codes.shape[1]])

    classes = np.zeros(shape, np.uint8)
    classes[10:40, 20:60] = 1
    classes[50:60, 5:90] = 2
    palette_image = Image.fromarray(classes, mode="P")
    palette_image.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255])
    palette_image.save(tmp_path / "tissue.png")
    overlay = overlays.add(SLIDE, tmp_path / "tissue.png", "tissue.png",
                           AddOptions(classes=("glass", "tumour", "stroma")))
    assert overlay.kind == "labels" and overlay.encoding == "u8"
    assert overlay.classes is not None
    assert [(c.value, c.name, c.color) for c in overlay.classes] == [
        (0, "glass", "#000000"), (1, "tumour", "#ff0000"), (2, "stroma", "#0000ff")]
    assert overlay.to_json()["classes"][1] == {"value": 1, "name": "tumour", "color": "#ff0000"}
    values, codes = native_codes(overlays, overlay)
    np.testing.assert_array_equal(codes, classes[:codes.shape[0], :codes.shape[1]])
    assert overlays.value_at(overlay.id, 32 * 30, 32 * 20) == 1


def test_label_map_never_averaged(tmp_path: Path, overlays: OverlayLibrary) -> None:
    shape = (-(-H // 8), -(-W // 8))  # 275 x 375
    rng = np.random.default_rng(3)
    labels = rng.choice(np.array([0, 3, 7], np.uint8), size=shape)
    np.save(tmp_path / "labels.npy", labels)
    named = overlays.add(SLIDE, tmp_path / "labels.npy", "named.npy", AddOptions(classes=("glass", "fat")))
    assert named.kind == "labels" and named.classes is not None  # names make it a label map
    assert [(c.value, c.name, c.color) for c in named.classes] == [
        (0, "glass", "#000000"), (1, "fat", "#1f77b4"), (3, "class 3", "#2ca02c"), (7, "class 7", "#e377c2")]
    overlay = overlays.add(SLIDE, tmp_path / "labels.npy", "labels.npy", AddOptions(kind="labels"))
    assert overlay.kind == "labels" and overlay.classes is not None
    # the classes that occur, in the default palette: background black, then Tableau 10 by value
    assert [(c.value, c.name) for c in overlay.classes] == [(0, "background"), (3, "class 3"), (7, "class 7")]
    assert [c.color for c in overlay.classes] == ["#000000", "#2ca02c", "#e377c2"]  # by value
    field = overlays.field(overlay.id)
    assert field.level(0).dtype == np.uint8
    for k in range(1, field.levels):
        assert set(np.unique(field.level(k))) <= {0, 3, 7}, k
    np.testing.assert_array_equal(field.level(2), labels[2::4, 2::4])
    for level in range(overlay.native_level - 3, overlay.native_level + 1):
        _, codes = decode_png(overlay, overlays.tile(overlay.id, level, 0, 0))
        assert set(np.unique(codes)) <= {0, 3, 7}, level


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_csv_patch_scores_both_layouts(tmp_path: Path, overlays: OverlayLibrary,
                                      slides: SlideLibrary) -> None:
    # x,y,width,height,score in level-0 px: 224-px patches from (112, 336), a gap at (1, 1)
    rows = [[112 + 224 * i, 336 + 224 * j, 224, 224, round(0.1 * i + 0.01 * j, 3)]
            for j in range(3) for i in range(4) if (i, j) != (1, 1)]
    path = write_csv(tmp_path / "patches.csv", ["x", "y", "width", "height", "score"], rows)
    overlay = overlays.add(SLIDE, path, "patches.csv", AddOptions())
    assert (overlay.source_format, overlay.width, overlay.height, overlay.scale) == ("csv", 4, 3, 224)
    assert (overlay.origin_x, overlay.origin_y) == (112, 336)
    field = overlays.field(overlay.id)
    assert np.isnan(field.level(0)[1, 1]) and field.level(0)[2, 3] == pytest.approx(0.32)
    assert overlays.value_at(overlay.id, 112 + 224 * 3 + 5, 336 + 224 * 2 + 223) == pytest.approx(0.32)
    assert overlays.value_at(overlay.id, 112 + 224 + 5, 336 + 224 + 5) is None  # the gap: nodata
    assert overlays.value_at(overlay.id, 100, 400) is None  # left of the origin
    # PatchCamelyon style: x,y,score at slide level 1 (downsample 2), 96-px patches
    assert slides.info(SLIDE).level_downsamples[1] == 2
    rows2 = [[96 * i, 96 * j, (i + j) / 10] for j in range(2) for i in range(3)]
    path = write_csv(tmp_path / "pcam.csv", ["x", "y", "score"], rows2)
    overlay = overlays.add(SLIDE, path, "pcam.csv", AddOptions(patch_level=1))
    assert (overlay.width, overlay.height, overlay.scale) == (3, 2, 192)
    assert overlays.value_at(overlay.id, 192 * 2 + 1, 192 + 1) == pytest.approx(0.3)
    assert overlay.native_level == slides.geometry(SLIDE).level_count - 1 - 7  # d = 128 <= 192
    values, _ = native_codes(overlays, overlay)
    cells = ((np.arange(6) + 0.5) * 128 // 192).astype(int)  # the cell under px 0..5 of both axes
    expected = np.full((6, 6), np.nan)
    for j in range(6):
        for i in range(6):
            if cells[i] < 3 and cells[j] < 2:
                expected[j, i] = (cells[i] + cells[j]) / 10
    np.testing.assert_allclose(values[:6, :6], expected, atol=1e-4)
    assert np.isnan(values[6:]).all() and np.isnan(values[:, 6:]).all()


def assert_refused(overlays: OverlayLibrary, tmp_path: Path, path: Path, error: type[Exception],
                   match: str, options: AddOptions | None = None) -> None:
    with pytest.raises(error, match=match):
        overlays.add(SLIDE, path, path.name, options or AddOptions())
    assert not (tmp_path / "overlays").exists() or list((tmp_path / "overlays").iterdir()) == []


def test_malformed_uploads_are_refused_precisely_and_leave_nothing(
        tmp_path: Path, overlays: OverlayLibrary) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shape = (-(-H // 16), -(-W // 16))
    good = np.random.default_rng(4).random(shape, dtype=np.float32)
    # truncated TIFF
    tifffile.imwrite(src / "whole.tif", good, tile=(64, 64), compression="zlib")
    data = (src / "whole.tif").read_bytes()
    (src / "cut.tif").write_bytes(data[: len(data) * 2 // 3])
    assert_refused(overlays, tmp_path, src / "cut.tif", OverlayFormatError, "truncated")
    (src / "head.tif").write_bytes(data[:6])
    assert_refused(overlays, tmp_path, src / "head.tif", OverlayFormatError, "not a readable TIFF")
    # three channels; an unsupported sample type
    tifffile.imwrite(src / "rgb.tif", np.zeros((*shape, 3), np.uint8), photometric="rgb")
    assert_refused(overlays, tmp_path, src / "rgb.tif", OverlayFormatError, "3 channels")
    tifffile.imwrite(src / "f64.tif", good.astype(np.float64))
    assert_refused(overlays, tmp_path, src / "f64.tif", OverlayFormatError, "unsupported sample type float64")
    # NaNs
    nan = good.copy()
    nan[7, 11] = np.nan
    nan[9, 3] = np.inf
    np.save(src / "nan.npy", nan)
    assert_refused(overlays, tmp_path, src / "nan.npy", OverlayFormatError,
                   r"2 value\(s\) are NaN or infinite, the first at x=11, y=7")
    tifffile.imwrite(src / "nan.tif", nan)
    assert_refused(overlays, tmp_path, src / "nan.tif", OverlayFormatError, "NaN or infinite")
    # .npy: 3-D, complex, pickled objects, garbage
    np.save(src / "cube.npy", np.zeros((2, 3, 4), np.float32))
    assert_refused(overlays, tmp_path, src / "cube.npy", OverlayFormatError,
                   r"2-D array expected.*\(2, 3, 4\)")
    np.save(src / "complex.npy", np.zeros(shape, np.complex64))
    assert_refused(overlays, tmp_path, src / "complex.npy", OverlayFormatError, "unsupported dtype complex64")
    np.save(src / "objects.npy", np.array([[{"a": 1}]], dtype=object), allow_pickle=True)
    assert_refused(overlays, tmp_path, src / "objects.npy", OverlayFormatError, "not a readable .npy")
    (src / "junk.npy").write_bytes(b"\x93NUMPY garbage")
    assert_refused(overlays, tmp_path, src / "junk.npy", OverlayFormatError, "not a readable .npy")
    # a size ratio fitting no downsample; a bad range; a bad scale
    np.save(src / "square.npy", np.zeros((100, 100), np.float32))
    assert_refused(overlays, tmp_path, src / "square.npy", OverlayFormatError,
                   "size ratio fits no downsample")
    np.save(src / "good.npy", good)
    assert_refused(overlays, tmp_path, src / "good.npy", OverlayFormatError, "must be above value_min",
                   AddOptions(value_min=1, value_max=1))
    assert_refused(overlays, tmp_path, src / "good.npy", OverlayFormatError, "scale must be a positive",
                   AddOptions(scale=0))
    # labels with fractions
    assert_refused(overlays, tmp_path, src / "good.npy", OverlayFormatError, "fractions",
                   AddOptions(kind="labels"))
    # PNG: RGB, truncated
    Image.fromarray(np.zeros((*shape, 3), np.uint8)).save(src / "rgb.png")
    assert_refused(overlays, tmp_path, src / "rgb.png", OverlayFormatError, "PNG mode RGB")
    Image.fromarray((good * 255).astype(np.uint8)).save(src / "grey.png")
    png = (src / "grey.png").read_bytes()
    (src / "cut.png").write_bytes(png[: len(png) // 2])
    assert_refused(overlays, tmp_path, src / "cut.png", OverlayFormatError, "not a readable PNG")
    # an unknown extension
    (src / "map.jpg").write_bytes(b"\xff\xd8")
    assert_refused(overlays, tmp_path, src / "map.jpg", OverlayFormatError,
                   "unknown overlay file type '.jpg'")
    # beyond OVERLAY_MAX_MPX, refused from the header before the pixels are read
    small = overlay_library(tmp_path, overlays.slides, max_mpx=1)
    np.save(src / "big.npy", np.zeros((1001, 1000), np.uint8))
    assert_refused(small, tmp_path, src / "big.npy", InputTooLargeError, "over the 1 Mpx limit")
    tifffile.imwrite(src / "big.tif", np.zeros((1001, 1000), np.uint8))
    assert_refused(small, tmp_path, src / "big.tif", InputTooLargeError, "1001 grid is 1.0 Mpx")
    # CSV: a missing column, a non-numeric cell, off-grid and repeated patches, empty
    header = ["x", "y", "width", "height", "score"]
    write_csv(src / "nocol.csv", ["x", "y", "score2"], [[0, 0, 1]])
    assert_refused(overlays, tmp_path, src / "nocol.csv", OverlayFormatError,
                   r"line 1 \(header\): missing column\(s\) score")
    write_csv(src / "text.csv", header, [[0, 0, 96, 96, 0.5], [96, 0, 96, 96, "high"]])
    assert_refused(overlays, tmp_path, src / "text.csv", OverlayFormatError,
                   r"line 3, column 'score': 'high' is not a number")
    write_csv(src / "short.csv", header, [[0, 0, 96, 96, 0.5], [96, 0, 96]])
    assert_refused(overlays, tmp_path, src / "short.csv", OverlayFormatError, "line 3: column")
    write_csv(src / "nanscore.csv", header, [[0, 0, 96, 96, "nan"]])
    assert_refused(overlays, tmp_path, src / "nanscore.csv", OverlayFormatError, "line 2.*not a finite")
    write_csv(src / "offgrid.csv", header, [[0, 0, 96, 96, 0.5], [100, 0, 96, 96, 0.5]])
    assert_refused(overlays, tmp_path, src / "offgrid.csv", OverlayFormatError,
                   "line 3: patch at .100, 0. is not on")
    write_csv(src / "sizes.csv", header, [[0, 0, 96, 96, 0.5], [96, 0, 64, 64, 0.5]])
    assert_refused(overlays, tmp_path, src / "sizes.csv", OverlayFormatError, "line 3: patch size 64")
    write_csv(src / "twice.csv", header, [[0, 0, 96, 96, 0.5], [96, 0, 96, 96, 0.5], [0, 0, 96, 96, 0.7]])
    assert_refused(overlays, tmp_path, src / "twice.csv", OverlayFormatError,
                   "line 4 repeats the patch of line 2")
    write_csv(src / "none.csv", header, [])
    assert_refused(overlays, tmp_path, src / "none.csv", OverlayFormatError, "no patches")
    (src / "empty.csv").write_text("")
    assert_refused(overlays, tmp_path, src / "empty.csv", OverlayFormatError, "the CSV is empty")
    assert_refused(overlays, tmp_path, write_csv(src / "lvl.csv", ["x", "y", "score"], [[0, 0, 1]]),
                   OverlayFormatError, "patch_level 9 is not a level", AddOptions(patch_level=9))
    assert overlays.list(SLIDE) == []


def test_add_list_remove(tmp_path: Path, overlays: OverlayLibrary) -> None:
    shape = (-(-H // 16), -(-W // 16))
    np.save(tmp_path / "a.npy", np.zeros(shape, np.float32))
    first = overlays.add(SLIDE, tmp_path / "a.npy", "a.npy", AddOptions())
    second = overlays.add(SLIDE, tmp_path / "a.npy", "a.npy", AddOptions(name="second"))
    assert first.id != second.id and len(first.id) == 12 and not first.attached
    assert [o.id for o in overlays.list(SLIDE)] == [first.id, second.id]
    # another worker's library sees the same overlays
    other = overlay_library(tmp_path, overlays.slides)
    assert other.get(second.id) == second
    assert other.list(SLIDE) == [first, second]
    overlays.remove(first.id)
    assert [o.id for o in other.list(SLIDE)] == [second.id]
    with pytest.raises(OverlayNotFoundError):
        other.get(first.id)
    with pytest.raises(OverlayNotFoundError):
        overlays.tile(first.id, 0, 0, 0)
    with pytest.raises(OverlayNotFoundError):
        overlays.remove(first.id)
    assert sorted(p.name for p in (tmp_path / "overlays").iterdir()) == [second.id]


def test_label_map_of_more_than_256_classes_uses_two_bytes(tmp_path: Path, overlays: OverlayLibrary) -> None:
    shape = (-(-H // 32), -(-W // 32))  # 69 x 94
    cells = (np.arange(shape[0] * shape[1]) % 300).astype(np.uint16).reshape(shape)
    tifffile.imwrite(tmp_path / "cells.tif", cells, tile=(16, 16))
    overlay = overlays.add(SLIDE, tmp_path / "cells.tif", "cells.tif", AddOptions(kind="labels"))
    assert (overlay.kind, overlay.encoding) == ("labels", "u16")
    assert (overlay.value_min, overlay.value_max) == (0, 65535)
    assert overlay.classes is not None and [c.value for c in overlay.classes] == list(range(300))
    assert overlays.field(overlay.id).level(0).dtype == np.uint16
    _, codes = native_codes(overlays, overlay)
    np.testing.assert_array_equal(codes, cells[:codes.shape[0], :codes.shape[1]])
    assert overlays.value_at(overlay.id, 32 * 93 + 1, 32 * 68 + 1) == cells[68, 93]


@pytest.mark.parametrize(("slide", "grid", "scale"), [
    ((3000, 2200), (188, 138), 16),  # ceil
    ((3000, 2200), (93, 68), 32),  # floor
    ((3000, 2200), (300, 220), 10),  # an integer that is not a power of two
    ((100_000, 80_000), (6250, 5000), 16),  # the speed target's map
    ((100_000, 80_000), (3, 3), 32768),  # many fit: the power of two
    ((3000, 2200), (3000, 2200), 1),  # slide size
])
def test_scale_from_the_shape_ratio(slide: tuple[int, int], grid: tuple[int, int], scale: int) -> None:
    assert fit_scale(*slide, *grid, "m") == scale


def test_a_ratio_fitting_no_downsample_is_named() -> None:
    with pytest.raises(OverlayFormatError, match="a 100 x 100 grid over a 3000 x 2200 slide; give scale"):
        fit_scale(3000, 2200, 100, 100, "m")
    with pytest.raises(OverlayFormatError, match="size ratio fits no downsample"):
        fit_scale(3000, 2200, 6000, 4400, "m")  # finer than the slide: only with scale
