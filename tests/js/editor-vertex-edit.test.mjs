// Vertex editing: screen-space handles at any zoom, picking vertices and edges, and the ops of
// dragging, inserting and deleting per ASAP type.
import test from "node:test";
import assert from "node:assert/strict";
import {
  HANDLE_SPACING_PX, HIT_RADIUS_PX, deleteVertexOp, dragRectangleCorner, drawHandles, insertVertexOp, isAxisAligned, pickEdge,
  pickVertex, vertexDrag, vertexRules, visibleHandles,
} from "../../static/js/editor/vertex-edit.js";
import { flattenSpline } from "../../static/js/layers/geometry.js";

/** slide px → CSS px at `zoom` CSS px per slide px, slide point `origin` at the view's top left */
const view = (zoom, origin = [0, 0]) => ({ a: zoom, b: 0, c: 0, d: zoom, e: -origin[0] * zoom, f: -origin[1] * zoom });

/** a circle of n vertices, radius r slide px, centre (cx, cy) */
function circle(n, r, cx = 50_000, cy = 50_000) {
  return Array.from({ length: n }, (_, i) => [cx + r * Math.cos((2 * Math.PI * i) / n), cy + r * Math.sin((2 * Math.PI * i) / n)]);
}

test("at fit a 10,000-vertex outline draws one handle per screen cell, not 10,000", () => {
  const points = circle(10_000, 20_000);
  const zoom = 1000 / 100_000; // a 100,000 px slide in a 1000 px view
  const { indices, nearest } = visibleHandles(points, view(zoom), 1000, 800);
  // the circle is 2·π·200 ≈ 1257 CSS px long: about one handle per screen cell it crosses
  assert.ok(indices.length > 60 && indices.length < 1257 / HANDLE_SPACING_PX * 2.5, `${indices.length} handles`);
  assert.equal(nearest, -1);
  const screen = indices.map((i) => [points[i][0] * zoom, points[i][1] * zoom]);
  for (let i = 1; i < screen.length; i++) {
    assert.ok(Math.floor(screen[i][0] / HANDLE_SPACING_PX) !== Math.floor(screen[i - 1][0] / HANDLE_SPACING_PX) ||
      Math.floor(screen[i][1] / HANDLE_SPACING_PX) !== Math.floor(screen[i - 1][1] / HANDLE_SPACING_PX), "one handle per cell");
  }
  // the vertex under the cursor always has its handle, even where its cell was taken
  const target = 1234;
  const cursor = [points[target][0] * zoom + 0.001, points[target][1] * zoom];
  const near = visibleHandles(points, view(zoom), 1000, 800, { cursor });
  assert.ok(near.indices.includes(near.nearest));
  assert.ok(Math.abs(near.nearest - target) <= 1, `nearest ${near.nearest}`);
  assert.ok(near.indices.every((v, i) => i === 0 || v > near.indices[i - 1]), "ascending");
  // and the active one
  const active = visibleHandles(points, view(zoom), 1000, 800, { active: 4321 });
  assert.ok(active.indices.includes(4321));
});

test("zoomed in (a polygon drawn at 1.25x edited at 40x): only the handles in view, each vertex its own", () => {
  const points = circle(400, 2000, 10_000, 10_000); // spacing ≈ 31 slide px: 1260 CSS px at 40x
  const zoom = 40;
  const origin = [points[0][0] - 10, points[0][1] - 10]; // vertex 0 near the top left of the view
  const { indices } = visibleHandles(points, view(zoom, origin), 1200, 900);
  assert.ok(indices.length >= 1 && indices.length <= 3, `${indices}`);
  assert.ok(indices.includes(0));
  // picking in slide px with the CSS radius / zoom: a vertex 5 CSS px away is on, 12 is off
  const at = (dxPx) => [points[0][0] + dxPx / zoom, points[0][1]];
  assert.equal(pickVertex(points, at(5), HIT_RADIUS_PX / zoom), 0);
  assert.equal(pickVertex(points, at(12), HIT_RADIUS_PX / zoom), -1);
});

