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
  assert.equal(shortcutFor({ key: "w" }).action, "pan");
  assert.equal(shortcutFor({ key: "+" }).action, "zoomBy");
  assert.equal(shortcutFor({ key: "-" }).action, "zoomBy");
  assert.equal(shortcutFor({ key: "r" }).action, "rotateBy");
  assert.equal(shortcutFor({ key: "f" }).action, "fullscreen");
  assert.equal(shortcutFor({ key: "?" }).action, "help");
  for (let i = 1; i <= 6; i++) {
    const s = shortcutFor({ key: String(i) });
    assert.equal(s.action, "magnify");
    assert.equal(MAGNIFICATIONS[s.arg], [1.25, 2.5, 5, 10, 20, 40][i - 1]);
  }
  assert.equal(shortcutFor({ key: "r", ctrlKey: true }), null);
  assert.equal(shortcutFor({ key: "q" }), null);
  assert.equal(keyLabel("ArrowUp"), "↑");
  assert.equal(keyLabel("R"), "Shift+R");
});
