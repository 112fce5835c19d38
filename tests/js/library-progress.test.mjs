import test from "node:test";
import assert from "node:assert/strict";
import { describePreparation } from "../../static/js/library-progress.js";

const slide = (progress, extra = {}) => ({ id: "tumor_demo.tif", name: "tumor_demo.tif", status: "preparing", progress, ...extra });

test("a slide being prepared: percent, what is being written and the time left", () => {
  const shown = describePreparation(slide({ percent: 41.56, message: "writing level 0 of 7", eta_seconds: 75 }));
  assert.deepEqual(shown, { percent: 41.56, tone: "busy", text: "42% · writing level 0 of 7 · about 1 min 15 s left" });
});

test("before there is a rate, and before the first report", () => {
  assert.equal(describePreparation(slide({ percent: 2, message: "building the texture banks", eta_seconds: null })).text,
    "2% · building the texture banks · estimating time left");
  assert.deepEqual(describePreparation(slide(undefined)), { percent: 0, tone: "busy", text: "0% · starting · estimating time left" });
});

test("out-of-range and missing numbers stay within the bar", () => {
  assert.equal(describePreparation(slide({ percent: 140 })).percent, 100);
  assert.equal(describePreparation(slide({ percent: -3 })).percent, 0);
  assert.equal(describePreparation(slide({ percent: "x" })).percent, 0);
});

test("a failed preparation says why", () => {
  const shown = describePreparation(slide({ percent: 30 }, { status: "failed", error: "the demo generator stopped" }));
  assert.deepEqual(shown, { percent: 30, tone: "error", text: "Could not be prepared: the demo generator stopped" });
});
