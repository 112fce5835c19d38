// The brush's geometry (static/js/editor/brush.js, clipper2-ts) against shapely for the same strokes
// (tests/data/brush/*.json, written by tests/data/tools/make_brush_fixtures.py; a pytest checks they are current).
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import {
  SCALE, annotationRings, brushShape, bridgeHoles, shapeArea, signedArea, simplifyLine, strokeOutline,
} from "../../static/js/editor/brush.js";

const DIR = new URL("../data/brush/", import.meta.url);
const fixtures = readdirSync(DIR).filter((f) => f.endsWith(".json")).sort()
  .map((f) => JSON.parse(readFileSync(new URL(f, DIR))));

const total = (pieces) => pieces.reduce((sum, p) => sum + p.area, 0);
const holes = (pieces) => pieces.reduce((sum, p) => sum + p.holes.length, 0);

test("the fixtures cover the cases the brush must handle", () => {
  const names = fixtures.map((f) => f.name);
  for (const name of ["crossing", "inside", "outside", "self-intersecting", "hole", "dab", "big"]) {
    assert.ok(names.includes(name), name);
  }
  const byName = Object.fromEntries(fixtures.map((f) => [f.name, f]));
  assert.equal(byName.crossing.cut.pieces, 2, "shapely splits the polygon");
  assert.equal(byName.inside.cut.holes, 1, "shapely makes a hole");
  assert.equal(byName.outside.add.pieces, 2, "shapely makes a second piece");
  assert.ok(byName["self-intersecting"].add.holes >= 1, "the loop closes a hole");
  assert.equal(byName.big.outer.length, 10000);
  assert.equal(byName.big.stroke.length, 100);
});

for (const fixture of fixtures) {
  for (const mode of ["add", "cut"]) {
    test(`${fixture.name} ${mode}: area within 1 % of shapely's, same pieces and holes (${fixture.what})`, () => {
      const shape = { outer: fixture.outer, holes: fixture.holes };
      const before = shapeArea(shape);
      assert.ok(Math.abs(before - fixture.polygon.area) < 0.01, "the input's area is shapely's");
      const pieces = brushShape(shape, fixture.stroke, fixture.width, mode, { tolerance: fixture.tolerance });
      const want = fixture[mode];
      const got = total(pieces);
      assert.ok(Math.abs(got - want.area) <= 0.01 * want.area, `area ${got} vs shapely ${want.area}`);
      // The change itself, not only the total: within 1 % of shapely's (round ends are polygons at
      // `tolerance`; shapely's have 128 segments a circle), or 1 px² when nothing changes.
      const change = got - before;
      const wantChange = want.area - fixture.polygon.area;
      assert.ok(Math.abs(change - wantChange) <= Math.max(1, 0.01 * Math.abs(wantChange)),
        `change ${change} vs shapely ${wantChange}`);
      assert.equal(pieces.length, want.pieces, "pieces");
      assert.equal(holes(pieces), want.holes, "holes");
      for (let i = 1; i < pieces.length; i++) {
        assert.ok(pieces[i - 1].area >= pieces[i].area, "biggest first");
      }
    });
  }
}

test("untouched vertices keep their exact coordinates; a stroke adds few vertices", () => {
  const big = fixtures.find((f) => f.name === "big");
  const input = new Set(big.outer.map(([x, y]) => `${x},${y}`));
  for (const mode of ["add", "cut"]) {
    const [piece] = brushShape({ outer: big.outer }, big.stroke, big.width, mode, { tolerance: big.tolerance });
    const kept = piece.outer.filter(([x, y]) => input.has(`${x},${y}`)).length;
    const added = piece.outer.length - kept;
    assert.ok(kept > 9000 && kept < 10000, `${mode}: ${kept} input vertices kept`);
    assert.ok(added > 2 && added < 200, `${mode}: ${added} new vertices for a 100-point stroke`);
    for (const [x, y] of piece.outer) {
      if (!input.has(`${x},${y}`)) {
        assert.equal(x * SCALE, Math.round(x * SCALE), "new vertices are on the 1/8 px grid");
      }
    }
  }
});

test("a coarser tolerance gives fewer vertices, all within the tolerance of the exact outline", () => {
  const f = fixtures.find((c) => c.name === "edge");
  const fine = brushShape({ outer: f.outer }, f.stroke, f.width, "add", { tolerance: 0.05 })[0];
  const coarse = brushShape({ outer: f.outer }, f.stroke, f.width, "add", { tolerance: 2 })[0];
  assert.ok(coarse.outer.length < fine.outer.length, `${coarse.outer.length} < ${fine.outer.length}`);
  assert.ok(Math.abs(coarse.area - fine.area) < 0.01 * fine.area);
});

test("the input ring's orientation does not matter; holes may be given either way", () => {
  const f = fixtures.find((c) => c.name === "hole");
  const a = brushShape({ outer: f.outer, holes: f.holes }, f.stroke, f.width, "cut", { tolerance: f.tolerance });
  const b = brushShape(
    { outer: [...f.outer].reverse(), holes: f.holes.map((h) => [...h].reverse()) }, f.stroke, f.width, "cut",
    { tolerance: f.tolerance },
  );
  assert.equal(total(a).toFixed(3), total(b).toFixed(3));
  assert.equal(holes(a), 1);
});

