// Copy/paste/duplicate: a localStorage-shaped store, slide px kept across slides (clamped to the
// slide), shifted on the slide copied from, pasted into the active set and group.
import test from "node:test";
import assert from "node:assert/strict";
import {
  CLIPBOARD_KEY, copyEntries, duplicateOps, itemsBox, pasteOps, readClipboard,
} from "../../static/js/editor/clipboard.js";
import { makeEntry, makeFeature, propertiesOf } from "../../static/js/editor/document.js";

class MemoryStorage {
  constructor() { this.items = new Map(); }
  getItem(k) { return this.items.has(k) ? this.items.get(k) : null; }
  setItem(k, v) { this.items.set(k, String(v)); }
}

const entry = (setId, props, points) => makeEntry({ localId: `s${setId}:1`, setId, feature: makeFeature(props, points) });
const polygon = (ring) => entry(7, { name: "tumour 1", type: "Polygon", group: "Tumor", color: "#ff0000", comment: "big" }, ring);
const dot = (x, y, setId = 7) => entry(setId, { name: "d", type: "Dot", group: null }, [[x, y]]);
const props = (op) => propertiesOf(op.entry.feature);
const boxOf = (ops) => itemsBox(ops.map((o) => ({ points: o.entry.points })));

let n = 0;
const newId = () => `new-${++n}`;

test("copy then paste on another slide keeps slide px, into the active set and group", () => {
  const storage = new MemoryStorage();
  assert.deepEqual(pasteOps(storage, "b.tif", { setId: 1, width: 1e5, height: 1e5, newId }), [], "empty clipboard");
  const entries = [polygon([[100, 100], [200, 100], [200, 300]]), dot(50, 60)];
  assert.equal(copyEntries(storage, "a.tif", entries), 2);
  assert.ok(storage.getItem(CLIPBOARD_KEY).includes("a.tif"));
  const ops = pasteOps(storage, "b.tif", { setId: 9, group: "Other", width: 1e5, height: 1e5, offset: [20, 20], newId });
  assert.equal(ops.length, 2);
  for (const op of ops) {
    assert.equal(op.kind, "create");
    assert.equal(op.entry.setId, 9);
    assert.equal(op.entry.annotationId, null);
    assert.match(op.entry.localId, /^new-/);
    assert.equal(props(op).group, "Other");
  }
  assert.deepEqual(ops[0].entry.feature.geometry.coordinates, [[[100, 100], [200, 100], [200, 300], [100, 100]]], "no offset on another slide");
  assert.deepEqual(ops[1].entry.feature.geometry, { type: "Point", coordinates: [50, 60] });
  assert.deepEqual(props(ops[0]), { name: "tumour 1", type: "Polygon", group: "Other", color: "#ff0000", comment: "big" });
  // the clipboard is not consumed, and the originals were not touched
  assert.equal(pasteOps(storage, "b.tif", { setId: 9, width: 1e5, height: 1e5, newId }).length, 2);
  assert.deepEqual(entries[0].points[0], [100, 100]);
});

test("pasting on the slide copied from shifts by the offset; the copied group stays if the set has it", () => {
  const storage = new MemoryStorage();
  copyEntries(storage, "a.tif", [polygon([[100, 100], [200, 100], [200, 300]])]);
  const [op] = pasteOps(storage, "a.tif", { setId: 7, groups: ["Tumor"], width: 1e5, height: 1e5, offset: [20, 30], newId });
  assert.deepEqual(op.entry.points[0], [120, 130]);
  assert.equal(props(op).group, "Tumor");
  const [other] = pasteOps(storage, "a.tif", { setId: 8, groups: ["Stroma"], width: 1e5, height: 1e5, newId });
  assert.equal(props(other).group, null, "a group the target set lacks is dropped");
});

test("on a smaller slide the copies move inside it as a whole, and are clamped when larger", () => {
  const storage = new MemoryStorage();
  copyEntries(storage, "big.tif", [polygon([[900, 900], [1100, 900], [1100, 1050]]), dot(1000, 1000)]);
  const ops = pasteOps(storage, "small.tif", { setId: 1, width: 1000, height: 1000, newId });
  const box = boxOf(ops);
  assert.deepEqual(box, [800, 850, 1000, 1000], "shifted by (-100, -50), shape kept");
  assert.deepEqual(ops[1].entry.feature.geometry.coordinates, [900, 950]);
  const tiny = pasteOps(storage, "tiny.tif", { setId: 1, width: 100, height: 100, newId });
  const b = boxOf(tiny);
  assert.ok(b[0] >= 0 && b[1] >= 0 && b[2] <= 100 && b[3] <= 100, JSON.stringify(b));
});

test("a clipboard not ours, broken or empty reads as nothing", () => {
  const storage = new MemoryStorage();
  storage.setItem(CLIPBOARD_KEY, "{not json");
  assert.equal(readClipboard(storage), null);
  storage.setItem(CLIPBOARD_KEY, JSON.stringify({ version: 2, slideId: "a", items: [] }));
  assert.equal(readClipboard(storage), null);
  storage.setItem(CLIPBOARD_KEY, JSON.stringify({ version: 1, slideId: "a", items: [{ props: { type: "Dot" }, points: [["x", 1]] }] }));
  assert.equal(readClipboard(storage), null);
  assert.equal(copyEntries(storage, "a", []), 0);
});

test("duplicate: copies in their own set and group, shifted, inside the slide", () => {
  const entries = [polygon([[10, 10], [50, 10], [50, 50]]), dot(995, 5, 3)];
  const ops = duplicateOps(entries, { offset: [10, -10], width: 1000, height: 1000, newId });
  assert.equal(ops[0].entry.setId, 7);
  assert.equal(props(ops[0]).group, "Tumor");
  assert.deepEqual(ops[0].entry.points, [[20, 0], [60, 0], [60, 40]], "shifted down into the slide");
  assert.equal(ops[1].entry.setId, 3);
  assert.deepEqual(ops[1].entry.points, [[1000, 0]]);
  assert.notEqual(ops[0].entry.localId, ops[1].entry.localId);
});
