import test from "node:test";
import assert from "node:assert/strict";
import {
  entryKey, entryMatches, formatArea, formatLength, groupCounts, groupTree, measureText, reviewStep,
  setsAndAnnotationsText, sortEntries, visibleEntries,
} from "../../static/js/layers/panel-model.js";
import { decodeLayerState, encodeLayerState } from "../../static/js/url-state.js";

const entry = (id, props) => ({
  setId: 1, setName: "default", id, name: `A${id}`, type: "Polygon", group: null, comment: null,
  area_px2: null, area_um2: null, length_px: null, length_um: null, camelyon: null, ...props,
});

const LIST = [
  entry(1, { name: "Annotation 10", group: "tumor", area_um2: 3.2e6, camelyon: "macro" }),
  entry(2, { name: "Annotation 2", group: "tumor", area_um2: 950, camelyon: "itc", comment: "check margin" }),
  entry(3, { name: "ruler", type: "Measurement", length_um: 1520 }),
  entry(4, { name: "Annotation 3", group: "_2", area_um2: 45000 }),
  entry(5, { name: "Annotation 1", group: "tumor", area_um2: 120000, camelyon: "micro" }),
];

test("areas switch from µm² to mm² at 0.01 mm², lengths from µm to mm at 1 mm; px without mpp", () => {
  assert.equal(formatArea(950), "950 µm²");
  assert.equal(formatArea(9999.4), "9,999 µm²");
  assert.equal(formatArea(45000), "0.045 mm²");
  assert.equal(formatArea(3.2e6), "3.2 mm²");
  assert.equal(formatArea(null, 1234.5), "1,235 px²");
  assert.equal(formatArea(null, null), "");
  assert.equal(formatLength(12.345), "12.3 µm");
  assert.equal(formatLength(1.2345), "1.23 µm");
  assert.equal(formatLength(1520), "1.52 mm");
  assert.equal(formatLength(null, 500), "500 px");
  assert.equal(measureText(LIST[2]), "1.52 mm");
  assert.equal(measureText(LIST[0]), "3.2 mm²");
});

test("the filter matches every word in name, group, type, comment or class; field words are exact", () => {
  const names = (q) => LIST.filter((e) => entryMatches(e, q)).map((e) => e.id);
  assert.deepEqual(names(""), [1, 2, 3, 4, 5]);
  assert.deepEqual(names("tumor"), [1, 2, 5]);
  assert.deepEqual(names("MARGIN"), [2]);
  assert.deepEqual(names("class:macro"), [1]);
  assert.deepEqual(names("class:itc tumor"), [2]);
  assert.deepEqual(names("type:measurement"), [3]);
  assert.deepEqual(names("ungrouped"), [3]);
  assert.deepEqual(names("group:_2"), [4]);
  assert.deepEqual(names("annotation nothing"), []);
});

test("sorting: natural names, sizes, classes, descending, ties in set order", () => {
  const ids = (key, desc) => sortEntries(LIST, key, desc).map((e) => e.id);
  assert.deepEqual(ids("order"), [1, 2, 3, 4, 5]);
  assert.deepEqual(ids("order", true), [5, 4, 3, 2, 1]);
  assert.deepEqual(ids("name"), [5, 2, 4, 1, 3]); // "Annotation 2" before "Annotation 10"
  assert.deepEqual(ids("size", true), [1, 5, 4, 3, 2]);
  assert.deepEqual(ids("camelyon", true), [1, 5, 2, 3, 4]);
  assert.deepEqual(ids("group"), [3, 4, 1, 2, 5]);
  assert.deepEqual(LIST.map((e) => e.id), [1, 2, 3, 4, 5], "the input is not modified");
  const shown = visibleEntries(LIST, { query: "tumor", sort: "size", isShown: (e) => e.id !== 5 });
  assert.deepEqual(shown.map((e) => e.id), [2, 1]);
});

test("review steps through the list in order, wraps, and starts at either end", () => {
  const list = sortEntries(LIST, "name");
  let key = null;
  const seen = [];
  for (let i = 0; i < 6; i++) {
    const next = reviewStep(list, key, +1);
    key = entryKey(next);
    seen.push(next.id);
  }
  assert.deepEqual(seen, [5, 2, 4, 1, 3, 5]);
  assert.equal(reviewStep(list, key, -1).id, 3);
  assert.equal(reviewStep(list, null, -1).id, 3);
  assert.equal(reviewStep(list, "9:9", +1).id, 5, "an entry no longer listed restarts");
  assert.equal(reviewStep([], null, +1), null);
});

test("group counts and the group tree (children after parents, cycles broken)", () => {
  assert.deepEqual([...groupCounts(LIST)], [["tumor", 3], [null, 1], ["_2", 1]]);
  const tree = groupTree([
    { name: "child", parent: "root" }, { name: "root", parent: null }, { name: "orphan", parent: "gone" },
    { name: "grandchild", parent: "child" }, { name: "x", parent: "y" }, { name: "y", parent: "x" },
  ]);
  assert.deepEqual(tree.map((t) => `${t.group.name}@${t.depth}`),
    ["root@0", "child@1", "grandchild@2", "orphan@0", "x@0", "y@1"]);
});

