// The browser's annotation geometry against the Python geometry module's own results
// (tests/js/fixtures/geometry.json, written by tests/make_js_fixtures.py; a pytest checks it is current).
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  asapArea, flattenSpline, longestDiameter, measurementLength, metastasisCategory, pointInRings, polylineDistance,
  segmentDistanceSq,
} from "../../static/js/layers/geometry.js";
import { parseColor } from "../../static/js/layers/colors.js";

const fixtures = JSON.parse(readFileSync(new URL("./fixtures/geometry.json", import.meta.url)));

const same = (a, b) => (a === null ? Number.isNaN(b) : a === b);

test("splines flatten to exactly the polyline the Python module (= ASAP + Qt) gives", () => {
  assert.ok(fixtures.splines.length >= 15);
  assert.ok(fixtures.splines.some((c) => c.source.startsWith("tumor_")), "real CAMELYON splines are among them");
  for (const c of fixtures.splines) {
    const flat = flattenSpline(c.points, c.closed, c.threshold);
    assert.equal(flat.length, c.flat.length, c.source);
    for (let i = 0; i < flat.length; i++) {
      assert.ok(same(c.flat[i][0], flat[i][0]) && same(c.flat[i][1], flat[i][1]),
        `${c.source} point ${i}: ${flat[i]} != ${c.flat[i]}`);
    }
  }
});

test("ASAP's area, measurement length and longest diameter agree with Python", () => {
  for (const c of fixtures.measures) {
    assert.equal(asapArea(c.points), c.asap_area, `${c.source} area`);
    // Math.hypot and Python's correctly rounded math.hypot may differ in the last bit
    const length = measurementLength(c.points);
    assert.ok(Math.abs(length - c.measurement_length) <= 1e-12 * Math.max(1, length), `${c.source} length`);
    const d = longestDiameter(c.points);
    assert.ok(Math.abs(d - c.longest_diameter) <= 1e-9 * Math.max(1, d), `${c.source} diameter ${d} ${c.longest_diameter}`);
    const um = longestDiameter(c.points, [0.243, 0.25]);
    assert.ok(Math.abs(um - c.longest_diameter_um) <= 1e-9 * Math.max(1, um), `${c.source} diameter µm`);
  }
});

test("CAMELYON categories by longest diameter: ITC ≤ 0.2 mm < micro ≤ 2 mm < macro", () => {
  for (const c of fixtures.categories) {
    assert.equal(metastasisCategory(c.diameter_um), c.category, String(c.diameter_um));
  }
  assert.throws(() => metastasisCategory(-1), RangeError);
  assert.throws(() => metastasisCategory(NaN), RangeError);
});

test("colour strings read as Qt (and the Python module) read them", () => {
  for (const c of fixtures.colors) {
    assert.deepEqual(parseColor(c.text), c.rgb, JSON.stringify(c.text));
  }
});

test("point in polygon and distance to outlines match shapely on real outlines", () => {
  let inside = 0;
  for (const c of fixtures.hits) {
    const flat = c.points.flat();
    const n = c.points.length;
    for (const p of c.probes) {
      assert.equal(pointInRings(p.x, p.y, flat, [0], 0, n), p.inside, `${c.source} (${p.x}, ${p.y})`);
      inside += p.inside ? 1 : 0;
      const edge = polylineDistance(p.x, p.y, flat, 0, n, true);
      assert.ok(Math.abs(edge - p.edge) < 1e-6, `${c.source} edge ${edge} ${p.edge}`);
      const line = polylineDistance(p.x, p.y, flat, 0, 2, false);
      assert.ok(Math.abs(line - p.line) < 1e-6, `${c.source} line ${line} ${p.line}`);
    }
  }
  assert.ok(inside > 10, "some probes fall inside");
});

test("a ring inside another is a hole (even-odd)", () => {
  const outer = [0, 0, 10, 0, 10, 10, 0, 10];
  const hole = [3, 3, 7, 3, 7, 7, 3, 7];
  const flat = [...outer, ...hole];
  assert.equal(pointInRings(1, 1, flat, [0, 4], 0, 8), true);
  assert.equal(pointInRings(5, 5, flat, [0, 4], 0, 8), false);
  assert.equal(segmentDistanceSq(5, 5, 0, 0, 10, 0), 25);
  assert.equal(segmentDistanceSq(-3, 4, 0, 0, 10, 0), 25);
});
