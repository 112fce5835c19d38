// Pure maths of the overlay layers: affine maps and local origins, level of detail, region tiles,
// batches (triangles, culled strokes, dots, labels, stable slots), hit-testing and the style tables.
import test from "node:test";
import assert from "node:assert/strict";
import {
  affineFromBasis, affineScale, applyAffine, compose, invertAffine, lodForZoom, maxLodFor, rebase, tileKey,
  tileMargin, tileRect, tileSize, tilesForBox, toleranceForLod, visibleBox, zoomToFit,
} from "../../static/js/layers/view.js";
import { KIND_AREA, KIND_LINE, KIND_POINTS, Registry, buildBatch, shapeOf, styleKey } from "../../static/js/layers/batch.js";
import { hitTestBatch } from "../../static/js/layers/hit-test.js";
import Flatbush from "../../static/js/layers/flatbush.js";
import { SlotTable } from "../../static/js/layers/slot-table.js";
import { ancestry, displayColor, groupTable, topAncestor } from "../../static/js/layers/colors.js";

const close = (a, b, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `${a} != ${b}`);

test("affine maps compose, invert, and rebase onto a local origin without losing precision", () => {
  // 90° rotation, zoom 2, flip-free
  const m = affineFromBasis({ x: 100, y: 50 }, { x: 100, y: 52 }, { x: 98, y: 50 });
  const p = applyAffine(m, { x: 3, y: 4 });
  assert.deepEqual(p, { x: 92, y: 56 });
  const back = applyAffine(invertAffine(m), p);
  close(back.x, 3); close(back.y, 4);
  assert.equal(affineScale(m), 2);
  const flip = { a: -1, b: 0, c: 0, d: 1, e: 800, f: 0 };
  assert.deepEqual(applyAffine(compose(flip, m), { x: 3, y: 4 }), { x: 708, y: 56 });
  // deep zoom on a 200,000 px slide: the rebased map gives the same point from small numbers
  const deep = { a: 2, b: 0, c: 0, d: 2, e: -399_000.25, f: -300_000.75 };
  const origin = { x: 199_680, y: 150_016 };
  const rel = rebase(deep, origin);
  const q = applyAffine(rel, { x: Math.fround(12.5), y: Math.fround(7.25) });
  const abs = applyAffine(deep, { x: origin.x + 12.5, y: origin.y + 7.25 });
  close(q.x, abs.x); close(q.y, abs.y);
  assert.ok(Math.abs(rel.e) < 1e6 && Math.abs(rel.f) < 1e6);
  assert.equal(invertAffine({ a: 0, b: 0, c: 0, d: 0, e: 1, f: 1 }), null);
});

test("level of detail: exact above 1 screen px per slide px, then ~1 screen px of simplification", () => {
  assert.equal(lodForZoom(2), 0);
  assert.equal(lodForZoom(1.01), 0);
  assert.equal(lodForZoom(1), 1);
  assert.equal(lodForZoom(0.6), 1);
  assert.equal(lodForZoom(0.5), 2);
  assert.equal(lodForZoom(0.01), 7);
  assert.equal(lodForZoom(0), 20);
  assert.equal(toleranceForLod(0), 0);
  assert.equal(toleranceForLod(1), 1);
  assert.equal(toleranceForLod(7), 64);
  for (const zoom of [1.7, 0.9, 0.3, 0.011]) {
    const lod = lodForZoom(zoom);
    // the tolerance is at most one screen px at this zoom, the tile 1024-2048 screen px wide
    assert.ok(toleranceForLod(lod) * zoom <= 1 + 1e-9, String(zoom));
    assert.ok(tileSize(lod) * zoom >= 1024 - 1e-6 && tileSize(lod) * zoom <= 2048 + 1e-6, String(zoom));
  }
  assert.equal(maxLodFor(100_000, 80_000), 7);
  assert.equal(maxLodFor(500, 300), 1);
});

