import test from "node:test";
import assert from "node:assert/strict";
import {
  EditDocument, geometryFor, makeEntry, makeFeature, pointsOf, propertiesOf, serverLocalId,
} from "../../static/js/editor/document.js";
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
