// The select tool's state machine against a real EditDocument: click/shift-click/box selection,
// move, vertex drag/insert/delete, delete, duplicate, copy/paste (ops applied as the editor does).
import test from "node:test";
import assert from "node:assert/strict";
import { EditDocument, makeEntry, makeFeature, propertiesOf } from "../../static/js/editor/document.js";
import { selectTool } from "../../static/js/editor/tools/select.js";

class MemoryStorage {
  constructor() { this.items = new Map(); }
  getItem(k) { return this.items.has(k) ? this.items.get(k) : null; }
  setItem(k, v) { this.items.set(k, String(v)); }
}

/** A context like editor.js's: zoom 0.5 CSS px per slide px, no rotation; "server" annotations
 * are loaded into the document on demand, as ctx.load does with GET …/annotations/<id>. */
function setup({ zoom = 0.5, slideId = "a.tif", storage = new MemoryStorage() } = {}) {
  const doc = new EditDocument();
  const server = new Map();
  const add = (id, type, points, props = {}) => {
    const localId = `s1:${id}`;
    server.set(localId, makeEntry({ localId, setId: 1, annotationId: id, version: 1, feature: makeFeature({ name: `a${id}`, type, group: "Tumor", ...props }, points) }));
    return localId;
  };
  const applied = [];
  const ctx = {
    doc, storage, readOnly: false, selection: new Set(), zoom: () => zoom, slide: { id: slideId, width: 100_000, height: 80_000 },
    activeSetId: () => 1, activeGroup: () => null, groupNames: () => ["Tumor"],
    select(ids) { this.selection = new Set(ids); },
    hitTest(pt) {
      for (const [localId, e] of server) {
        const [x, y] = pt.slide;
        const xs = e.points.map((p) => p[0]);
        const ys = e.points.map((p) => p[1]);
        if (x >= Math.min(...xs) - 8 && x <= Math.max(...xs) + 8 && y >= Math.min(...ys) - 8 && y <= Math.max(...ys) + 8) {
          return { setId: 1, annotationId: e.annotationId, localId };
        }
      }
      return null;
    },
    load(ref) { doc.put(structuredClone(server.get(ref.localId))); return Promise.resolve(ref.localId); },
    inBox([x0, y0, x1, y1]) {
      return [...server.values()].filter((e) => e.points.every(([x, y]) => x >= x0 && x <= x1 && y >= y0 && y <= y1))
        .map((e) => ({ setId: 1, annotationId: e.annotationId, localId: e.localId }));
    },
    apply(ops) { run({ ops }); },
  };
  const run = (result) => {
    for (const op of result?.ops ?? []) {
      applied.push(op);
      doc.apply(op);
    }
    return result;
  };
  const session = selectTool.start(ctx);
  const pt = (x, y, extra = {}) => ({ slide: [x, y], element: [x * zoom, y * zoom], button: 0, ...extra });
  const click = (x, y, extra) => {
    const down = run(session.down(pt(x, y, extra)));
    return run(session.up(pt(x, y, { click: true, ...extra }))) ?? down;
  };
  const drag = (from, to, extra) => {
    run(session.down(pt(...from, extra)));
    const steps = 5;
    for (let i = 1; i <= steps; i++) {
      run(session.move(pt(from[0] + ((to[0] - from[0]) * i) / steps, from[1] + ((to[1] - from[1]) * i) / steps, { dragging: true, ...extra })));
    }
    return run(session.up(pt(...to, extra)));
  };
  const key = (k, extra = {}) => run(session.key({ key: k, shift: false, ctrl: false, ...extra }));
  const settle = () => new Promise((r) => setTimeout(r, 0));
  return { ctx, doc, add, session, click, drag, key, applied, settle, storage };
}

const square = (x, y, s) => [[x, y], [x + s, y], [x + s, y + s], [x, y + s]];

test("click selects, shift-click adds and removes, empty click clears; selected shapes are loaded", async () => {
  const t = setup();
  const a = t.add(1, "Polygon", square(1000, 1000, 400));
  const b = t.add(2, "Polygon", square(3000, 1000, 400));
  t.click(1200, 1200);
  assert.deepEqual([...t.ctx.selection], [a]);
  await t.settle();
  assert.ok(t.doc.has(a), "fetched exact");
  t.click(3200, 1200, { shift: true });
  assert.deepEqual([...t.ctx.selection].sort(), [a, b]);
  t.click(1200, 1200, { shift: true });
  assert.deepEqual([...t.ctx.selection], [b]);
  t.click(50_000, 50_000);
  assert.deepEqual([...t.ctx.selection], []);
});

