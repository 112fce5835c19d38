import test from "node:test";
import assert from "node:assert/strict";
import { geometryBox, patchable } from "../../static/js/layers/patches.js";
import { tileSources } from "../../static/js/layers/tile-sources.js";
import { tileKey } from "../../static/js/layers/view.js";

test("a write is patched into a layer only when it is the set's next version (or the same)", () => {
  assert.equal(patchable(7, 8), true, "only this write changed the set");
  assert.equal(patchable(7, 7), true, "nothing changed");
  assert.equal(patchable(7, 9), false, "another change came in between: reload");
  assert.equal(patchable(7, 6), false, "an older answer (a replay): reload");
  assert.equal(patchable(null, 1), false, "nothing drawn yet");
  assert.equal(patchable(7, null), false, "no version in the answer");
});

test("the box of a geometry's coordinates, at any nesting", () => {
  assert.deepEqual(geometryBox({ type: "Point", coordinates: [3, 4] }), [3, 4, 3, 4]);
  assert.deepEqual(geometryBox({ type: "MultiPolygon", coordinates: [[[[0, 5], [10, -2], [4, 8], [0, 5]]], [[[-3, 1], [1, 1], [0, 0]]]] }),
    [-3, -2, 10, 8]);
  assert.equal(geometryBox({ type: "Polygon", coordinates: [] }), null);
  assert.equal(geometryBox(null), null);
  assert.deepEqual(geometryBox({ type: "LineString", coordinates: [[1, 2], [NaN, 0], [5, 6]] }), [1, 2, 5, 6]);
});

test("a needed tile is drawn by itself, else the nearest coarser tile, else its children", () => {
  const tiles = new Map();
  const put = (lod, tx, ty) => tiles.set(tileKey(lod, tx, ty), { lod, tx, ty });
  const need = { key: tileKey(1, 3, 2), lod: 1, tx: 3, ty: 2 };
  assert.deepEqual(tileSources(tiles, need, 4), []);
  put(0, 6, 4);
  put(0, 7, 5);
  assert.deepEqual(tileSources(tiles, need, 4).map((t) => [t.lod, t.tx, t.ty]), [[0, 6, 4], [0, 7, 5]]);
  put(3, 0, 0);
  assert.deepEqual(tileSources(tiles, need, 4).map((t) => [t.lod, t.tx, t.ty]), [[3, 0, 0]]);
  put(2, 1, 1);
  assert.deepEqual(tileSources(tiles, need, 4).map((t) => [t.lod, t.tx, t.ty]), [[2, 1, 1]]);
  put(1, 3, 2);
  assert.deepEqual(tileSources(tiles, need, 4).map((t) => [t.lod, t.tx, t.ty]), [[1, 3, 2]]);
});
