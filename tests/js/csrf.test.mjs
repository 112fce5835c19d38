import assert from "node:assert/strict";
import test from "node:test";

import { authorHeaders } from "../../static/js/author.js";
import { CSRF_HEADER, csrfHeaders, pageConfig } from "../../static/js/csrf.js";

test("the session's CSRF token travels in X-CSRF-Token; none without one", () => {
  assert.equal(CSRF_HEADER, "X-CSRF-Token");
  assert.deepEqual(csrfHeaders({ csrfToken: "t0k" }), { "X-CSRF-Token": "t0k" });
  assert.deepEqual(csrfHeaders({ auth: "none" }), {});
  assert.deepEqual(csrfHeaders({ csrfToken: "" }), {});
  assert.deepEqual(csrfHeaders({ csrfToken: 5 }), {});
  assert.deepEqual(csrfHeaders(), {}); // node: no document, no page config
});

test("a write's headers name the author and carry the token", () => {
  assert.deepEqual(authorHeaders("Anna", { csrfToken: "abc" }), { "X-User": "Anna", "X-CSRF-Token": "abc" });
  assert.deepEqual(authorHeaders("王医生", { csrfToken: "abc" }), { "X-CSRF-Token": "abc" });
  assert.deepEqual(authorHeaders("", {}), {});
});

test("the page config is read from the body's data-config, {} when absent or broken", () => {
  assert.deepEqual(pageConfig({ body: { dataset: { config: '{"csrfToken":"x","user":"ann"}' } } }),
    { csrfToken: "x", user: "ann" });
  assert.deepEqual(pageConfig({ body: { dataset: {} } }), {});
  assert.deepEqual(pageConfig({ body: { dataset: { config: "{nope" } } }), {});
  assert.deepEqual(pageConfig(undefined), {});
});