test("annotationRings: the biggest piece stays, the others are new annotations, holes bridged", () => {
  const square = [[0, 0], [100, 0], [100, 100], [0, 100]];
  const hole = [[40, 40], [60, 40], [60, 60], [40, 60]];
  // A cut across the square and through its hole: two pieces, the hole opened to the outside.
  const split = brushShape({ outer: square, holes: [hole] }, [[-10, 45], [110, 45]], 4, "cut");
  const rings = annotationRings(split);
  assert.equal(split.length, 2);
  assert.deepEqual(split.map((p) => p.holes.length), [0, 0], "the hole is part of the outlines now");
  assert.deepEqual(rings.main, split[0].outer);
  assert.deepEqual(rings.extra, [split[1].outer]);
  assert.ok(Math.abs(signedArea(rings.main)) > Math.abs(signedArea(rings.extra[0])));
  // A dab inside: one piece, its ring holds the hole.
  const dab = brushShape({ outer: square }, [[20, 20]], 8, "cut", { tolerance: 0.05 });
  const dabbed = annotationRings(dab);
  assert.equal(dabbed.extra.length, 0);
  assert.ok(Math.abs(Math.abs(signedArea(dabbed.main)) - dab[0].area) < 1e-9, "the ring's area is the piece's");
  assert.ok(Math.abs(dab[0].area - (10000 - Math.PI * 16)) < 0.03 * Math.PI * 16, "a disc of radius 4 px cut out");
  // A cut that removes all of it: nothing is left, the annotation goes.
  const gone = brushShape({ outer: square }, [[50, -100], [50, 200]], 400, "cut");
  assert.deepEqual(annotationRings(gone), { main: null, extra: [] });
});

test("a dab is a disc; an empty stroke or zero width changes nothing; bad modes are refused", () => {
  const disc = strokeOutline([[10, 10]], 20, { tolerance: 0.1 });
  assert.equal(disc.length, 1);
  assert.ok(Math.abs(Math.abs(signedArea(disc[0])) - Math.PI * 100) < 0.02 * Math.PI * 100);
  const square = [[0, 0], [100, 0], [100, 100], [0, 100]];
  assert.equal(brushShape({ outer: square }, [], 10, "add")[0].area, 10000);
  assert.equal(brushShape({ outer: square }, [[50, 50]], 0, "cut")[0].area, 10000);
  assert.equal(brushShape({ outer: square }, [[NaN, 50], [50, Infinity]], 10, "cut")[0].area, 10000);
  assert.equal(brushShape({ outer: square }, [[50, 50]], Infinity, "cut")[0].area, 10000);
  assert.throws(() => brushShape({ outer: square }, [[50, 50]], 10, "erase"), /add.*cut/);
  const alone = brushShape({ outer: [] }, [[0, 0], [100, 0]], 10, "add", { tolerance: 0.05 });
  assert.equal(alone.length, 1, "an add to nothing is the stroke's outline");
  assert.ok(Math.abs(alone[0].area - (1000 + Math.PI * 25)) < 0.01 * 1000);
  assert.deepEqual(brushShape({ outer: [[0, 0], [1, 1]] }, [[0, 0]], 10, "cut"), []);
  assert.deepEqual(simplifyLine([[0, 0], [1, 0.01], [2, 0]], 0.1), [[0, 0], [2, 0]]);
});

test("bridgeHoles: one ring whose shoelace area is the outer's minus the holes', brushable again", () => {
  const f = fixtures.find((c) => c.name === "inside");
  const [piece] = brushShape({ outer: f.outer }, f.stroke, f.width, "cut", { tolerance: f.tolerance });
  assert.equal(piece.holes.length, 1);
  const ring = bridgeHoles(piece.outer, piece.holes);
  assert.equal(ring.length, piece.outer.length + piece.holes[0].length + 3);
  assert.ok(Math.abs(Math.abs(signedArea(ring)) - piece.area) < 1e-6 * piece.area, "ASAP's area of the ring");
  assert.ok(Math.abs(piece.area - f.cut.area) <= 0.01 * f.cut.area);
  // The keyhole ring brushed again: Clipper sees the hole (non-zero), and nothing changes without a stroke.
  const again = brushShape({ outer: ring }, [[0, 0]], 1, "cut", { tolerance: f.tolerance });
  assert.equal(again.length, 1);
  assert.equal(again[0].holes.length, 1, "the bridged hole is a hole again");
  assert.ok(Math.abs(again[0].area - piece.area) < 1e-6 * piece.area);
  // Two holes side by side (the right one bridged first) and a polygon without holes.
  const square = [[0, 0], [100, 0], [100, 100], [0, 100]];
  const two = brushShape({ outer: square }, [[30, 50]], 10, "cut").flatMap((p) => p.holes);
  const both = brushShape({ outer: square }, [[30, 50], [30, 50.5]], 10, "cut")[0];
  const withTwo = brushShape({ outer: both.outer, holes: both.holes }, [[70, 50]], 10, "cut")[0];
  assert.equal(two.length, 1);
  assert.equal(withTwo.holes.length, 2);
  const ring2 = bridgeHoles(withTwo.outer, withTwo.holes);
  assert.ok(Math.abs(Math.abs(signedArea(ring2)) - withTwo.area) < 1e-6 * withTwo.area);
  assert.equal(brushShape({ outer: ring2 }, [[0, 0]], 1, "cut")[0].holes.length, 2);
  assert.equal(bridgeHoles(square, []), square);
});
