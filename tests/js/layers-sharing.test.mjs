import test from "node:test";
import assert from "node:assert/strict";
import { sharingText } from "../../static/js/layers/sharing.js";

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