test("nearest vertex wins; edges give where the new vertex goes, the closing edge too", () => {
  const square = [[0, 0], [100, 0], [100, 100], [0, 100]];
  assert.equal(pickVertex(square, [98, 3], 10), 1);
  assert.equal(pickVertex(square, [50, 50], 10), -1);
  assert.deepEqual(pickEdge("Polygon", square, [40, 3], 5), { index: 1, at: [40, 0], distance: 3 });
  assert.deepEqual(pickEdge("Polygon", square, [-2, 30], 5), { index: 4, at: [0, 30], distance: 2 }, "closing edge: appended");
  assert.equal(pickEdge("Polygon", square, [50, 50], 5), null);
  assert.equal(pickEdge("PointSet", square, [40, 3], 5), null, "a point set has no edges");
  assert.equal(pickEdge("Measurement", [[0, 0], [100, 0]], [40, 3], 5), null);
  const op = insertVertexOp("a", "Polygon", pickEdge("Polygon", square, [40, 3], 5));
  assert.deepEqual(op, { kind: "insert-vertex", localId: "a", index: 1, at: [40, 0] });
  assert.equal(insertVertexOp("a", "Rectangle", { index: 1, at: [40, 0] }), null, "a rectangle stays a rectangle");
});

test("dragging a vertex is one move-vertex op; the original points are untouched", () => {
  const points = circle(10_000, 5000);
  const before = JSON.stringify(points);
  const drag = vertexDrag("p", "Polygon", points, 17);
  let live;
  for (let i = 0; i < 100; i++) {
    live = drag.move([i, 2 * i]);
  }
  assert.deepEqual(live[17], [99, 198]);
  assert.equal(live.length, 10_000);
  assert.equal(JSON.stringify(points), before);
  assert.deepEqual(drag.end(), [{ kind: "move-vertex", localId: "p", index: 17, to: [99, 198] }]);
  const still = vertexDrag("p", "Polygon", points, 3);
  assert.deepEqual(still.end(), [], "no move, no op");
  still.move(points[3]);
  assert.deepEqual(still.end(), [], "back where it was, no op");
  for (const type of ["Dot", "Measurement", "PointSet", "Spline"]) {
    const d = vertexDrag("x", type, [[1, 1], [5, 5]], 1);
    d.move([7, 8]);
    assert.deepEqual(d.end(), [{ kind: "move-vertex", localId: "x", index: 1, to: [7, 8] }], type);
  }
});

test("a rectangle stays a rectangle: a corner drags its two neighbours, the opposite stays", () => {
  const rect = [[10, 20], [110, 20], [110, 70], [10, 70]];
  assert.ok(isAxisAligned(rect));
  for (let i = 0; i < 4; i++) {
    const out = dragRectangleCorner(rect, i, [50, 40]);
    assert.ok(isAxisAligned(out), `corner ${i}: ${JSON.stringify(out)}`);
    assert.deepEqual(out[i], [50, 40]);
    assert.deepEqual(out[(i + 2) % 4], rect[(i + 2) % 4]);
  }
  assert.deepEqual(dragRectangleCorner(rect, 2, [200, 300]), [[10, 20], [200, 20], [200, 300], [10, 300]]);
  // counter-clockwise order and a drag past the opposite corner (the rectangle flips, stays one)
  const ccw = [[10, 20], [10, 70], [110, 70], [110, 20]];
  assert.deepEqual(dragRectangleCorner(ccw, 0, [150, 90]), [[150, 90], [150, 70], [110, 70], [110, 90]]);
  const drag = vertexDrag("r", "Rectangle", rect, 2);
  drag.move([200, 300]);
  assert.deepEqual(drag.end(), [{ kind: "set-coordinates", localId: "r", coordinates: [[10, 20], [200, 20], [200, 300], [10, 300]] }]);
  assert.deepEqual(rect, [[10, 20], [110, 20], [110, 70], [10, 70]], "original untouched");
  // a Rectangle that is not axis-aligned (imported, rotated) is edited vertex by vertex
  const skew = [[0, 0], [10, 1], [11, 11], [1, 10]];
  const d = vertexDrag("s", "Rectangle", skew, 1);
  d.move([20, 2]);
  assert.deepEqual(d.end(), [{ kind: "move-vertex", localId: "s", index: 1, to: [20, 2] }]);
});