test("a view needs 1-4 tiles, clamped to the slide, with margins for wide marks", () => {
  const zoom = 0.3; // a 1280x800 CSS px view
  const lod = lodForZoom(zoom);
  const box = { x0: 5000, y0: 7000, x1: 5000 + 1280 / zoom, y1: 7000 + 800 / zoom };
  const tiles = tilesForBox(box, lod, 100_000, 80_000);
  assert.ok(tiles.length >= 1 && tiles.length <= 4, String(tiles.length));
  for (const t of tiles) {
    const r = tileRect(t.lod, t.tx, t.ty);
    assert.ok(r.x1 > box.x0 && r.x0 <= box.x1 && r.y1 > box.y0 && r.y0 <= box.y1);
    assert.equal(t.key, tileKey(t.lod, t.tx, t.ty));
  }
  assert.deepEqual(tilesForBox({ x0: -5e6, y0: -5e6, x1: -4e6, y1: -4e6 }, 1, 10_000, 10_000).map((t) => t.key), ["1/0/0"]);
  // the margin covers a selected dot's radius (7.5 screen px) at the level's coarsest zoom
  for (let l = 0; l < 8; l++) {
    const coarsest = l === 0 ? 1 : 2 ** -l;
    assert.ok(tileMargin(l) >= 7.5 / coarsest, String(l));
  }
  const seen = visibleBox(invertAffine({ a: 0, b: 0.5, c: -0.5, d: 0, e: 400, f: 0 }), 800, 600);
  close(seen.x1 - seen.x0, 1200); close(seen.y1 - seen.y0, 1600);
});

test("zoomToFit keeps a box inside the view at any rotation", () => {
  const box = { x0: 0, y0: 0, x1: 1000, y1: 200 };
  close(zoomToFit(box, 800, 600, 0, 1), 0.8);
  close(zoomToFit(box, 800, 600, 90, 1), 0.6);
});

const square = (id, x, y, s, extra = {}) => ({
  type: "Feature", id, geometry: { type: "Polygon", coordinates: [[[x, y], [x + s, y], [x + s, y + s], [x, y + s], [x, y]]] },
  properties: { name: `a${id}`, version: 1, asap: { type: "Polygon", group: "tumor", color: "#ff0000" }, ...extra },
});

test("a batch: triangles and strokes relative to the tile, culled outside it; slots stay put", () => {
  const registry = new Registry();
  const body = {
    version: 3,
    features: [
      square(1, 100, 100, 50),
      square(2, 5000, 5000, 10), // far outside the tile: its geometry is kept for hit-testing only
      { type: "Feature", id: 3, geometry: { type: "LineString", coordinates: [[10, 10], [90, 10]] },
        properties: { name: "ruler", version: 1, asap: { type: "Measurement", group: null, color: "#000000" } } },
      { type: "Feature", id: 4, geometry: { type: "MultiPoint", coordinates: [[20, 20], [30, 30], [4000, 4000]] },
        properties: { name: "cells", version: 1, asap: { type: "PointSet", group: null, color: "#00ff00" } } },
    ],
  };
  const rect = { x0: 0, y0: 0, x1: 1024, y1: 1024 };
  const { batch, annotations, styles } = buildBatch(body, rect, 8, 0, registry, { mppX: 0.5 });
  assert.equal(batch.version, 3);
  assert.equal(annotations.length, 4);
  assert.deepEqual(styles.map((s) => s.key), [styleKey("tumor", "#ff0000"), styleKey(null, "#000000"), styleKey(null, "#00ff00")]);
  assert.equal(batch.tris.length, 6); // the far square's triangles are culled
  assert.equal(batch.segSlot.length, 4 + 1); // 4 edges of the near square + the ruler
  assert.equal(batch.dotSlot.length, 2); // the far point is culled
  assert.deepEqual([...batch.itemKind], [KIND_AREA, KIND_AREA, KIND_LINE, KIND_POINTS]);
  assert.equal(batch.labels.length, 1);
  assert.equal(batch.labels[0].text, "40 µm");
  assert.deepEqual(annotations[0].bbox, [100, 100, 150, 150]);
  assert.equal(annotations[0].areaPx, 2500);
  // a second tile with the same annotations: same slots, no metadata sent again
  const again = buildBatch(body, { x0: 1024, y0: 0, x1: 2048, y1: 1024 }, 8, 0, registry);
  assert.equal(again.annotations.length, 0);
  assert.deepEqual([...again.batch.itemSlot], [...batch.itemSlot]);
  assert.equal(again.batch.verts[0], 100 - 1024); // relative to this tile's origin
  // a new version of annotation 1: its metadata comes again, in the same slot
  const changed = buildBatch({ version: 4, features: [{ ...square(1, 100, 100, 60), properties: { ...square(1, 0, 0, 1).properties, version: 2 } }] },
    rect, 8, 0, registry);
  assert.equal(changed.annotations.length, 1);
  assert.equal(changed.annotations[0].slot, annotations[0].slot);
});