test("the library says sets and annotations", () => {
  assert.equal(setsAndAnnotationsText(2, 14), "2 sets · 14 annotations");
  assert.equal(setsAndAnnotationsText(1, 1), "1 set · 1 annotation");
  assert.equal(setsAndAnnotationsText(1, 12345), "1 set · 12,345 annotations");
  assert.equal(setsAndAnnotationsText(0, 0), "no annotations");
  assert.equal(setsAndAnnotationsText(undefined, 3), "3 annotations");
  assert.equal(setsAndAnnotationsText(undefined, undefined), "–");
});

test("hidden sets and groups survive the URL, beside the view, and vanish when all are shown", () => {
  const state = { hiddenSets: [5, 3, 5], hiddenGroups: [[3, "tumor"], [7, "a:b & c"], [3, "tumor"]] };
  const params = encodeLayerState(state, new URLSearchParams("x=1&y=2&z=0.5"));
  assert.equal(params.get("x"), "1");
  assert.equal(params.get("hide"), "3,5");
  assert.deepEqual(decodeLayerState(params.toString()),
    { hiddenSets: [3, 5], hiddenGroups: [[3, "tumor"], [7, "a:b & c"]] });
  const cleared = encodeLayerState({ hiddenSets: [], hiddenGroups: [] }, params);
  assert.equal(cleared.toString(), "x=1&y=2&z=0.5");
  assert.deepEqual(decodeLayerState("hide=1,x,,2&hg=nope&hg=:x&hg=4:"), { hiddenSets: [1, 2], hiddenGroups: [[4, ""]] });
  const prefixed = encodeLayerState({ hiddenSets: [1], hiddenGroups: [] }, undefined, "l");
  assert.equal(prefixed.toString(), "lhide=1");
  assert.deepEqual(decodeLayerState(prefixed, "r"), { hiddenSets: [], hiddenGroups: [] });
});

test("a group may be nested under any group but itself and its descendants", async () => {
  const { parentChoices } = await import("../../static/js/layers/panel-model.js");
  const groups = [
    { name: "Tumor", parent: null }, { name: "Mitoses", parent: "Tumor" }, { name: "Deep", parent: "Mitoses" },
    { name: "Normal", parent: null }, { name: "Normal", parent: null },
  ];
  assert.deepEqual(parentChoices(groups, "Tumor"), ["Normal"]);
  assert.deepEqual(parentChoices(groups, "Mitoses"), ["Tumor", "Normal"]);
  assert.deepEqual(parentChoices(groups, null), ["Tumor", "Mitoses", "Deep", "Normal"]);
});

test("a shared group name stands for its last group; members of a group to delete", async () => {
  const { groupMembers, groupRecord } = await import("../../static/js/layers/panel-model.js");
  const records = [{ id: 1, name: "N" }, { id: 2, name: "T" }, { id: 3, name: "N" }];
  assert.equal(groupRecord(records, "N").id, 3);
  assert.equal(groupRecord(records, "X"), null);
  const groups = [{ name: "T", parent: null }, { name: "M", parent: "T" }, { name: "N", parent: null }];
  const entries = [{ id: 1, group: "T" }, { id: 2, group: "M" }, { id: 3, group: "T" }, { id: 4, group: null }];
  const m = groupMembers(entries, groups, "T");
  assert.deepEqual(m.annotations.map((e) => e.id), [1, 3]);
  assert.deepEqual(m.children, ["M"]);
  assert.deepEqual(groupMembers(entries, groups, "N"), { annotations: [], children: [] });
});

test("a history line says version, author, UTC time, kind and counts", async () => {
  const { historyLine, colorInputValue } = await import("../../static/js/layers/panel-model.js");
  const line = historyLine({ version: 3, who: "ann", at: "2026-12-02T03:14:07.5+00:00", kind: "update", created: 0, updated: 1, deleted: 0, message: "" });
  assert.equal(line, "v3 · ann · 2026-12-02 03:14:07 UTC · update · +0 ~1 −0");
  assert.match(historyLine({ version: 1, who: "x", at: "garbage", kind: "restore", created: 1, updated: 0, deleted: 0, message: "restored v1" }),
    /^v1 · x · garbage · restore · \+1 ~0 −0 · restored v1$/);
  assert.equal(colorInputValue("#FF00AA"), "#ff00aa");
  assert.equal(colorInputValue(null), "#64fe2e");
});

test("the history preview draws every ring, line and point of a geometry", async () => {
  const { geometryParts } = await import("../../static/js/layers/preview-layer.js");
  const ring = [[0, 0], [4, 0], [4, 4], [0, 0]];
  const poly = geometryParts({ type: "Polygon", coordinates: [ring, ring] });
  assert.deepEqual([poly.paths.length, poly.closed, poly.points], [2, [true, true], []]);
  const line = geometryParts({ type: "LineString", coordinates: [[1, 2], [3, 4]] });
  assert.deepEqual([line.paths, line.closed], [[[[1, 2], [3, 4]]], [false]]);
  assert.deepEqual(geometryParts({ type: "MultiPoint", coordinates: [[1, 1], [2, 2]] }).points, [[1, 1], [2, 2]]);
  const mixed = geometryParts({ type: "GeometryCollection", geometries: [{ type: "Point", coordinates: [5, 6] },
    { type: "MultiPolygon", coordinates: [[ring], [ring]] }] });
  assert.deepEqual([mixed.points, mixed.paths.length], [[[5, 6]], 2]);
  assert.deepEqual(geometryParts(null), { paths: [], closed: [], points: [] });
});