test("box-select picks the annotations inside the box; delete removes them as one action", async () => {
  const t = setup();
  const ids = [t.add(1, "Polygon", square(1000, 1000, 400)), t.add(2, "Dot", [[2000, 1500]]), t.add(3, "Polygon", square(9000, 9000, 400))];
  const result = t.drag([500, 500], [2500, 2500]);
  assert.equal(result.message, "2 selected");
  assert.deepEqual([...t.ctx.selection].sort(), ids.slice(0, 2));
  const del = t.key("Delete"); // the loads may still be running: ops come through ctx.apply
  await t.settle();
  await t.settle();
  const deletes = t.applied.filter((o) => o.kind === "delete").map((o) => o.localId).sort();
  assert.deepEqual(deletes, ids.slice(0, 2), JSON.stringify(del));
  assert.deepEqual([...t.ctx.selection], []);
});

test("dragging a selected shape moves the whole selection by one translate", async () => {
  const t = setup();
  const a = t.add(1, "Polygon", square(1000, 1000, 400));
  const b = t.add(2, "Measurement", [[3000, 1000], [3400, 1000]]);
  t.click(1200, 1200);
  t.click(3200, 1000, { shift: true });
  await t.settle();
  const preview = t.session.move({ slide: [0, 0], element: [0, 0] }); // hover: a cursor, no op
  assert.equal(preview.ops, undefined);
  t.drag([1200, 1200], [1300, 1250]);
  const moves = t.applied.filter((o) => o.kind === "translate");
  assert.equal(moves.length, 1);
  assert.deepEqual(moves[0].localIds.sort(), [a, b]);
  assert.deepEqual([moves[0].dx, moves[0].dy], [100, 50]);
  assert.deepEqual(t.doc.get(b).points, [[3100, 1050], [3500, 1050]]);
  // a click (< 4 CSS px of motion) on a selected shape does not move it
  t.drag([1200, 1200], [1203, 1200]);
  assert.equal(t.applied.filter((o) => o.kind === "translate").length, 1);
});

test("box-select with ctx.loadBox: one load for the whole box, a delete waits for it", async () => {
  const t = setup();
  const ids = [1, 2, 3].map((i) => t.add(i, "Polygon", square(1000 * i, 1000, 400)));
  const calls = [];
  const single = t.ctx.load;
  t.ctx.load = (ref) => {
    calls.push(["load", ref.localId]);
    return single(ref);
  };
  t.ctx.loadBox = (box, refs) => {
    calls.push(["box", box, refs.map((r) => r.localId)]);
    return Promise.all(refs.map(single));
  };
  t.drag([500, 500], [4000, 2000]);
  assert.deepEqual(calls, [["box", [500, 500, 4000, 2000], ids]], "one request, none per annotation");
  t.key("Delete");
  await t.settle();
  assert.deepEqual(t.applied.map((o) => [o.kind, o.localId]), ids.map((id) => ["delete", id]));
});

test("a selected point set: a drag between its points moves it whole, a drag on a point moves that point", async () => {
  const t = setup();
  const ps = t.add(1, "PointSet", [[1000, 1000], [1400, 1000], [1200, 1400]]);
  t.click(1000, 1000);
  await t.settle();
  t.ctx.hitTest = () => null; // the layer hits a point set's points only (and the editor draws it now)
  assert.deepEqual([...t.ctx.selection], [ps]);
  t.drag([1200, 1100], [1300, 1150]); // between the points
  const moves = t.applied.filter((o) => o.kind === "translate");
  assert.equal(moves.length, 1);
  assert.deepEqual(t.doc.get(ps).points, [[1100, 1050], [1500, 1050], [1300, 1450]]);
  t.drag([1500, 1050], [1600, 1050]); // on a point
  assert.deepEqual(t.doc.get(ps).points, [[1100, 1050], [1600, 1050], [1300, 1450]]);
  assert.equal(t.applied.filter((o) => o.kind === "translate").length, 1, "a point moved, not the set");
});

test("vertex editing of the one selected polygon: drag, insert on an edge, alt-click and Delete remove", async () => {
  const t = setup({ zoom: 2 });
  const a = t.add(1, "Polygon", square(1000, 1000, 400));
  t.click(1200, 1200);
  await t.settle();
  // drag vertex 2 (1400, 1400) by a few CSS px off its exact position
  t.drag([1401, 1401], [1500, 1450]);
  assert.deepEqual(t.applied.at(-1), { kind: "move-vertex", localId: a, index: 2, to: [1500, 1450] });
  assert.equal(t.session.editing.localId, a);
  // click on the edge 0-1: a vertex there
  t.click(1200, 1001);
  assert.deepEqual(t.applied.at(-1), { kind: "insert-vertex", localId: a, index: 1, at: [1200, 1000] });
  assert.equal(t.doc.get(a).points.length, 5);
  assert.equal(t.session.editing.active, 1, "the new vertex is active");
  t.key("Backspace");
  assert.deepEqual(t.applied.at(-1), { kind: "delete-vertex", localId: a, index: 1 });
  assert.equal(t.doc.get(a).points.length, 4);
  // alt-click deletes a vertex; a polygon keeps 3
  t.click(1000, 1000, { alt: true });
  assert.equal(t.doc.get(a).points.length, 3);
  const refused = t.click(1000, 1400, { alt: true });
  assert.match(refused.message ?? "", /at least 3/);
  assert.equal(t.doc.get(a).points.length, 3);
  // a drag from an edge inserts one vertex where the drag ends
  const n = t.applied.length;
  assert.deepEqual(t.doc.get(a).points, [[1400, 1000], [1500, 1450], [1000, 1400]]);
  t.drag([1250, 1425], [1250, 1600]);
  assert.deepEqual(t.applied.slice(n), [{ kind: "insert-vertex", localId: a, index: 2, at: [1250, 1600] }]);
});

