import test from "node:test";
import assert from "node:assert/strict";
import {
  EditDocument, geometryFor, makeEntry, makeFeature, pointsOf, propertiesOf, ringSplices, serverLocalId,
} from "../../static/js/editor/document.js";
import { strokeOps } from "../../static/js/editor/tools/brush.js";
import { UndoStack, opBytes } from "../../static/js/editor/undo.js";

const square = [[0, 0], [10, 0], [10, 10], [0, 10]];

function entry(localId = "a", type = "Polygon", points = square) {
  return makeEntry({ localId, setId: 1, feature: makeFeature({ name: "n", type, group: "tumour" }, points) });
}

/** The document's state as plain data (to compare before/after). */
function state(doc) {
  return JSON.stringify([...doc.entries.values()].map((e) => [e.localId, e.points, e.feature]));
}

test("features are the server's format, for every ASAP type", () => {
  assert.deepEqual(geometryFor("Polygon", square).coordinates[0].at(-1), [0, 0], "rings closed on the wire");
  assert.equal(geometryFor("Dot", [[1, 2]]).type, "Point");
  assert.equal(geometryFor("PointSet", [[1, 2]]).type, "MultiPoint");
  assert.equal(geometryFor("Measurement", [[1, 2], [3, 4]]).type, "LineString");
  assert.equal(geometryFor("Rectangle", square).type, "Polygon");
  const f = makeFeature({ name: "x", type: "Spline", group: null, color: "#ff0000", comment: "c" }, square);
  assert.deepEqual(f.properties.asap, { type: "Spline", group: null, color: "#ff0000" });
  assert.equal(f.properties.metadata.ANNOTATION_DESCRIPTION, "c");
  assert.deepEqual(pointsOf(f), square, "rings open in the document");
  assert.deepEqual(propertiesOf(f), { name: "x", type: "Spline", group: null, color: "#ff0000", comment: "c" });
  assert.equal(serverLocalId(3, 7), "s3:7");
});

test("every op's inverse restores the document exactly", () => {
  const ops = [
    { kind: "set-coordinates", localId: "a", coordinates: [[1, 1], [5, 1], [5, 5]] },
    { kind: "move-vertex", localId: "a", index: 0, to: [-3, -4] },
    { kind: "move-vertex", localId: "a", index: 3, to: [2, 12] },
    { kind: "insert-vertex", localId: "a", index: 4, at: [-1, 5] },
    { kind: "insert-vertex", localId: "a", index: 0, at: [5, -1] },
    { kind: "delete-vertex", localId: "a", index: 0 },
    { kind: "delete-vertex", localId: "a", index: 3 },
    { kind: "translate", localIds: ["a", "b"], dx: 2.5, dy: -1 },
    { kind: "set-properties", localId: "a", properties: { name: "renamed", group: null, color: "#00ff00", comment: "hi" } },
    { kind: "set-properties", localId: "b", properties: { type: "Spline" } },
    { kind: "delete", localId: "b" },
    { kind: "create", entry: entry("c", "Dot", [[4, 4]]) },
  ];
  for (const op of ops) {
    const doc = new EditDocument();
    doc.put(entry("a"));
    doc.put(entry("b", "Rectangle"));
    const before = state(doc);
    const { inverse, changed } = doc.apply(op);
    assert.notEqual(state(doc), before, `${op.kind} changed nothing`);
    assert.ok(changed.length >= 1);
    const back = doc.apply(inverse);
    assert.equal(state(doc), before, `${op.kind}: its inverse did not restore the document`);
    doc.apply(back.inverse); // redo = the inverse of the inverse
    const again = new EditDocument();
    again.put(entry("a"));
    again.put(entry("b", "Rectangle"));
    again.apply(op);
    assert.equal(state(doc), state(again), `${op.kind}: redo differs from the op`);
  }
});

