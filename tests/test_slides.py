"""viewer.slides on real OpenSlide: tiles equal DeepZoomGenerator's on every fixture slide, on generated
slides of awkward sizes and on slides with bounds; stored JPEG tiles go out as stored; missing levels
are built once; ICC conversion; metadata cache; unreadable slides; every path trick is an unknown id."""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import openslide
import pytest
import tifffile
from _slide_helpers import make_test_slide
from openslide.deepzoom import DeepZoomGenerator
from PIL import Image, ImageCms

from viewer.errors import SlideNotFoundError, SlideUnreadableError, TileNotFoundError
from viewer.slides import DeepZoomInternalsError, SlideLibrary, TileOptions
from viewer.slides.deepzoom import TESTED_OPENSLIDE_PYTHON, generator_internals
from viewer.slides.tiffreader import assemble_jpeg, read_tiled_directories

FIXTURE_IDS = [
    "aperio/CMU-1-Small-Region.svs",
    "aperio/small.svs",
    "aperio/tcga-cr-7395-01a-01-ts1.svs",
    "dicom/boxes",
    "dicom/highdicom-sm",
    "generic-tiff/boxes.tiff",
]
TOOLS = Path(__file__).parent / "data" / "tools"


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float64)


def mad(a: np.ndarray, b: np.ndarray) -> float:
    """Largest per-channel mean absolute difference."""
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).mean(axis=(0, 1)).max())


def reference(
    library: SlideLibrary, slide_id: str, limit_bounds: bool = True
) -> tuple[DeepZoomGenerator, object]:
    handle = library.handle(slide_id)
    g = handle.geometry
    return DeepZoomGenerator(handle.osr, g.tile_size, g.overlap, limit_bounds=limit_bounds), handle


