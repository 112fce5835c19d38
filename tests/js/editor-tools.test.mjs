import test from "node:test";
import assert from "node:assert/strict";
import { simplify } from "../../static/js/editor/tools/common.js";
import { tool, toolForKey, tools } from "../../static/js/editor/tools/index.js";
import { rectangleCorners } from "../../static/js/editor/tools/shapes.js";
import { measureDraft } from "../../static/js/editor/measure.js";

/** A ToolContext at `zoom` CSS px per slide px, pointer points given in slide px. */
function ctx(zoom = 1) {
  let n = 0;
  return {
    zoom: () => zoom, mppX: 0.5, mppY: 0.5, activeSetId: () => 7, activeGroup: () => "tumour",
    newId: () => `id${++n}`,
  };
}
const pt = (x, y, extra = {}) => ({ slide: [x, y], element: [x, y], button: 0, time: 0, ...extra });
const click = (session, x, y) => {
  session.down?.(pt(x, y));
  return session.up(pt(x, y, { click: true }));
};
const created = (result) => result.ops[0].entry;
/** Vertices of a draft, without the rubber band's point under the pointer. */
const vertices = (draft) => draft.coordinates.length - (draft.rubber ? 1 : 0);

test("ASAP's keys pick the tools", () => {
  const keys = Object.fromEntries(tools().map((t) => [t.key, t.name]));
  const asap = { x: "pan", z: "zoom", d: "dot", r: "rectangle", p: "polygon", f: "freehand", s: "spline", i: "pointset", m: "ruler" };
  for (const [key, name] of Object.entries(asap)) {
    assert.equal(keys[key], name, key);
  }
  assert.equal(toolForKey("p").name, "polygon");
  assert.ok(tool("pan").navigates);
});

test("polygon: clicks, the first vertex closes; entry in the active set and group", () => {
  const s = tool("polygon").start(ctx());
  click(s, 0, 0);
  click(s, 100, 0);
  const mid = click(s, 100, 100);
  assert.equal(mid.draft.type, "Polygon");
  assert.match(mid.draft.label, /µm²/);
  const done = click(s, 5, 5); // within 12 CSS px of the first vertex
  assert.ok(done.done);
  const e = created(done);
  assert.deepEqual(e.points, [[0, 0], [100, 0], [100, 100]]);
  assert.equal(e.setId, 7);
  assert.equal(e.feature.properties.asap.group, "tumour");
  assert.equal(e.feature.properties.asap.type, "Polygon");
});

test("polygon keys: Backspace removes the last vertex, Esc cancels, Enter closes; double-click closes", () => {
  let s = tool("polygon").start(ctx());
  for (const [x, y] of [[0, 0], [100, 0], [100, 100], [0, 100]]) {
    click(s, x, y);
  }
  assert.equal(vertices(s.key({ key: "Backspace" }).draft), 3);
  const closed = s.key({ key: "Enter" });
  assert.deepEqual(created(closed).points, [[0, 0], [100, 0], [100, 100]]);

  s = tool("polygon").start(ctx());
  click(s, 0, 0);
  click(s, 50, 0);
  assert.ok(s.drawing);
  assert.deepEqual(s.key({ key: "Escape" }), { draft: null, done: true });
  assert.ok(!s.drawing);
  assert.equal(s.key({ key: "Escape" }), undefined, "nothing to cancel: Escape goes on to the page");

  s = tool("polygon").start(ctx());
  click(s, 0, 0);
  click(s, 100, 0);
  click(s, 100, 100);
  click(s, 100.5, 100); // the double-click's second click
  const dbl = s.dblclick(pt(100.5, 100, { click: true }));
  assert.deepEqual(created(dbl).points, [[0, 0], [100, 0], [100, 100]]);

  s = tool("polygon").start(ctx());
  click(s, 0, 0);
  click(s, 10, 0);
  assert.deepEqual(s.key({ key: "Enter" }), { draft: null, done: true, message: "a polygon needs 3 points at least" },
    "under 3 vertices: no polygon, and the user is told");
});

test("closing distance is in screen px: at zoom 4 the same slide distance no longer closes", () => {
  const s = tool("polygon").start(ctx(4));
  click(s, 0, 0);
  click(s, 100, 0);
  click(s, 100, 100);
  const r = click(s, 5, 5); // 28 CSS px away at zoom 4
  assert.ok(!r.done);
  assert.equal(vertices(r.draft), 4);
});

