"""``wsi-viewer mask`` reads ImageScope XML (holes cut out) and NDPA (placed on the slide argument, an
NDPI OpenSlide reads); an NDPA file on a slide without the Hamamatsu offsets fails in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from tests.test_annotations_ndpa import circle, document, make_ndpi, viewstate
from viewer.cli import main

CMU = Path(__file__).parent / "data" / "slides" / "aperio" / "CMU-1-Small-Region.svs"  # 2220 x 2967

IMAGESCOPE = b"""<Annotations MicronsPerPixel="0.499000">
\t<Annotation Id="1" Name="Tumor" Type="4" LineColor="255">
\t\t<Regions>
\t\t\t<Region Id="1" Type="1" NegativeROA="0" Text="outer">
\t\t\t\t<Vertices><Vertex X="100" Y="200"/><Vertex X="900" Y="200"/><Vertex X="900" Y="1000"/>
\t\t\t\t<Vertex X="100" Y="1000"/></Vertices>
\t\t\t</Region>
\t\t\t<Region Id="2" Type="0" NegativeROA="1" Text="lumen">
\t\t\t\t<Vertices><Vertex X="400" Y="500"/><Vertex X="600" Y="500"/><Vertex X="600" Y="700"/>
\t\t\t\t<Vertex X="400" Y="700"/></Vertices>
\t\t\t</Region>
\t\t</Regions>
\t</Annotation>
</Annotations>
"""


def _mask(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["mask", "--no-progress", *argv])
    return code, capsys.readouterr().err


def test_imagescope_file_with_a_hole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    xml = tmp_path / "tumor.xml"
    xml.write_bytes(IMAGESCOPE)
    out = tmp_path / "mask.tif"
    code, err = _mask(capsys, str(CMU), str(xml), "-o", str(out), "--labels", "Tumor=1,Tumor (holes)=0",
                      "--order", "Tumor,Tumor (holes)")
    assert code == 0, err
    mask = tifffile.imread(out, level=0)
    assert mask.shape == (2967, 2220)
    assert mask[300, 150] == 1 and mask[950, 850] == 1  # inside the rectangle
    assert mask[600, 500] == 0 and mask[510, 410] == 0  # inside the NegativeROA region: cut out
    assert mask[150, 150] == 0 and mask[1100, 500] == 0  # outside
    assert int(mask.sum()) == pytest.approx(800 * 800 - 200 * 200, rel=0.01)


def test_ndpa_file_placed_on_its_ndpi(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    width, height, mpp, offset = 600, 400, (0.5, 0.5), (2_000_000, -1_000_000)
    slide = make_ndpi(tmp_path / "s.ndpi", width, height, mpp=mpp, offset_nm=offset)
    centre_px = (450, 100)
    centre_nm = ((centre_px[0] - width / 2) * 500 + offset[0], (centre_px[1] - height / 2) * 500 + offset[1])
    ndpa = tmp_path / "s.ndpi.ndpa"
    disc = circle(round(centre_nm[0]), round(centre_nm[1]), 20 * 500)
    ndpa.write_bytes(document([viewstate(1, "disc", disc, kind="circle", display="AnnotateCircle")]))
    out = tmp_path / "mask.tif"
    code, err = _mask(capsys, str(slide), str(ndpa), "-o", str(out), "--labels", "disc=7")
    assert code == 0, err
    mask = tifffile.imread(out, level=0)
    ys, xs = np.nonzero(mask == 7)
    # the disc where the slide's frame puts it (ASAP's pixel rule may shift an edge by a pixel)
    assert abs((xs.min() + xs.max() + 1) / 2 - centre_px[0]) <= 1.5
    assert abs((ys.min() + ys.max() + 1) / 2 - centre_px[1]) <= 1.5
    assert xs.max() - xs.min() + 1 == pytest.approx(40, abs=3)
    assert len(xs) == pytest.approx(np.pi * 20 * 20, rel=0.05)

    code, err = _mask(capsys, str(CMU), str(ndpa), "-o", str(tmp_path / "other.tif"), "--labels", "disc=7")
    assert code != 0 and not (tmp_path / "other.tif").exists()
    assert len(err.strip().splitlines()) == 1
    assert "hamamatsu.XOffsetFromSlideCentre" in err and str(CMU) in err