test("vertex ops keep the wire ring closed and refuse bad indices", () => {
  const doc = new EditDocument();
  doc.put(entry("a"));
  doc.apply({ kind: "move-vertex", localId: "a", index: 0, to: [-1, -1] });
  const ring = doc.get("a").feature.geometry.coordinates[0];
  assert.deepEqual(ring[0], [-1, -1]);
  assert.deepEqual(ring.at(-1), [-1, -1]);
  assert.throws(() => doc.apply({ kind: "move-vertex", localId: "a", index: 4, to: [0, 0] }), RangeError);
  assert.throws(() => doc.apply({ kind: "delete-vertex", localId: "a", index: -1 }), RangeError);
  assert.throws(() => doc.apply({ kind: "move-vertex", localId: "zz", index: 0, to: [0, 0] }), /no annotation/);
  assert.throws(() => doc.apply({ kind: "set-properties", localId: "a", properties: { bogus: 1 } }), /unknown property/);
  assert.throws(() => doc.apply({ kind: "create", entry: entry("a") }), /exists/);
});

test("the document tells what changed", () => {
  const doc = new EditDocument();
  const seen = [];
  doc.addEventListener("change", (e) => seen.push(e.detail.changed));
  doc.apply({ kind: "create", entry: entry("n") });
  doc.apply({ kind: "translate", localIds: ["n"], dx: 1, dy: 1 });
  assert.deepEqual(seen, [["n"], ["n"]]);
});

test("the undo stack is bounded in bytes, oldest first, and holds diffs", () => {
  const big = Array.from({ length: 10000 }, (_, i) => [i, i % 7]);
  assert.ok(opBytes({ kind: "move-vertex", localId: "a", index: 5, to: [1, 2] }) < 200, "a moved vertex is small");
  assert.ok(opBytes({ kind: "set-coordinates", localId: "a", coordinates: big }) > 10000 * 16);
  const stack = new UndoStack({ maxBytes: 100_000 });
  for (let i = 0; i < 50; i++) {
    const op = { kind: "move-vertex", localId: "a", index: i, to: [i, i] };
    stack.push({ ops: [{ op, inverse: { ...op, to: [0, 0] } }] });
  }
  assert.equal(stack.done.length, 50, "small ops all fit");
  const replace = { kind: "set-coordinates", localId: "a", coordinates: big };
  stack.push({ ops: [{ op: replace, inverse: replace }] });
  assert.ok(stack.bytes <= 100_000 || stack.done.length === 1, `${stack.bytes} bytes kept`);
  assert.equal(stack.done.at(-1).ops[0].op, replace, "the newest record stays");
  assert.ok(stack.done.length < 51, "older records went");
});

test("undo then redo, and a new action drops the redo side", () => {
  const stack = new UndoStack();
  const rec = (n) => ({ ops: [{ op: { kind: "delete", localId: n }, inverse: { kind: "delete", localId: n } }], label: n });
  stack.push(rec("1"));
  stack.push(rec("2"));
  assert.equal(stack.undo().label, "2");
  assert.ok(stack.canRedo());
  assert.equal(stack.redo().label, "2");
  assert.equal(stack.undo().label, "2");
  stack.push(rec("3"));
  assert.ok(!stack.canRedo());
  assert.equal(stack.undo().label, "3");
  assert.equal(stack.undo().label, "1");
  assert.equal(stack.undo(), null);
});

test("a record that no longer applies can be dropped from either side", () => {
  const stack = new UndoStack();
  const rec = (n) => ({ ops: [{ op: { kind: "delete", localId: n }, inverse: { kind: "delete", localId: n } }], label: n });
  stack.push(rec("1"));
  stack.push(rec("2"));
  const two = stack.undo();
  const bytes = stack.bytes;
  stack.drop(two);
  assert.ok(!stack.canRedo());
  assert.ok(stack.bytes < bytes);
  stack.drop(stack.done[0]);
  assert.ok(!stack.canUndo());
  assert.equal(stack.bytes, 0);
});

/** Whether two open rings are the same cyclic ring (any start vertex, either direction). */
function sameRing(a, b) {
  if (a.length !== b.length) {
    return false;
  }
  const key = (p) => `${p[0]},${p[1]}`;
  const bs = b.map(key);
  return [bs, [...bs].reverse()].some((ring) => {
    const start = ring.indexOf(key(a[0]));
    return start >= 0 && a.every((p, i) => key(p) === ring[(start + i) % ring.length]);
  });
}

