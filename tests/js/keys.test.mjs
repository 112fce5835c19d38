import test from "node:test";
import assert from "node:assert/strict";
import { SHORTCUTS, keyLabel, shortcutFor } from "../../static/js/keys.js";
import { MAGNIFICATIONS } from "../../static/js/magnification.js";

test("every key maps to exactly one shortcut", () => {
  const seen = new Map();
  for (const s of SHORTCUTS) {
    for (const k of s.keys) {
      assert.ok(!seen.has(k), `${k} used by ${seen.get(k)} and ${s.label}`);
      seen.set(k, s.label);
    }
  }
});

test("the brief's shortcuts are there", () => {
  assert.equal(shortcutFor({ key: "ArrowLeft" }).action, "pan");
  assert.equal(shortcutFor({ key: "w" }), null, "WASD gave way to ASAP's tool keys: arrows pan");
  assert.equal(shortcutFor({ key: "+" }).action, "zoomBy");
  assert.equal(shortcutFor({ key: "-" }).action, "zoomBy");
  assert.equal(shortcutFor({ key: "e" }).action, "rotateBy");
  assert.equal(shortcutFor({ key: "E" }).arg, -90);
  assert.equal(shortcutFor({ key: "h" }).action, "flip");
  assert.equal(shortcutFor({ key: "F" }).action, "fullscreen");
  assert.equal(shortcutFor({ key: "P" }).action, "screenshot");
  assert.equal(shortcutFor({ key: "I" }).action, "info");
  assert.equal(shortcutFor({ key: "?" }).action, "help");
  for (let i = 1; i <= 6; i++) {
    const s = shortcutFor({ key: String(i) });
    assert.equal(s.action, "magnify");
    assert.equal(MAGNIFICATIONS[s.arg], [1.25, 2.5, 5, 10, 20, 40][i - 1]);
  }
  assert.equal(shortcutFor({ key: "e", ctrlKey: true }), null);
  assert.equal(shortcutFor({ key: "q" }), null);
  assert.equal(keyLabel("ArrowUp"), "↑");
  assert.equal(keyLabel("E"), "Shift+E");
  assert.equal(keyLabel("Ctrl+Z"), "Ctrl+Z");
});

test("ASAP's tool keys select the editor's tools (ASAP_FORMAT.md §9)", () => {
  const expected = { x: "pan", z: "zoom", d: "dot", r: "rectangle", p: "polygon", s: "spline", i: "pointset", m: "ruler", f: "freehand" };
  for (const [key, tool] of Object.entries(expected)) {
    const s = shortcutFor({ key });
    assert.equal(s.action, "tool", key);
    assert.equal(s.arg, tool, key);
  }
});
