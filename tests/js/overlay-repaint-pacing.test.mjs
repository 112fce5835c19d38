// When and at what resolution the value overlays repaint while a control moves (issue 14).
import test from "node:test";
import assert from "node:assert/strict";
import {
  INTERACTIVE_BUDGET_MS, REFINE_AFTER_MS, SCALES, interactiveScale, scaledCanvas,
} from "../../static/js/overlays/repaint-pacing.js";

test("interactive scale: full resolution when the draw fits the budget or was never measured", () => {
  assert.equal(interactiveScale(null), 1);
  assert.equal(interactiveScale(Number.NaN), 1);
  assert.equal(interactiveScale(0.4), 1); // a GPU
  assert.equal(interactiveScale(INTERACTIVE_BUDGET_MS), 1);
});

test("interactive scale: the largest scale whose fill (scale²) fits the budget", () => {
  // SwiftShader at 1920x1080: the overlay shader's fill was 25-40 ms
  assert.equal(INTERACTIVE_BUDGET_MS, 4);
  assert.equal(interactiveScale(11), 0.5); // 11 / 4 = 2.75 ms
  assert.equal(interactiveScale(17), 0.25); // 17 / 4 = 4.25 ms over the budget
  assert.equal(interactiveScale(38), 0.25); // 38 / 4 = 9.5 ms over the budget, 38 / 16 = 2.4 ms
  assert.equal(interactiveScale(400), 0.25, "never below the smallest scale");
  assert.equal(interactiveScale(40, 10), 0.5); // 40 / 4 = 10 ms: exactly the budget
  assert.equal(interactiveScale(41, 10), 0.25); // 41 / 4 > 10, 41 / 16 = 2.6 ms
  assert.equal(interactiveScale(30, 100), 1);
  for (const ms of [1, 7, 12, 25, 39, 80, 160]) {
    const s = interactiveScale(ms);
    assert.ok(SCALES.includes(s));
    assert.ok(s === SCALES.at(-1) || ms * s * s <= INTERACTIVE_BUDGET_MS, `${ms} ms -> ${s}`);
  }
  assert.ok(REFINE_AFTER_MS > 100 && REFINE_AFTER_MS < 500, "the full draw comes soon after the control rests");
});

test("scaled canvas: covers the view, with the rounded size's own per-axis scales", () => {
  assert.deepEqual(scaledCanvas(1920, 1080, 1), { width: 1920, height: 1080, sx: 1, sy: 1 });
  assert.deepEqual(scaledCanvas(1920, 1080, 0.5), { width: 960, height: 540, sx: 0.5, sy: 0.5 });
  const odd = scaledCanvas(1001, 667, 0.25);
  assert.deepEqual([odd.width, odd.height], [251, 167]); // ceil, never short of the view
  assert.equal(odd.sx, 251 / 1001);
  assert.equal(odd.sy, 167 / 667);
  // a device point maps into the canvas at the same relative place on each axis
  assert.ok(Math.abs(1001 * odd.sx - odd.width) < 1e-9 && Math.abs(667 * odd.sy - odd.height) < 1e-9);
  assert.deepEqual(scaledCanvas(1, 1, 0.25), { width: 1, height: 1, sx: 1, sy: 1 });
  assert.equal(scaledCanvas(0, 0, 0.5).width, 1, "never a zero-size canvas");
});