test("shapes: splines are flattened, GeoJSON's closing point dropped, bad geometry skipped", () => {
  const spline = { geometry: { type: "Polygon", coordinates: [[[0, 0], [100, 0], [100, 100], [0, 100], [0, 0]]] },
    properties: { asap: { type: "Spline" } } };
  const shape = shapeOf(spline, 0);
  assert.equal(shape.kind, KIND_AREA);
  assert.ok(shape.rings[0].length > 20);
  const coarse = shapeOf(spline, 64);
  assert.ok(coarse.rings[0].length < shape.rings[0].length);
  const poly = shapeOf({ geometry: { type: "Polygon", coordinates: [[[0, 0], [1, 0], [1, 1], [0, 0]]] }, properties: {} }, 0);
  assert.equal(poly.rings[0].length, 3);
  assert.equal(shapeOf({ geometry: { type: "Polygon", coordinates: [[["x", 1]]] } }, 0), null);
  assert.equal(shapeOf({ geometry: null }, 0), null);
  assert.equal(shapeOf({ geometry: { type: "Point", coordinates: [5, 6] } }, 0).kind, KIND_POINTS);
});

test("hit-testing: inside an area, near a line or a dot, smallest area first; hidden slots skipped", () => {
  const registry = new Registry();
  const body = { version: 1, features: [
    square(1, 0, 0, 1000),
    square(2, 100, 100, 100), // a small lesion inside the large region
    { type: "Feature", id: 3, geometry: { type: "LineString", coordinates: [[500, 500], [900, 500]] },
      properties: { version: 1, asap: { type: "Measurement" } } },
    { type: "Feature", id: 4, geometry: { type: "Point", coordinates: [700, 700] }, properties: { version: 1, asap: { type: "Dot" } } },
  ] };
  const { batch } = buildBatch(body, { x0: 0, y0: 0, x1: 1024, y1: 1024 }, 8, 0, registry);
  const index = Flatbush.from(batch.index);
  const all = () => true;
  const slotOf = (id) => registry.byId.get(id).slot;
  assert.equal(hitTestBatch(batch, index, 150, 150, 2, 5, all).slot, slotOf(2));
  assert.equal(hitTestBatch(batch, index, 50, 50, 2, 5, all).slot, slotOf(1));
  assert.equal(hitTestBatch(batch, index, 600, 501.5, 2, 5, all).slot, slotOf(3));
  assert.equal(hitTestBatch(batch, index, 703, 700, 2, 5, all).slot, slotOf(4));
  assert.equal(hitTestBatch(batch, index, 1001.5, 500, 2, 5, all)?.slot, slotOf(1)); // near the outline
  assert.equal(hitTestBatch(batch, index, 1010, 500, 2, 5, all), null);
  assert.equal(hitTestBatch(batch, index, 150, 150, 2, 5, (s) => s !== slotOf(2)).slot, slotOf(1));
});

test("slot table: flags and styles without touching geometry; dirty rows tracked", () => {
  const t = new SlotTable();
  t.setStyle(0, [10, 20, 30], 1);
  t.setSlotStyle(5000, 0);
  assert.equal(t.stateRows, 3);
  assert.deepEqual(t.stateDirty, [2, 2]);
  assert.equal(t.visible(5000), true);
  t.setFlag(5000, 1, true);
  assert.equal(t.visible(5000), false);
  t.setFlag(5000, 1, false);
  t.setStyle(0, [10, 20, 30], 0);
  assert.equal(t.visible(5000), false);
  t.setStyle(300, [1, 2, 3], 0.5);
  assert.equal(t.styleRows, 2);
  assert.deepEqual(t.styleOf(300), { rgb: [1, 2, 3], alpha: 128 / 255 });
});

test("nested groups show their top-most ancestor's colour (ASAP); a parent cycle ends", () => {
  const groups = groupTable([
    { name: "metastases", parent: null, color: "#ff0000" },
    { name: "micro", parent: "metastases", color: "#00ff00" },
    { name: "cells", parent: "micro", color: "#0000ff" },
    { name: "a", parent: "b", color: "#111111" },
    { name: "b", parent: "a", color: "#222222" },
  ]);
  assert.equal(topAncestor("cells", groups), "metastases");
  assert.deepEqual(ancestry("cells", groups), ["cells", "micro", "metastases"]);
  assert.deepEqual(displayColor("cells", "#ffffff", groups), [255, 0, 0]);
  assert.deepEqual(displayColor(null, "#ffffff", groups), [255, 255, 255]);
  assert.deepEqual(displayColor(null, "nonsense", groups), [0, 0, 0]);
  assert.deepEqual(ancestry("a", groups), ["a", "b"]);
});
