import test from "node:test";
import assert from "node:assert/strict";
import { clockTime, statusText } from "../../static/js/editor/save-status.js";

test("the toolbar's words for each state of the save queue", () => {
  const at = new Date(2026, 0, 2, 12, 3, 4);
  assert.equal(clockTime(at), "12:03:04");
  assert.equal(statusText({ state: "saved", pending: 0, savedAt: at, message: "" }), "saved 12:03:04");
  assert.equal(statusText({ state: "saving", pending: 1, savedAt: null, message: "" }), "saving…");
  assert.equal(statusText({ state: "saving", pending: 4, savedAt: null, message: "" }), "saving… (4 changes)");
  assert.equal(statusText({ state: "offline", pending: 3, savedAt: null, message: "offline: 3 changes queued" }),
    "offline: 3 changes queued");
  assert.equal(statusText({ state: "conflict", pending: 2, savedAt: at, message: "stale" }),
    "conflict");
  assert.equal(statusText({ state: "error", pending: 0, savedAt: at, message: "error: invalid Feature" }),
    "error: invalid Feature");
  assert.equal(statusText({ state: "idle", pending: 0, savedAt: null, message: "" }), "");
});
