// The brush tool (static/js/editor/tools/brush.js) driven as editor.js drives it, on a real
// EditDocument: which annotation a stroke edits, the ops it makes, their inverses, width keys.
import test from "node:test";
import assert from "node:assert/strict";
import { shapeArea, signedArea } from "../../static/js/editor/brush.js";
import { EditDocument, makeEntry, makeFeature, propertiesOf } from "../../static/js/editor/document.js";
import { DEFAULT_WIDTH_PX, brushSettings, brushTool, strokeOps } from "../../static/js/editor/tools/brush.js";

const SQUARE = [[0, 0], [100, 0], [100, 100], [0, 100]];

/** A document holding one server annotation, and a ToolContext over it (zoom 1: CSS px = slide px). */
function setup({ type = "Polygon", points = SQUARE, selected = true, hit = true } = {}) {
  const doc = new EditDocument();
  const localId = "s1:7";
  const feature = makeFeature({ name: "tumour", type, group: "Tumor", color: "#ff0000" }, points);
  const entry = makeEntry({ localId, setId: 1, annotationId: 7, version: 3, feature });
  const loads = [];
  let ids = 0;
  const ctx = {
    doc, zoom: () => 1, mppX: 0.5, mppY: 0.5, readOnly: false,
    activeSetId: () => 1, activeGroup: () => "Tumor",
    selection: new Set(selected ? [localId] : []),
    select(list) {
      this.selection = new Set(list);
    },
    hitTest: () => (hit ? { setId: 1, annotationId: 7, localId } : null),
    load(ref) {
      loads.push(ref);
      doc.put(entry);
      return Promise.resolve(localId);
    },
    newId: () => `new-${++ids}`,
  };
  if (selected) {
    doc.put(entry);
  }
  return { doc, ctx, localId, loads };
}

const pt = (x, y, extra = {}) => ({ slide: [x, y], element: [x, y], button: 0, alt: false, ...extra });

/** Press, drag through `path`, release; the ToolResult of the release. */
function stroke(session, path, extra = {}) {
  session.down(pt(...path[0], extra));
  for (const p of path.slice(1)) {
    session.move(pt(...p, { ...extra, dragging: true, pressed: true }));
  }
  const last = path[path.length - 1];
  return session.up(pt(...last, { ...extra, click: path.length === 1 }));
}

/** Kinds of ops, a run of splices (one, or two when the changed run wraps past vertex 0) as one. */
const kinds = (ops) => ops.map((o) => o.kind).filter((k, i, all) => k !== "splice" || all[i - 1] !== "splice");
const apply = (doc, ops) => ops.map((op) => doc.apply(op).inverse);
const areaOf = (doc, id) => Math.abs(signedArea(doc.get(id).points));

test("a drag across the selected polygon's edge adds to it; undoing restores it exactly", () => {
  const { doc, ctx, localId } = setup();
  const session = brushTool.start(ctx);
  const result = stroke(session, [[90, 20], [110, 20], [110, 80], [90, 80]]);
  assert.deepEqual(kinds(result.ops), ["splice"]);
  const before = doc.get(localId).points.map((p) => [...p]);
  const inverses = apply(doc, result.ops);
  const width = DEFAULT_WIDTH_PX;
  // the part of the stroke outside the square: a 10 px band 60 px long, plus 12 px more on three sides
  assert.ok(areaOf(doc, localId) > 10000 + 22 * 60, `grew to ${areaOf(doc, localId)}`);
  assert.ok(areaOf(doc, localId) < 10000 + (10 + width / 2) * (60 + width), `at most the stroke's box`);
  assert.ok(session.holds(localId) === false, "nothing held once the stroke is done");
  const timing = session.lastStroke; // benchmarks/editor.py reads it
  assert.equal(timing.mode, "add");
  assert.equal(timing.points, 4);
  assert.equal(timing.vertices, doc.get(localId).points.length);
  assert.ok(timing.ms >= 0 && timing.ms < 10000, `timed ${timing.ms} ms`);
  inverses.reverse().forEach((op) => doc.apply(op));
  assert.deepEqual(doc.get(localId).points, before);
});

test("Alt+drag across the polygon cuts it in two: the bigger part stays, the other is new in its group", () => {
  const { doc, ctx, localId } = setup();
  const session = brushTool.start(ctx);
  const result = stroke(session, [[-20, 30], [50, 30], [120, 30]], { alt: true });
  assert.deepEqual(kinds(result.ops), ["splice", "create"]);
  apply(doc, result.ops);
  const created = result.ops.find((o) => o.kind === "create").entry;
  assert.equal(created.localId, "new-1");
  assert.deepEqual([...ctx.selection], [localId, "new-1"], "both pieces selected");
  assert.equal(created.setId, 1);
  assert.deepEqual(propertiesOf(created.feature), {
    name: "tumour (2)", type: "Polygon", group: "Tumor", color: "#ff0000", comment: "",
  });
  const kept = areaOf(doc, localId);
  const other = Math.abs(signedArea(doc.get("new-1").points));
  assert.ok(kept > other, "the bigger piece keeps the annotation");
  assert.ok(Math.abs(kept + other - (10000 - 100 * DEFAULT_WIDTH_PX)) < 5, `${kept} + ${other}`);
});

test("a click inside with the tool switched to cut (c) makes a hole, bridged into the ring", () => {
  const { doc, ctx, localId } = setup();
  const session = brushTool.start(ctx);
  assert.equal(session.key({ key: "c" }).message, `cut ${DEFAULT_WIDTH_PX} px`);
  const result = stroke(session, [[50, 50]]);
  session.key({ key: "c" }); // back to add for the other tests
  apply(doc, result.ops);
  const hole = Math.PI * (DEFAULT_WIDTH_PX / 2) ** 2;
  assert.ok(Math.abs(10000 - areaOf(doc, localId) - hole) < 0.03 * hole, "ASAP's area lost the disc");
});

