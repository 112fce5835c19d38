import test from "node:test";
import assert from "node:assert/strict";
import { followView, rotateVector, screenDeltaToSlide, slideDeltaToScreen } from "../../static/js/sync.js";

const close = (a, b, msg) => assert.ok(Math.abs(a - b) < 1e-9, `${msg}: ${a} != ${b}`);

test("screen and slide deltas invert each other under rotation, flip and zoom", () => {
  const view = { x: 0, y: 0, zoom: 0.25, rotation: 30, flip: true };
  const back = screenDeltaToSlide(slideDeltaToScreen({ x: 12, y: -7 }, view), view);
  close(back.x, 12, "x");
  close(back.y, -7, "y");
  const r = rotateVector({ x: 1, y: 0 }, 90);
  close(r.x, 0, "rx");
  close(r.y, 1, "ry"); // clockwise on a y-down screen
});

test("same-size views pan and zoom together", () => {
  const lp = { x: 100, y: 100, zoom: 1, rotation: 0, flip: false };
  const fp = { x: 500, y: 800, zoom: 1, rotation: 0, flip: false };
  const next = followView(lp, { ...lp, x: 150, y: 90, zoom: 2 }, fp);
  assert.deepEqual(next, { x: 550, y: 790, zoom: 2, rotation: 0, flip: false });
});

test("different resolutions: the follower moves the same screen distance", () => {
  // leader at zoom 1 (e.g. 20x slide at 20x), follower at zoom 0.5 (40x slide at 20x)
  const lp = { x: 0, y: 0, zoom: 1, rotation: 0, flip: false };
  const fp = { x: 0, y: 0, zoom: 0.5, rotation: 0, flip: false };
  const next = followView(lp, { ...lp, x: 10 }, fp);
  close(next.x, 20, "twice the slide px");
  close(next.zoom, 0.5, "zoom ratio kept");
});

test("rotation offset between the panes is kept and pans follow the screen", () => {
  const lp = { x: 0, y: 0, zoom: 1, rotation: 0, flip: false };
  const fp = { x: 0, y: 0, zoom: 1, rotation: 90, flip: false };
  // leader content moves right on screen by 10 -> follower, rotated 90° cw, must move its
  // slide by the vector that shows as +x on screen: slide -y.
  const next = followView(lp, { ...lp, x: 10, rotation: 15 }, fp);
  close(next.x, 0, "x");
  close(next.y, -10, "y");
  close(next.rotation, 105, "rotation");
});
