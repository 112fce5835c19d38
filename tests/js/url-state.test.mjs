import test from "node:test";
import assert from "node:assert/strict";
import { decodeViewState, encodeViewState, normalizeRotation, sameView } from "../../static/js/url-state.js";

test("a view survives encode then decode", () => {
  const state = { x: 1234.4, y: 987.6, zoom: 0.123456, rotation: 450, flip: true };
  const params = encodeViewState(state, new URLSearchParams("keep=1"));
  assert.equal(params.get("keep"), "1");
  assert.equal(params.toString(), "keep=1&x=1234&y=988&z=0.1235&r=90&flip=1");
  assert.deepEqual(decodeViewState(params.toString()), { x: 1234, y: 988, zoom: 0.1235, rotation: 90, flip: true });
});

test("defaults are omitted and prefixes keep two views apart", () => {
  const left = encodeViewState({ x: 1, y: 2, zoom: 1, rotation: 0, flip: false }, undefined, "l");
  const both = encodeViewState({ x: 3, y: 4, zoom: 0.5, rotation: -90, flip: false }, left, "r");
  assert.equal(both.toString(), "lx=1&ly=2&lz=1&rx=3&ry=4&rz=0.5&rr=270");
  assert.deepEqual(decodeViewState(both, "l"), { x: 1, y: 2, zoom: 1, rotation: 0, flip: false });
  assert.equal(decodeViewState(both, "r").rotation, 270);
});

test("invalid or partial states decode to null", () => {
  for (const q of ["", "x=1&y=2", "x=1&y=2&z=0", "x=a&y=2&z=1", "x=1&y=2&z=-3", "x=&y=2&z=1"]) {
    assert.equal(decodeViewState(q), null, q);
  }
  assert.equal(decodeViewState("x=1&y=2&z=1&r=abc").rotation, 0);
});

test("rotation normalises and sameView ignores sub-pixel noise", () => {
  assert.equal(normalizeRotation(-90), 270);
  assert.equal(normalizeRotation(720), 0);
  const a = { x: 10.2, y: 5, zoom: 0.50001, rotation: 0, flip: false };
  assert.ok(sameView(a, { ...a, x: 10.4 }));
  assert.ok(!sameView(a, { ...a, zoom: 0.6 }));
  assert.ok(!sameView(a, { ...a, flip: true }));
  assert.ok(sameView(null, null));
  assert.ok(!sameView(a, null));
});

test("compare panes keep their hidden sets and groups apart by prefix", async () => {
  const { decodeLayerState, encodeLayerState } = await import("../../static/js/url-state.js");
  const left = encodeLayerState({ hiddenSets: [3], hiddenGroups: [[4, "Tumor"]] }, new URLSearchParams("lx=1&rx=2"), "l");
  const both = encodeLayerState({ hiddenSets: [], hiddenGroups: [[7, "a:b"]] }, left, "r");
  assert.equal(both.toString(), "lx=1&rx=2&lhide=3&lhg=4%3ATumor&rhg=7%3Aa%3Ab");
  assert.deepEqual(decodeLayerState(both, "l"), { hiddenSets: [3], hiddenGroups: [[4, "Tumor"]] });
  assert.deepEqual(decodeLayerState(both, "r"), { hiddenSets: [], hiddenGroups: [[7, "a:b"]] });
  assert.deepEqual(decodeLayerState(both), { hiddenSets: [], hiddenGroups: [] });
});