test("deleting a vertex keeps 3 for polygons and splines, 1 for point sets; others refuse", () => {
  assert.deepEqual(deleteVertexOp("a", "Polygon", 4, 2).op, { kind: "delete-vertex", localId: "a", index: 2 });
  assert.equal(deleteVertexOp("a", "Polygon", 3, 2).op, null);
  assert.match(deleteVertexOp("a", "Polygon", 3, 2).message, /at least 3 points/);
  assert.equal(deleteVertexOp("a", "Spline", 3, 0).op, null);
  assert.deepEqual(deleteVertexOp("a", "PointSet", 2, 1).op, { kind: "delete-vertex", localId: "a", index: 1 });
  assert.match(deleteVertexOp("a", "PointSet", 1, 0).message, /at least 1 point$/);
  assert.match(deleteVertexOp("a", "Rectangle", 4, 0).message, /keeps its 4 points/);
  assert.match(deleteVertexOp("a", "Measurement", 2, 0).message, /keeps its 2 points/);
  assert.match(deleteVertexOp("a", "Dot", 1, 0).message, /keeps its point/);
  assert.deepEqual(deleteVertexOp("a", "Polygon", 4, 9), { op: null, message: null }, "no such vertex");
  assert.deepEqual(vertexRules("Polygon"), { drag: true, insert: true, remove: true, minPoints: 3 });
  assert.equal(vertexRules("Measurement").insert, false);
});

test("drawHandles paints the kept handles only, the active one red, on any 2D context", () => {
  const calls = [];
  const g = {
    save() {}, restore() {}, set fillStyle(v) { calls.push(["fill", v]); }, set strokeStyle(v) {}, set lineWidth(v) {},
    fillRect(x, y, w, h) { calls.push(["rect", x, y, w, h]); }, strokeRect() {},
  };
  const points = circle(10_000, 20_000);
  const frame = { slideToElement: view(0.01), cssWidth: 1000, cssHeight: 800 };
  const n = drawHandles(g, frame, points, { active: 10 }, "#00ff00");
  assert.equal(calls.filter((c) => c[0] === "rect").length, n);
  assert.ok(n < 300, `${n} handles for 10,000 vertices at fit`);
  const red = calls.findIndex((c) => c[0] === "fill" && c[1] === "#ff1744");
  assert.deepEqual(calls[red + 1].slice(1, 3), [points[10][0] * 0.01 - 4, points[10][1] * 0.01 - 4]);
});

test("a spline's edge is the curve drawn, not its control polygon", () => {
  // a diamond of 4 control points: its curve bulges outside the control polygon's edges
  const diamond = [[0, -100], [100, 0], [0, 100], [-100, 0]];
  const curve = flattenSpline(diamond, true);
  const off = (p) => Math.hypot(p[0] - 50, p[1] - 50);
  const mid = curve.filter((p) => p[0] > 0 && p[1] > 0).reduce((best, p) => (off(p) > off(best) ? p : best), [50, 50]);
  assert.ok(Math.hypot(mid[0] - 50, mid[1] - 50) > 10, "the curve leaves the control edge");
  const on = pickEdge("Spline", diamond, mid, 2);
  assert.ok(on, "a click on the drawn curve hits");
  assert.equal(on.index, 2, "between control points 1 and 2");
  assert.ok(Math.hypot(on.at[0] - mid[0], on.at[1] - mid[1]) < 1, JSON.stringify(on));
  assert.equal(pickEdge("Spline", diamond, [50, 50], 2), null, "the control polygon's edge is not the curve");
  assert.equal(pickEdge("Polygon", diamond, [50, 50], 2).index, 2);
  // the closing segment (last control point back to the first)
  const closing = pickEdge("Spline", diamond, curve.find((p) => p[0] < -20 && p[1] < -20), 2);
  assert.equal(closing.index, 4);
});