test("splice: replaces a run, its inverse holds the removed run only, ringSplices finds the run", () => {
  const doc = new EditDocument();
  const ring = Array.from({ length: 10000 }, (_, i) => [Math.cos(i / 1591.5), Math.sin(i / 1591.5)]);
  doc.apply({ kind: "create", entry: entry("a", "Polygon", ring) });
  const before = state(doc);
  const { inverse } = doc.apply({ kind: "splice", localId: "a", index: 5, remove: 3, insert: [[9, 9]] });
  assert.deepEqual(inverse.insert, ring.slice(5, 8));
  assert.equal(doc.get("a").points.length, 9998);
  assert.deepEqual(doc.get("a").feature.geometry.coordinates[0][5], [9, 9], "the feature follows");
  doc.apply(inverse);
  assert.equal(state(doc), before);
  assert.throws(() => doc.apply({ kind: "splice", localId: "a", index: 9999, remove: 2, insert: [] }), RangeError);

  const run = [[7, 7], [8, 8], [9, 9]];
  const cases = {
    "a run in the middle": [...ring.slice(0, 4000), ...run, ...ring.slice(4100)],
    "rotated": [...ring.slice(4100), ...ring.slice(0, 4000), ...run],
    "reversed (Clipper's orientation)": [...ring.slice(0, 4000), ...run, ...ring.slice(4100)].reverse(),
    "wrapping past vertex 0": [...run, ...ring.slice(50, 9950)],
    "only added": [...ring.slice(0, 10), ...run, ...ring.slice(10)],
  };
  for (const [name, after] of Object.entries(cases)) {
    const ops = ringSplices("a", ring, after);
    assert.ok(ops.length >= 1 && ops.length <= 2 && ops.every((op) => op.kind === "splice"), name);
    const moved = ops.reduce((n, op) => n + op.remove + op.insert.length, 0);
    assert.ok(moved <= 203, `${name}: ${moved} points in the ops`);
    const inverses = ops.map((op) => doc.apply(op).inverse);
    assert.ok(sameRing(doc.get("a").points, after), name);
    inverses.reverse().forEach((op) => doc.apply(op));
    assert.equal(state(doc), before, `${name}: undone exactly`);
  }
  assert.deepEqual(ringSplices("a", ring, ring.slice()), [], "the same ring: nothing");
  const other = [[1, 2], [3, 4], [5, 6]];
  assert.deepEqual(ringSplices("a", square, other), [{ kind: "splice", localId: "a", index: 0, remove: 4, insert: other }]);
});

test("1,000 brush strokes on a 10,000-vertex polygon stay in the undo stack's bound, and undo exactly", () => {
  const doc = new EditDocument();
  const ring = Array.from({ length: 10000 }, (_, i) => {
    const a = (2 * Math.PI * i) / 10000;
    return [5000 + 4000 * Math.cos(a), 5000 + 4000 * Math.sin(a)];
  });
  doc.put(makeEntry({ localId: "s1:1", setId: 1, annotationId: 1, feature: makeFeature({ type: "Polygon" }, ring) }));
  const before = state(doc);
  const maxBytes = 32 * 1024 * 1024; // the editor's bound
  const stack = new UndoStack({ maxBytes });
  for (let i = 0; i < 1000; i++) {
    const a = (2 * Math.PI * i) / 1000;
    const stroke = [3985, 4000, 4015].map((r) => [5000 + r * Math.cos(a), 5000 + r * Math.sin(a)]); // across the edge
    const ops = strokeOps(doc.get("s1:1"), stroke, 16, i % 2 ? "cut" : "add", { tolerance: 0.5 });
    assert.ok(ops.length && ops.every((op) => op.kind === "splice"), `stroke ${i}: ${ops.map((o) => o.kind)}`);
    stack.push({ ops: ops.map((op) => ({ op, inverse: doc.apply(op).inverse })) });
  }
  assert.equal(stack.done.length, 1000, "every stroke is undoable");
  assert.ok(stack.bytes <= maxBytes, `${stack.bytes} bytes`);
  // whole rings would be 1,000 x 2 x 10,000 points x 48 bytes (~960 MB): the runs are ~100x less
  assert.ok(stack.bytes < 1000 * 2 * 10000 * 48 / 100, `${stack.bytes} bytes: diffs, not rings`);
  for (let rec = stack.undo(); rec; rec = stack.undo()) {
    rec.ops.map((r) => r.inverse).reverse().forEach((op) => doc.apply(op));
  }
  assert.equal(state(doc), before, "all undone: the polygon as it was");
});
