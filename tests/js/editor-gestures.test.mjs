// Two-finger gestures of the editor (static/js/editor/gestures.js): pan by the midpoint, pinch zoom.
import test from "node:test";
import assert from "node:assert/strict";
import { twoFingerStep } from "../../static/js/editor/gestures.js";

test("two fingers: the midpoint's motion pans, their distance zooms about the new midpoint", () => {
  const touches = new Map([[1, { x: 100, y: 100 }], [2, { x: 200, y: 100 }]]);
  // both directions of one finger: apart zooms in, together zooms out
  assert.deepEqual(twoFingerStep(touches, 2, { x: 300, y: 100 }), { pan: [50, 0], zoomBy: 2, at: [200, 100] });
  assert.deepEqual(twoFingerStep(touches, 1, { x: 150, y: 100 }), { pan: [25, 0], zoomBy: 0.5, at: [175, 100] });
  // a drag keeping the distance pans only
  const step = twoFingerStep(touches, 1, { x: 100, y: 100 + 40 });
  assert.deepEqual(step.pan, [0, 20]);
  assert.ok(Math.abs(step.zoomBy - Math.hypot(100, 40) / 100) < 1e-12);
  assert.equal(twoFingerStep(new Map([[1, { x: 0, y: 0 }]]), 1, { x: 5, y: 5 }), null, "one finger: no gesture");
  assert.equal(twoFingerStep(touches, 3, { x: 5, y: 5 }), null, "a finger not down");
  const same = new Map([[1, { x: 10, y: 10 }], [2, { x: 10, y: 10 }]]);
  assert.equal(twoFingerStep(same, 1, { x: 20, y: 10 }).zoomBy, 1, "from one spot: no zoom");
});
