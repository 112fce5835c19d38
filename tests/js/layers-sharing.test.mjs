import test from "node:test";
import assert from "node:assert/strict";
import { canEditSet, sharingText } from "../../static/js/layers/sharing.js";

test("a set without an owner shared 'edit' (AUTH=none, or made before accounts) shows nothing", () => {
  assert.deepEqual(sharingText({ owner: null, sharing: "edit", editors: [] }), { text: "", title: "" });
  assert.deepEqual(sharingText({}), { text: "", title: "" });
});

test("owner, sharing and editors are shown in words", () => {
  assert.equal(sharingText({ owner: "ana", sharing: "read", editors: [] }).text, "ana's · read by all");
  assert.equal(sharingText({ owner: "ana", sharing: "private", editors: ["ben", "cleo"] }).text,
    "ana's · private · + ben, cleo");
  assert.equal(sharingText({ owner: null, sharing: "private", editors: [] }).text, "no owner · private");
  assert.equal(sharingText({ owner: "ana", sharing: "edit", editors: ["ben"] }).title,
    "Owner: ana; sharing: edit; also edited by ben");
});

test("canEditSet mirrors the server: admins and AUTH=none everything, annotators own/granted/'edit', viewers nothing", () => {
  const ana = { auth: "builtin", user: "ana", role: "annotator" };
  assert.equal(canEditSet({ owner: "ben", sharing: "read", editors: [] }, {}), true);
  assert.equal(canEditSet({ owner: "ben", sharing: "private" }, { auth: "builtin", user: "root", role: "admin" }), true);
  assert.equal(canEditSet({ owner: "ana", sharing: "private", editors: [] }, ana), true);
  assert.equal(canEditSet({ owner: "ben", sharing: "read", editors: ["ana"] }, ana), true);
  assert.equal(canEditSet({ owner: "ben", sharing: "read", editors: [] }, ana), false);
  assert.equal(canEditSet({ owner: null, sharing: "edit", editors: [] }, ana), true);
  assert.equal(canEditSet({ owner: null, sharing: "edit" }, { auth: "proxy", user: "vic", role: "viewer" }), false);
});
