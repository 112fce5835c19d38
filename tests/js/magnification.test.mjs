import test from "node:test";
import assert from "node:assert/strict";
import {
  MAGNIFICATIONS, MAX_OVERZOOM, formatMagnification, formatZoomPercent, isReachable,
  magnificationToZoom, matchingMagnification, nativeMagnification, zoomToMagnification,
} from "../../static/js/magnification.js";

test("native magnification comes from mpp: 0.25 µm/px ~ 40x, 0.5 ~ 20x", () => {
  assert.deepEqual(nativeMagnification(0.25), { mag: 40, source: "mpp" });
  assert.equal(nativeMagnification(0.5).mag, 20);
  assert.ok(Math.abs(nativeMagnification(0.499, 20).mag - 20.04) < 0.01);
  assert.deepEqual(nativeMagnification(null, 40), { mag: 40, source: "objective" });
  assert.equal(nativeMagnification(null, null), null);
  assert.equal(nativeMagnification(0, 0), null);
});

test("zoom and magnification convert both ways", () => {
  const native = nativeMagnification(0.25).mag;
  assert.equal(magnificationToZoom(10, native), 0.25);
  assert.equal(zoomToMagnification(0.25, native), 10);
  for (const mag of MAGNIFICATIONS) {
    assert.ok(Math.abs(zoomToMagnification(magnificationToZoom(mag, 20), 20) - mag) < 1e-12);
  }
});

test("buttons past 2x native are unreachable", () => {
  assert.equal(MAX_OVERZOOM, 2);
  assert.ok(isReachable(40, 20));
  assert.ok(!isReachable(40, 10));
  assert.ok(isReachable(40, 40));
  assert.ok(isReachable(1.25, 0.5) === false);
});

test("readouts", () => {
  assert.equal(formatMagnification(40), "40×");
  assert.equal(formatMagnification(19.96), "20×");
  assert.equal(formatMagnification(2.5), "2.5×");
  assert.equal(formatMagnification(1.25), "1.25×");
  assert.equal(formatMagnification(0.3125), "0.31×");
  assert.equal(formatMagnification(0), "–");
  assert.equal(formatZoomPercent(1), "100%");
  assert.equal(formatZoomPercent(0.0625), "6.3%");
  assert.equal(matchingMagnification(19.9), 20);
  assert.equal(matchingMagnification(15), null);
  assert.deepEqual([...MAGNIFICATIONS], [1.25, 2.5, 5, 10, 20, 40]);
});
