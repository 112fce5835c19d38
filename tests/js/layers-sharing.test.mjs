import test from "node:test";
import assert from "node:assert/strict";
import { activeSetChoice, canEditSet, notEditableReason, sharingText } from "../../static/js/layers/sharing.js";

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

test("the active set is only ever one the user may edit: the chosen one, else the first, else none", () => {
  const ana = { auth: "builtin", user: "ana", role: "annotator" };
  const sets = [
    { id: 1, owner: "ben", sharing: "read", editors: [] },
    { id: 2, owner: "ben", sharing: "private", editors: ["ana"] },
    { id: 3, owner: "ana", sharing: "read", editors: [] },
  ];
  assert.equal(activeSetChoice(sets, null, ana), 2);
  assert.equal(activeSetChoice(sets, 3, ana), 3);
  assert.equal(activeSetChoice(sets, 1, ana), 2); // picked, but not editable: not taken
  assert.equal(activeSetChoice(sets.slice(0, 1), 1, ana), null); // none: the editor makes one
  assert.equal(activeSetChoice(sets, 1, { auth: "none" }), 1); // AUTH=none: as before
  assert.equal(activeSetChoice(sets, null, {}), 1);
  assert.equal(activeSetChoice([], null, {}), null);
});

test("a set not offered says why", () => {
  const ana = { auth: "builtin", user: "ana", role: "annotator" };
  assert.equal(notEditableReason({ owner: "ana", sharing: "private" }, ana), "");
  assert.equal(notEditableReason({ owner: "ben", sharing: "read", editors: [] }, ana),
    "ben's set, read by all, and you are not one of its editors");
  assert.equal(notEditableReason({ owner: null, sharing: "read" }, ana),
    "nobody's set, read by all, and you are not one of its editors");
  assert.equal(notEditableReason({ owner: "ben", sharing: "edit" }, { auth: "proxy", user: "vic", role: "viewer" }),
    "a viewer account edits no sets");
  assert.equal(notEditableReason({ owner: "ben", sharing: "private" }, { auth: "none" }), "");
});
