import test from "node:test";
import assert from "node:assert/strict";
import {
  chooseScaleBar, distanceUm, formatLength, formatSlidePoint, imageToSlide, slideToImage,
  trimNumber, umFromPixels, unflipElementX, validMpp,
} from "../../static/js/coords.js";

test("image and slide space differ by the bounds offset, both ways", () => {
  const t = { offset_x: 2664, offset_y: 2088, scale: 1 };
  assert.deepEqual(imageToSlide({ x: 32, y: 32 }, t), { x: 2696, y: 2120 });
  assert.deepEqual(slideToImage({ x: 2696, y: 2120 }, t), { x: 32, y: 32 });
  assert.deepEqual(imageToSlide({ x: 5, y: 7 }), { x: 5, y: 7 });
  const t2 = { offset_x: 10, offset_y: -4, scale: 2 };
  const p = { x: 123.5, y: 77.25 };
  assert.deepEqual(slideToImage(imageToSlide(p, t2), t2), p);
});

test("flip mirrors the element x only when flipped", () => {
  assert.equal(unflipElementX(30, 800, true), 770);
  assert.equal(unflipElementX(30, 800, false), 30);
});

test("validMpp rejects missing, zero, negative and non-numbers", () => {
  for (const bad of [null, undefined, 0, -1, NaN, "abc", Infinity]) {
    assert.equal(validMpp(bad), null, String(bad));
  }
  assert.equal(validMpp(0.499), 0.499);
  assert.equal(validMpp("0.25"), 0.25);
  assert.equal(umFromPixels(1000, 0.5), 500);
  assert.equal(umFromPixels(1000, null), null);
});

test("formatLength switches from µm to mm at 1 mm and trims zeros", () => {
  assert.equal(formatLength(0.5), "0.5 µm");
  assert.equal(formatLength(12.34), "12.3 µm");
  assert.equal(formatLength(250), "250 µm");
  assert.equal(formatLength(999), "999 µm");
  assert.equal(formatLength(1000), "1 mm");
  assert.equal(formatLength(1250), "1.25 mm");
  assert.equal(formatLength(20000), "20 mm");
  assert.equal(trimNumber(-0.0001, 2), "0");
});

test("scale bar picks the longest 1-2-5 length that fits and is exact", () => {
  // 0.499 µm/px at native zoom: 140 css px = 69.86 µm -> 50 µm, 100.2 px wide
  const bar = chooseScaleBar(0.499, 1, 140);
  assert.equal(bar.um, 50);
  assert.equal(bar.label, "50 µm");
  assert.ok(Math.abs(bar.css_px - 50 / 0.499) < 1e-9);
  // zoomed out 16x: 0.499*16 = 7.984 µm per css px -> 1117 µm fits -> 1 mm
  const far = chooseScaleBar(0.499, 1 / 16, 140);
  assert.equal(far.um, 1000);
  assert.equal(far.label, "1 mm");
  assert.ok(far.css_px <= 140 && far.css_px > 140 / 2.5);
  // 0.1 µm/px at 2x overzoom: 140 px = 7 µm -> 5 µm
  assert.equal(chooseScaleBar(0.1, 2, 140).um, 5);
  assert.equal(chooseScaleBar(0.25, 0.5, 100).label, "50 µm");
  for (let zoom = 0.001; zoom < 4; zoom *= 1.37) {
    const b = chooseScaleBar(0.37, zoom, 120);
    assert.ok(b.css_px <= 120 + 1e-6 && b.css_px > 120 / 2.5 - 1e-6, `zoom ${zoom}: ${b.css_px}`);
    assert.match(String(b.um), /^(1|2|5)(0*|\.0*[125]?)?$|^0\.0*[125]$/);
  }
  assert.equal(chooseScaleBar(null, 1), null);
  assert.equal(chooseScaleBar(0.5, 0), null);
});

test("slide point readout and distances use the same µm conversion as the scale bar", () => {
  const r = formatSlidePoint({ x: 2696.7, y: 2120.2 }, 0.5, 0.5);
  assert.equal(r.px, "x 2,696 · y 2,120 px");
  assert.equal(r.um, "(x 1,348.4 · y 1,060.1 µm)");
  assert.equal(formatSlidePoint({ x: 3, y: 1 }, 0.25, null).um, "(x 0.8 · y 0.3 µm)");
  assert.equal(formatSlidePoint({ x: 1, y: 2 }, null, null).um, null);
  assert.equal(distanceUm({ x: 0, y: 0 }, { x: 300, y: 400 }, 0.5, 0.5), 250);
  assert.equal(distanceUm({ x: 0, y: 0 }, { x: 300, y: 400 }, null, null), null);
  // a 400 px measurement at 0.5 µm/px reads exactly like the scale bar of the same length
  const bar = chooseScaleBar(0.5, 140 / 400, 140);
  assert.equal(bar.um, 200);
  assert.equal(bar.label, formatLength(distanceUm({ x: 0, y: 0 }, { x: 400, y: 0 }, 0.5, 0.5)));
});
