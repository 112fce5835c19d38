// Measurement labels on the stage's label canvas: centred over their line, each annotation once
// whatever the tiles holding it, hidden ones and ones far off the canvas left out.
import test from "node:test";
import assert from "node:assert/strict";
import { drawLabels } from "../../static/js/layers/labels.js";

test("a label is drawn once, centred over its line, in device px; hidden and far ones are not", () => {
  const calls = [];
  const ctx = {
    measureText: (t) => ({ width: t.length * 6 }),
    fillRect: (...a) => calls.push(["rect", ...a]),
    fillText: (...a) => calls.push(["text", ...a]),
  };
  const frame = { labels: ctx, slideToDevice: { a: 2, b: 0, c: 0, d: 2, e: 0, f: 100 }, width: 800, height: 600, dpr: 2 };
  const line = { slot: 1, x0: 10, y0: 10, x1: 110, y1: 10, text: "100 px" };
  const draws = [
    { tile: { batch: { labels: [line, { slot: 2, x0: 0, y0: 0, x1: 1, y1: 1, text: "hidden" }] } } },
    { tile: { batch: { labels: [line, { slot: 3, x0: 5000, y0: 0, x1: 5001, y1: 0, text: "far" }] } } },
  ];
  assert.equal(drawLabels(draws, frame, (slot) => slot !== 2), true);
  const texts = calls.filter((c) => c[0] === "text");
  assert.deepEqual(texts, [["text", "100 px", 120, 120 - 9 * 2 - 4 * 2]]);
  assert.equal(drawLabels([], frame, () => true), false);
});