test("rectangle: a drag, or two clicks; axis-aligned corners", () => {
  let s = tool("rectangle").start(ctx());
  s.down(pt(10, 50));
  s.move(pt(60, 20, { dragging: true }));
  const r = s.up(pt(60, 20, { click: false }));
  assert.deepEqual(created(r).points, [[10, 20], [60, 20], [60, 50], [10, 50]]);
  s = tool("rectangle").start(ctx());
  assert.ok(!click(s, 0, 0).done);
  assert.deepEqual(created(click(s, 30, 40)).points, rectangleCorners([0, 0], [30, 40]));
});

test("dot, point set, ruler, spline, freehand", () => {
  const dot = created(click(tool("dot").start(ctx()), 3, 4));
  assert.equal(dot.feature.geometry.type, "Point");

  const ps = tool("pointset").start(ctx());
  click(ps, 1, 1);
  click(ps, 20, 1);
  click(ps, 40, 1);
  assert.equal(ps.key({ key: "Backspace" }).draft.coordinates.length, 2);
  const set = created(ps.key({ key: "Enter" }));
  assert.equal(set.feature.geometry.type, "MultiPoint");
  assert.deepEqual(set.points, [[1, 1], [20, 1]]);

  const ruler = tool("ruler").start(ctx());
  click(ruler, 0, 0);
  const live = ruler.move(pt(2000, 0));
  assert.equal(live.draft.label, "1 mm", "2000 px at 0.5 µm/px");
  const m = created(click(ruler, 2000, 0));
  assert.equal(m.feature.properties.asap.type, "Measurement");
  assert.deepEqual(m.points, [[0, 0], [2000, 0]]);

  const spline = tool("spline").start(ctx());
  for (const [x, y] of [[0, 0], [100, 0], [100, 100], [0, 100]]) {
    click(spline, x, y);
  }
  assert.equal(created(spline.key({ key: "Enter" })).feature.properties.asap.type, "Spline");

  const free = tool("freehand").start(ctx(2));
  free.down(pt(0, 0));
  for (let i = 1; i <= 400; i++) {
    const a = (i / 400) * 2 * Math.PI;
    free.move(pt(100 - 100 * Math.cos(a), 100 * Math.sin(a), { dragging: true }));
  }
  const stroke = created(free.up(pt(0, 0, { click: false })));
  assert.equal(stroke.feature.properties.asap.type, "Polygon");
  assert.ok(stroke.points.length < 100 && stroke.points.length > 10, `${stroke.points.length} points`);
});

test("simplify keeps what is over the tolerance", () => {
  const line = [[0, 0], [1, 0.1], [2, 0], [3, 5], [4, 0]];
  assert.deepEqual(simplify(line, 1), [[0, 0], [2, 0], [3, 5], [4, 0]]);
});

test("live measures: µm², mm², CAMELYON class", () => {
  const sq = (s) => [[0, 0], [s, 0], [s, s], [0, s]];
  assert.equal(measureDraft("Polygon", sq(100), 0.5, 0.5).label, "2,500 µm² · Ø 70.7 µm · ITC");
  const big = measureDraft("Polygon", sq(2000), 0.5, 0.5);
  assert.equal(big.camelyon, "micro");
  assert.match(big.label, /^1 mm² · Ø 1.41 mm · micrometastasis$/);
  assert.equal(measureDraft("Polygon", sq(10), null, null).label, "100 px²");
  assert.equal(measureDraft("Measurement", [[0, 0], [300, 400]], 1, 1).label, "500 µm");
});

test("rectangle double-click: ASAP's size dialog, the rectangle centred on the click", () => {
  const s = tool("rectangle").start(ctx());
  click(s, 100, 100);
  click(s, 100, 100); // the double-click's two clicks
  const asked = s.dblclick(pt(100, 100, { click: true }));
  assert.deepEqual(asked.ask.fields.map((f) => [f.label, f.value]), [["Width (µm)", 1000], ["Height (µm)", 1000]]);
  const made = created(asked.ask.then({ width: 100, height: 50 })); // at 0.5 µm/px: 200 x 100 px
  assert.deepEqual(made.points, [[0, 50], [200, 50], [200, 150], [0, 150]]);
  assert.equal(made.feature.properties.asap.type, "Rectangle");
  assert.match(asked.ask.then({ width: -1, height: 5 }).message, /positive/);
  const ruler = tool("ruler").start(ctx());
  click(ruler, 0, 0);
  assert.deepEqual(ruler.dblclick(pt(0, 0, { click: true })), { draft: null, done: true }, "the ruler asks nothing");
});