def sample_addresses(dz: DeepZoomGenerator, per_level: int = 12) -> list[tuple[int, int, int]]:
    """Every level; per level the corners, the edges and some interior tiles."""
    out = []
    for level in range(dz.level_count):
        cols, rows = dz.level_tiles[level]
        picks = {(0, 0), (cols - 1, rows - 1), (cols - 1, 0), (0, rows - 1), (cols // 2, rows // 2)}
        rng = np.random.default_rng(level)
        while len(picks) < min(per_level, cols * rows):
            picks.add((int(rng.integers(cols)), int(rng.integers(rows))))
        out += [(level, c, r) for c, r in sorted(picks)]
    return out


def assert_tiles_match(library: SlideLibrary, slide_id: str, limit_bounds: bool = True) -> int:
    """PNG tiles (lossless) against DeepZoomGenerator (+ the same sRGB conversion): MAD < 2."""
    dz, handle = reference(library, slide_id, limit_bounds)
    checked = 0
    for level, col, row in sample_addresses(dz):
        ref = dz.get_tile(level, (col, row))
        if handle.srgb_transform is not None:  # the slide's own ICC -> sRGB transform
            ref = ImageCms.applyTransform(ref, handle.srgb_transform)
        ours = decode(library.tile(slide_id, level, col, row, "png").data)
        assert mad(ours, np.asarray(ref, dtype=np.float64)) < 2, (slide_id, level, col, row)
        checked += 1
    return checked


@pytest.fixture()
def library(slide_dir: Path, tmp_path: Path) -> SlideLibrary:
    lib = SlideLibrary(slide_dir, cache_file=tmp_path / "meta.json")
    yield lib
    lib.close()


@pytest.mark.parametrize("slide_id", FIXTURE_IDS)
def test_tiles_equal_deepzoom_generator_on_fixture_slides(library: SlideLibrary, slide_id: str) -> None:
    assert assert_tiles_match(library, slide_id) > 0


def test_library_lists_every_fixture_slide_once(library: SlideLibrary) -> None:
    infos = {info.id: info for info in library.scan()}
    assert sorted(infos) == sorted(FIXTURE_IDS)
    cmu = infos["aperio/CMU-1-Small-Region.svs"]
    assert (cmu.width, cmu.height, cmu.level_count, cmu.vendor) == (2220, 2967, 1, "aperio")
    assert cmu.mpp_x == pytest.approx(0.499)
    assert cmu.objective_power == 20
    assert cmu.associated == ["label", "macro", "thumbnail"]
    assert cmu.quickhash and len(cmu.quickhash) == 64
    assert cmu.folder == "aperio" and cmu.name == "CMU-1-Small-Region.svs"
    assert infos["aperio/tcga-cr-7395-01a-01-ts1.svs"].mpp_x is None
    assert infos["generic-tiff/boxes.tiff"].level_count == 4


@pytest.mark.parametrize(
    ("width", "height", "tile_size", "shared_tables"),
    [(1000, 700, 256, False), (3001, 1999, 256, True), (777, 2500, 512, False), (5, 3, 256, True)],
)
def test_generated_slides_tiles_stored_and_decoded(
    tmp_path: Path, width: int, height: int, tile_size: int, shared_tables: bool
) -> None:
    root = tmp_path / "slides"
    root.mkdir()
    path = make_test_slide(root / "gen.tiff", width, height, tile_size=tile_size, shared_tables=shared_tables)
    lib = SlideLibrary(root, options=TileOptions())
    try:
        handle = lib.handle("gen.tiff")
        # Default geometry: the stored tile size, no overlap; stored tiles go out as stored.
        assert (handle.geometry.tile_size, handle.geometry.overlap) == (tile_size, 0)
        assert_tiles_match(lib, "gen.tiff")
        directories = read_tiled_directories(path)
        deepest = handle.dz.level_count - 1
        if width >= 2 * tile_size and height >= 2 * tile_size:
            assert deepest in handle.stored_tile_levels
            offset, count = directories[0].tile_extent(1, 1)
            with open(path, "rb") as f:
                f.seek(offset)
                stored = assemble_jpeg(directories[0], f.read(count))
            sent = lib.tile("gen.tiff", deepest, 1, 1, "jpeg").data
            assert sent == stored
            ref = np.asarray(handle.dz.get_tile(deepest, (1, 1)), dtype=np.float64)
            assert mad(decode(sent), ref) < 1
        # JPEG tiles that must be decoded (edges) equal the generator's tile encoded the same way.
        cols, rows = handle.dz.level_tiles[deepest]
        edge = lib.tile("gen.tiff", deepest, cols - 1, rows - 1, "jpeg").data
        buf = io.BytesIO()
        handle.dz.get_tile(deepest, (cols - 1, rows - 1)).save(buf, "JPEG", quality=80)
        assert mad(decode(edge), decode(buf.getvalue())) < 2
    finally:
        lib.close()


def test_generated_slide_with_overlap_one(tmp_path: Path) -> None:
    root = tmp_path / "slides"
    root.mkdir()
    make_test_slide(root / "odd.tiff", 1531, 1023, tile_size=256)
    lib = SlideLibrary(root, options=TileOptions(tile_size=254, overlap=1))
    try:
        handle = lib.handle("odd.tiff")
        assert (handle.geometry.tile_size, handle.geometry.overlap) == (254, 1)
        assert handle.stored_tile_levels == frozenset()
        assert assert_tiles_match(lib, "odd.tiff") > 20
    finally:
        lib.close()


def test_single_level_slide_builds_missing_levels_once(library: SlideLibrary) -> None:
    handle = library.handle("aperio/CMU-1-Small-Region.svs")
    deepest = handle.dz.level_count - 1
    # every zoomed-out level comes from the cached level 0, not from a fresh slide read per tile
    assert handle.derived_levels == frozenset(range(deepest))
    assert handle.stored_tile_levels == frozenset({deepest})


@pytest.fixture(scope="session")
def bounds_slides(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:
    out = tmp_path_factory.mktemp("bounds")
    subprocess.run([sys.executable, str(TOOLS / "make_bounds_slides.py"), str(out)], check=True,
                   capture_output=True)
    result = {}
    for truth_file in sorted(out.glob("*.json")):
        truth = json.loads(truth_file.read_text())
        result[truth["name"]] = (out, truth)
    return result


@pytest.mark.parametrize("name", ["leica-1region", "leica-2region", "mirax-2region", "sparse-tiles"])
@pytest.mark.parametrize("limit_bounds", [True, False])
def test_bounds_slides_show_their_bounds(bounds_slides: dict, name: str, limit_bounds: bool) -> None:
    root, truth = bounds_slides[name]
    lib = SlideLibrary(root, options=TileOptions(tile_size=254, overlap=1, limit_bounds=limit_bounds))
    try:
        info = lib.info(truth["file"])
        b = truth["bounds"]
        assert info.bounds is not None
        assert (info.bounds.x, info.bounds.y, info.bounds.width, info.bounds.height) == (
            b["x"], b["y"], b["width"], b["height"])
        geometry = lib.geometry(truth["file"])
        expected_offset = (b["x"], b["y"]) if limit_bounds else (0, 0)
        assert (geometry.offset_x, geometry.offset_y) == expected_offset
        level0 = truth["level0"]
        full = tuple(level0.values()) if isinstance(level0, dict) else tuple(level0)
        assert (geometry.width, geometry.height) == ((b["width"], b["height"]) if limit_bounds else full)
        tolerance = truth["color_tolerance"]
        examples = [e for e in truth["deepzoom_examples"] if e["limit_bounds"] == limit_bounds]
        assert examples
        for example in examples:
            col, row = example["tile"]
            tile = decode(lib.tile(truth["file"], geometry.level_count - 1, col, row, "png").data)
            x, y = example["pixel_in_tile"]
            assert np.abs(tile[y, x] - np.array(example["rgb"])).max() <= tolerance, example["what"]
        assert_tiles_match(lib, truth["file"], limit_bounds)
    finally:
        lib.close()


def test_mirax_unscanned_area_is_the_background_colour(bounds_slides: dict) -> None:
    root, truth = bounds_slides["mirax-2region"]
    lib = SlideLibrary(root, options=TileOptions(tile_size=254, overlap=1))
    try:
        gaps = [e for e in truth["deepzoom_examples"] if e["limit_bounds"] and "unscanned" in e["what"]]
        assert gaps
        deepest = lib.geometry(truth["file"]).level_count - 1
        for example in gaps:
            tile = decode(lib.tile(truth["file"], deepest, *example["tile"], "png").data)
            x, y = example["pixel_in_tile"]
            assert tuple(tile[y, x].astype(int)) == (0xFF, 0xFA, 0xCD)
    finally:
        lib.close()


def _swapped_primaries_profile() -> bytes:
    """An sRGB profile with its red and blue primaries swapped: a valid, clearly non-sRGB profile."""
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    (count,) = struct.unpack(">I", profile[128:132])
    tags = {}
    for i in range(count):
        signature, offset, size = struct.unpack(">4sII", profile[132 + 12 * i:144 + 12 * i])
        tags[signature] = (offset, size)
    (r_off, r_size), (b_off, b_size) = tags[b"rXYZ"], tags[b"bXYZ"]
    red, blue = bytes(profile[r_off:r_off + r_size]), bytes(profile[b_off:b_off + b_size])
    profile[r_off:r_off + r_size], profile[b_off:b_off + b_size] = blue, red
    return bytes(profile)


def test_icc_profile_converted_to_srgb_unless_disabled(tmp_path: Path) -> None:
    root = tmp_path / "slides"
    root.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, (600, 700, 3)).astype(np.uint8)
    profile = _swapped_primaries_profile()
    tifffile.imwrite(root / "icc.tiff", pixels, tile=(256, 256), compression="zlib", photometric="rgb",
                     iccprofile=profile)
    managed = SlideLibrary(root, options=TileOptions(format="png"))
    raw = SlideLibrary(root, options=TileOptions(format="png", color_management=False))
    try:
        assert managed.handle("icc.tiff").osr.color_profile is not None
        level = managed.geometry("icc.tiff").level_count - 1
        converted = decode(managed.tile("icc.tiff", level, 1, 1, "png").data)
        untouched = decode(raw.tile("icc.tiff", level, 1, 1, "png").data)
        ref = raw.handle("icc.tiff").dz.get_tile(level, (1, 1))
        assert mad(untouched, np.asarray(ref, dtype=np.float64)) == 0
        transform = ImageCms.buildTransform(ImageCms.ImageCmsProfile(io.BytesIO(profile)),
                                            ImageCms.createProfile("sRGB"), "RGB", "RGB")
        expected = np.asarray(ImageCms.applyTransform(ref, transform), dtype=np.float64)
        assert mad(converted, expected) < 1
        assert mad(converted, untouched) > 10  # swapped primaries: colours really change
        assert_tiles_match(managed, "icc.tiff")
    finally:
        managed.close()
        raw.close()


def test_metadata_cache_is_keyed_by_path_size_and_mtime(tmp_path: Path) -> None:
    root = tmp_path / "slides"
    root.mkdir()
    shutil.copy(Path(__file__).parent / "data/slides/aperio/small.svs", root / "a.svs")
    cache = tmp_path / "meta.json"
    first = SlideLibrary(root, cache_file=cache)
    assert first.scan()[0].error is None
    first.close()
    # Same size and mtime but unreadable bytes: the cached metadata is used without opening it.
    stat = (root / "a.svs").stat()
    (root / "a.svs").write_bytes(b"\0" * stat.st_size)
    os.utime(root / "a.svs", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = SlideLibrary(root, cache_file=cache)
    assert second.scan()[0].width == 16 and second.scan()[0].error is None
    second.close()
    # A new mtime invalidates the entry: the file is read again and is now unreadable.
    os.utime(root / "a.svs", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    third = SlideLibrary(root, cache_file=cache)
    info = third.scan()[0]
    assert info.error and "not a slide format" in info.error
    third.close()


def test_corrupt_and_truncated_slides_fail_alone(tmp_path: Path) -> None:
    root = tmp_path / "slides"
    root.mkdir()
    source = Path(__file__).parent / "data/slides/aperio/CMU-1-Small-Region.svs"
    shutil.copy(source, root / "good.svs")
    data = source.read_bytes()
    (root / "truncated.svs").write_bytes(data[: len(data) // 3])
    (root / "garbage.svs").write_bytes(b"II*\0" + os.urandom(4000))
    (root / "empty.tiff").write_bytes(b"")
    lib = SlideLibrary(root)
    try:
        infos = {i.id: i for i in lib.scan()}
        assert infos["garbage.svs"].error and infos["empty.tiff"].error
        assert str(root) not in infos["garbage.svs"].error  # no file-system detail
        with pytest.raises(SlideUnreadableError):
            lib.tile("garbage.svs", 0, 0, 0, "jpeg")
        # The truncated file may open (its directory is intact) but its tiles cannot be read.
        if infos["truncated.svs"].error is None:
            deepest = lib.geometry("truncated.svs").level_count - 1
            cols, rows = lib.handle("truncated.svs").dz.level_tiles[deepest]
            with pytest.raises(SlideUnreadableError):
                for row in range(rows):
                    for col in range(cols):
                        lib.tile("truncated.svs", deepest, col, row, "png")
        assert lib.tile("good.svs", 0, 0, 0, "jpeg").data[:2] == b"\xff\xd8"
    finally:
        lib.close()


@pytest.mark.parametrize("bad_id", [
    "", "..", "../slides/x.svs", "aperio/../aperio/small.svs", "/etc/passwd", "//etc/passwd",
    "aperio//small.svs", "./aperio/small.svs", "aperio/small.svs/", "aperio\\small.svs",
    "aperio/small.svs\0", "%2e%2e/etc/passwd", "aperio/nope.svs", "aperio", "dicom/boxes/boxes_0.dcm",
])
def test_path_tricks_are_unknown_ids(library: SlideLibrary, bad_id: str) -> None:
    with pytest.raises(SlideNotFoundError) as excinfo:
        library.info(bad_id)
    assert excinfo.value.message == "no such slide"


def test_symlinks_leaving_the_root_are_not_slides(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(Path(__file__).parent / "data/slides/aperio/small.svs", outside / "secret.svs")
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(Path(__file__).parent / "data/slides/aperio/small.svs", root / "inside.svs")
    (root / "link.svs").symlink_to(outside / "secret.svs")
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    (root / "alias.svs").symlink_to(root / "inside.svs")
    shutil.copy(root / "inside.svs", root / "inside_likelihood_map.tif")  # an overlay, not a slide
    lib = SlideLibrary(root)
    try:
        assert sorted(i.id for i in lib.scan()) == ["alias.svs", "inside.svs"]
        for bad in ("link.svs", "linkdir/secret.svs"):
            with pytest.raises(SlideNotFoundError):
                lib.tile(bad, 0, 0, 0, "jpeg")
    finally:
        lib.close()


@pytest.mark.parametrize(
    ("level", "col", "row"), [(-1, 0, 0), (13, 0, 0), (12, 10, 0), (12, 0, 13), (0, 1, 0)]
)
def test_tile_outside_grid(library: SlideLibrary, level: int, col: int, row: int) -> None:
    with pytest.raises(TileNotFoundError):
        library.tile("aperio/CMU-1-Small-Region.svs", level, col, row, "jpeg")


def test_thumbnail_fits_and_matches_slide(library: SlideLibrary) -> None:
    thumb = Image.open(io.BytesIO(library.thumbnail("aperio/CMU-1-Small-Region.svs", 300).data))
    assert max(thumb.size) == 300 and thumb.size[0] < thumb.size[1]
    osr = openslide.OpenSlide(str(library.root / "aperio/CMU-1-Small-Region.svs"))
    ref = osr.get_thumbnail(thumb.size).convert("RGB").resize(thumb.size)
    osr.close()
    assert mad(np.asarray(thumb.convert("RGB"), dtype=np.float64), np.asarray(ref, dtype=np.float64)) < 6


# --------------------------------------------------------------------------------------------------
# DeepZoomGenerator's private numbers, read in one place (viewer/slides/deepzoom.py)


def assert_internals_mean_what_the_generator_does(
    osr: openslide.OpenSlide, tile_size: int, overlap: int, limit_bounds: bool
) -> None:
    """The private numbers equal what DeepZoomGenerator's algorithm defines them as, from the slide's
    public properties, and its private tile method answers what its public ones do."""
    dz = DeepZoomGenerator(osr, tile_size, overlap, limit_bounds=limit_bounds)
    internals = generator_internals(dz, osr.level_count)
    release = f"openslide-python {openslide.__version__}: DeepZoomGenerator"
    n = dz.level_count
    for dz_level in range(n):
        l0_z_downsample = 2 ** (n - 1 - dz_level)
        slide_level = osr.get_best_level_for_downsample(l0_z_downsample)
        assert internals.slide_from_dz_level[dz_level] == slide_level, f"{release}._slide_from_dz_level"
        assert internals.l_z_downsamples[dz_level] == pytest.approx(
            l0_z_downsample / osr.level_downsamples[slide_level], rel=1e-12), f"{release}._l_z_downsamples"
        cols, rows = dz.level_tiles[dz_level]
        for address in {(0, 0), (cols - 1, rows - 1), (cols // 2, rows // 2)}:
            assert internals.tile_info(dz_level, address) == (
                dz.get_tile_coordinates(dz_level, address), dz.get_tile_dimensions(dz_level, address)
            ), f"{release}._get_tile_info"
    props = osr.properties
    scale = (1.0, 1.0)
    if limit_bounds:
        scale = (int(props.get(openslide.PROPERTY_NAME_BOUNDS_WIDTH, osr.dimensions[0])) / osr.dimensions[0],
                 int(props.get(openslide.PROPERTY_NAME_BOUNDS_HEIGHT, osr.dimensions[1])) / osr.dimensions[1])
    assert internals.l_dimensions == tuple(
        (math.ceil(w * scale[0]), math.ceil(h * scale[1])) for w, h in osr.level_dimensions
    ), f"{release}._l_dimensions"


@pytest.mark.parametrize("slide_id", FIXTURE_IDS)
@pytest.mark.parametrize(("tile_size", "overlap", "limit_bounds"), [(254, 1, True), (256, 0, False)])
def test_generator_internals_on_fixture_slides(
    library: SlideLibrary, slide_id: str, tile_size: int, overlap: int, limit_bounds: bool
) -> None:
    osr = library.handle(slide_id).osr
    assert_internals_mean_what_the_generator_does(osr, tile_size, overlap, limit_bounds)


@pytest.mark.parametrize("name", ["leica-1region", "leica-2region", "mirax-2region", "sparse-tiles"])
def test_generator_internals_on_slides_with_bounds(bounds_slides: dict, name: str) -> None:
    root, truth = bounds_slides[name]
    osr = openslide.OpenSlide(str(root / truth["file"]))
    try:
        assert openslide.PROPERTY_NAME_BOUNDS_WIDTH in osr.properties
        assert_internals_mean_what_the_generator_does(osr, 254, 1, limit_bounds=True)
    finally:
        osr.close()


class _RenamedTileInfo(DeepZoomGenerator):
    """A release that renamed ``_get_tile_info`` (to ``_tile_info``), its callers with it."""

    def __getattribute__(self, name: str) -> Any:
        if name == "_get_tile_info":
            raise AttributeError(name)
        return super().__getattribute__(name)

    def _tile_info(self, level: int, address: tuple[int, int]) -> Any:
        return DeepZoomGenerator._get_tile_info(self, level, address)

    def get_tile_coordinates(self, level: int, address: tuple[int, int]) -> Any:
        return self._tile_info(level, address)[0]

    def get_tile_dimensions(self, level: int, address: tuple[int, int]) -> Any:
        return self._tile_info(level, address)[1]


class _InvertedDownsamples(DeepZoomGenerator):
    """A release that keeps Deep Zoom px per slide-level px under the old name (same tiles)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._l_z_downsamples = tuple(1 / d for d in self._l_z_downsamples)

    def _l_from_z(self, dz_level: int, z: int) -> float:
        return z / self._l_z_downsamples[dz_level]


def _without(attribute: str) -> Callable[[DeepZoomGenerator], None]:
    return lambda dz: delattr(dz, attribute)


def _one_level_fewer(dz: DeepZoomGenerator) -> None:
    dz._slide_from_dz_level = dz._slide_from_dz_level[1:]  # noqa: SLF001


@pytest.mark.parametrize(("generator", "change", "attribute"), [
    (DeepZoomGenerator, _without("_l_z_downsamples"), "_l_z_downsamples"),
    (DeepZoomGenerator, _without("_slide_from_dz_level"), "_slide_from_dz_level"),
    (DeepZoomGenerator, _without("_l_dimensions"), "_l_dimensions"),
    (DeepZoomGenerator, _one_level_fewer, "_slide_from_dz_level"),
    (_InvertedDownsamples, None, "_l_z_downsamples"),
    (_RenamedTileInfo, None, "_get_tile_info"),
])
def test_a_changed_generator_fails_loudly(
    library: SlideLibrary, generator: type[DeepZoomGenerator],
    change: Callable[[DeepZoomGenerator], None] | None, attribute: str,
) -> None:
    """What a release that renames or redefines an attribute would do: refused at open, with a
    message naming the attribute and the installed version (a single-level slide, so that every
    zoomed-out level reads its region at a downsample other than 1)."""
    osr = library.handle("aperio/CMU-1-Small-Region.svs").osr
    dz = generator(osr, 254, 1)
    assert dz.get_tile_coordinates(dz.level_count - 2, (0, 0))[2] == (510, 510)  # tiles as before
    if change is not None:
        change(dz)
    with pytest.raises(DeepZoomInternalsError) as excinfo:
        generator_internals(dz, osr.level_count)
    message = str(excinfo.value)
    assert f"DeepZoomGenerator.{attribute} " in message, message
    assert f"openslide-python {openslide.__version__}:" in message, message


def test_openslide_python_is_bounded_to_the_tested_release() -> None:
    """pyproject.toml admits only the openslide-python releases deepzoom.py reads, and they are the
    installed one: raising the bound means re-reading the generator (and this suite running on it)."""
    pyproject = (Path(__file__).parent.parent / "pyproject.toml").read_text(encoding="utf-8")
    (spec,) = re.findall(r'"openslide-python([^"]*)"', pyproject)
    major, minor = (int(part) for part in TESTED_OPENSLIDE_PYTHON.split("."))
    assert sorted(part.strip() for part in spec.split(",")) == sorted(
        [f">={major}.{minor}", f"<{major}.{minor + 1}"]), spec
    assert openslide.__version__.split(".")[:2] == [str(major), str(minor)]