test("with nothing selected: the polygon under the press is loaded, selected and brushed", async () => {
  const { doc, ctx, localId, loads } = setup({ selected: false });
  const session = brushTool.start(ctx);
  const result = stroke(session, [[95, 50], [130, 50]]);
  assert.deepEqual(loads, [{ setId: 1, annotationId: 7 }]);
  assert.deepEqual(kinds(result.ops), ["splice"]);
  await Promise.resolve();
  assert.deepEqual([...ctx.selection], [localId]);
  apply(doc, result.ops);
  assert.ok(areaOf(doc, localId) > 10000);
});

test("with nothing selected or under the press: an add draws a new polygon, a cut does nothing", () => {
  const { ctx } = setup({ selected: false, hit: false });
  const session = brushTool.start(ctx);
  const added = stroke(session, [[300, 300], [400, 300]]);
  assert.deepEqual(added.ops.map((o) => o.kind), ["create"]);
  const entry = added.ops[0].entry;
  assert.equal(propertiesOf(entry.feature).group, "Tumor", "the active group");
  const area = shapeArea({ outer: entry.points });
  const want = 100 * DEFAULT_WIDTH_PX + Math.PI * (DEFAULT_WIDTH_PX / 2) ** 2;
  assert.ok(Math.abs(area - want) < 0.01 * want, `${area} vs ${want}`);
  assert.deepEqual([...ctx.selection], [entry.localId], "the next stroke adds to it");
  const { ctx: ctx2 } = setup({ selected: false, hit: false });
  const cut = stroke(brushTool.start(ctx2), [[300, 300], [400, 300]], { alt: true });
  assert.equal(cut.ops, undefined);
  assert.match(cut.message, /select a polygon/);
});

test("a cut over all of it deletes the annotation; a rectangle brushed becomes a polygon", () => {
  const { doc, ctx, localId } = setup();
  const ops = strokeOps(doc.get(localId), [[-50, 50], [150, 50]], 300, "cut", { tolerance: 0.5 });
  assert.deepEqual(ops, [{ kind: "delete", localId }]);
  const rect = setup({ type: "Rectangle" });
  const result = stroke(brushTool.start(rect.ctx), [[100, 50], [120, 50]]);
  assert.deepEqual(kinds(result.ops), ["set-properties", "splice"]);
  apply(rect.doc, result.ops);
  assert.equal(propertiesOf(rect.doc.get(rect.localId).feature).type, "Polygon");
  assert.equal(rect.doc.get(rect.localId).feature.geometry.type, "Polygon");
});

test("the brush circle follows the cursor; < and > change the width (kept); Esc cancels a stroke", () => {
  const { ctx } = setup();
  const storage = new Map();
  ctx.storage = { getItem: (k) => storage.get(k) ?? null, setItem: (k, v) => storage.set(k, v) };
  const session = brushTool.start(ctx);
  const hover = session.move(pt(500, 500));
  const radius = Math.max(...hover.draft.coordinates.map(([x, y]) => Math.hypot(x - 500, y - 500)));
  assert.ok(Math.abs(radius - DEFAULT_WIDTH_PX / 2) < 1e-9);
  assert.equal(hover.draft.label, `add ${DEFAULT_WIDTH_PX} px`);
  assert.equal(hover.draft.vertices, false, "a plain circle, no handles");
  assert.equal(session.key({ key: ">" }).message, `add ${DEFAULT_WIDTH_PX * 1.25} px`);
  assert.equal(brushSettings().width, DEFAULT_WIDTH_PX * 1.25);
  assert.equal(storage.get("wsi-viewer-brush-width"), String(DEFAULT_WIDTH_PX * 1.25));
  session.key({ key: "<" });
  assert.equal(brushSettings().width, DEFAULT_WIDTH_PX);
  for (let i = 0; i < 40; i++) {
    session.key({ key: "<" });
  }
  assert.equal(brushSettings().width, 2, "never below 2 px");
  storage.set("wsi-viewer-brush-width", String(DEFAULT_WIDTH_PX));
  const again = brushTool.start(ctx); // a new session reads the stored width
  assert.equal(brushSettings().width, DEFAULT_WIDTH_PX);
  again.down(pt(90, 50));
  const dragging = again.move(pt(130, 50, { dragging: true }));
  assert.equal(dragging.draft.style, "draft");
  assert.ok(again.drawing && again.holds("s1:7"));
  assert.deepEqual(again.key({ key: "Escape" }).draft.type, "Polygon", "back to the circle");
  assert.equal(again.drawing, false);
  assert.equal(again.up(pt(130, 50)), undefined, "the release after Esc does nothing");
});

test("a stroke released before its polygon has loaded is applied once the load ends (ctx.apply)", async () => {
  const { doc, ctx, localId } = setup({ selected: false });
  let finish;
  const loaded = new Promise((resolve) => {
    finish = resolve;
  });
  const applied = [];
  ctx.load = () => loaded.then(() => {
    doc.put(makeEntry({
      localId, setId: 1, annotationId: 7, version: 3,
      feature: makeFeature({ name: "tumour", type: "Polygon", group: "Tumor" }, SQUARE),
    }));
    return localId;
  });
  ctx.apply = (ops) => applied.push(ops);
  const result = stroke(brushTool.start(ctx), [[95, 50], [130, 50]]);
  assert.equal(result.ops, undefined, "nothing to apply yet");
  finish();
  await loaded;
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(applied.length, 1);
  assert.deepEqual(kinds(applied[0]), ["splice"]);
  apply(doc, applied[0]);
  assert.ok(areaOf(doc, localId) > 10000);
});