test("a rectangle's corner drag keeps it a rectangle; Delete without an active vertex deletes the shape", async () => {
  const t = setup({ zoom: 1 });
  const r = t.add(1, "Rectangle", square(1000, 1000, 400));
  t.click(1200, 1200);
  await t.settle();
  t.drag([1000, 1000], [900, 950]);
  assert.deepEqual(t.doc.get(r).points, [[900, 950], [1400, 950], [1400, 1400], [900, 1400]]);
  t.click(1200, 1200); // a click inside, away from vertices and edges: the vertex is no longer active
  t.key("Delete");
  await t.settle();
  assert.equal(t.doc.has(r), false);
});

test("Ctrl+D duplicates beside; Ctrl+C then Ctrl+V on another slide keeps coordinates", async () => {
  const storage = new MemoryStorage();
  const t = setup({ storage });
  const a = t.add(1, "Polygon", square(1000, 1000, 400));
  t.click(1200, 1200);
  await t.settle();
  t.key("d", { ctrl: true });
  const dup = t.applied.at(-1);
  assert.equal(dup.kind, "create");
  assert.deepEqual(dup.entry.points[0], [1048, 1048], "24 CSS px at zoom 0.5");
  assert.deepEqual([...t.ctx.selection], [dup.entry.localId], "the copy is selected");
  t.click(50_000, 50_000);
  t.click(1200, 1200);
  assert.deepEqual([...t.ctx.selection], [a]);
  assert.equal(t.key("c", { ctrl: true }).message, "copied 1");
  const other = setup({ storage, slideId: "b.tif" });
  other.key("v", { ctrl: true });
  const pasted = other.applied.at(-1);
  assert.deepEqual(pasted.entry.points, square(1000, 1000, 400));
  assert.equal(propertiesOf(pasted.entry.feature).group, "Tumor");
  assert.equal(propertiesOf(pasted.entry.feature).name, "a1");
  assert.notEqual(pasted.entry.localId, a);
});

test("read-only: nothing is changed", () => {
  const t = setup();
  t.ctx.readOnly = true;
  t.add(1, "Polygon", square(1000, 1000, 400));
  t.click(1200, 1200);
  assert.equal(t.key("v", { ctrl: true }), undefined);
  assert.equal(t.applied.length, 0);
});

test("arrows nudge the selection by a screen px (Shift: 10) through the view's rotation", async () => {
  const t = setup({ zoom: 0.5 });
  const a = t.add(1, "Polygon", square(1000, 1000, 400));
  t.click(1200, 1200);
  await t.settle();
  t.key("ArrowRight");
  assert.deepEqual(t.applied.at(-1), { kind: "translate", localIds: [a], dx: 2, dy: 0 });
  // a view rotated 90° clockwise: screen right is slide up (element→slide maps (1, 0) to (0, -2))
  t.ctx.viewer = { stage: { frame: () => ({ elementToSlide: { a: 0, b: -2, c: 2, d: 0, e: 0, f: 0 } }) } };
  t.key("ArrowRight", { shift: true });
  assert.deepEqual(t.applied.at(-1), { kind: "translate", localIds: [a], dx: 0, dy: -20 });
  t.key("Escape");
  assert.equal(t.ctx.selection.size, 0);
  assert.equal(t.key("ArrowRight"), undefined, "nothing selected: the arrow pans");
});

test("entryContains: inside areas, near outlines and lines, on points", async () => {
  const { entryContains } = await import("../../static/js/editor/tools/select.js");
  const e = (type, points) => makeEntry({ localId: "x", setId: 1, feature: makeFeature({ type }, points) });
  const sq = e("Polygon", square(0, 0, 100));
  assert.ok(entryContains(sq, [50, 50], 1));
  assert.ok(entryContains(sq, [103, 50], 4), "near the outline, outside");
  assert.ok(!entryContains(sq, [110, 50], 4));
  const line = e("Measurement", [[0, 0], [100, 0]]);
  assert.ok(entryContains(line, [50, 3], 4));
  assert.ok(!entryContains(line, [50, 30], 4), "a line has no inside");
  assert.ok(!entryContains(line, [-3, 50], 4), "no closing edge");
  const pts = e("PointSet", [[0, 0], [50, 50]]);
  assert.ok(entryContains(pts, [52, 49], 4));
  assert.ok(!entryContains(pts, [25, 25], 4));
});
