import test from "node:test";
import assert from "node:assert/strict";
import { authorHeaders, authorName, cleanAuthor, setAuthorName, withAuthor } from "../../static/js/author.js";
import { MemoryStorage, SaveQueue } from "../../static/js/editor/save-queue.js";

function memoryLocalStorage() {
  const m = new Map();
  return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => m.set(k, String(v)), removeItem: (k) => m.delete(k) };
}

test("the author's name is kept cleaned, forgotten when emptied, never the server's own 'sidecar'", () => {
  const storage = memoryLocalStorage();
  assert.equal(authorName(storage), "");
  assert.equal(setAuthorName("  Dr.\tAnna   Müller \n", storage), "Dr. Anna Müller");
  assert.equal(authorName(storage), "Dr. Anna Müller");
  assert.equal(cleanAuthor("x".repeat(200)).length, 80);
  assert.equal(cleanAuthor("Sidecar"), "");
  setAuthorName("", storage);
  assert.equal(authorName(storage), "");
  const refusing = { getItem() { throw new Error("denied"); } };
  assert.equal(authorName(refusing), "");
});

test("a Latin-1 name travels as X-User too; any name in a JSON body's user", () => {
  assert.deepEqual(authorHeaders("Anna Müller"), { "X-User": "Anna Müller" });
  assert.deepEqual(authorHeaders("王医生"), {}); // a header cannot carry it
  assert.deepEqual(authorHeaders(""), {});
  assert.deepEqual(withAuthor({ type: "Feature" }, "王医生"), { type: "Feature", user: "王医生" });
  assert.deepEqual(withAuthor({ type: "Feature" }, ""), { type: "Feature" });
});

test("the save queue sends each change with the author it was made by, also when replayed later", async () => {
  const sent = [];
  const fetch = async (url, init) => {
    sent.push({ url, init });
    const body = init.body ? JSON.parse(init.body) : null;
    const annotation = { ...body, id: 7, properties: { ...(body?.properties ?? {}), version: sent.length } };
    const headers = new Map([["etag", `"${sent.length}"`]]);
    return { ok: true, status: init.method === "POST" ? 201 : 200, headers: { get: (k) => headers.get(k.toLowerCase()) ?? null },
             json: async () => (init.method === "DELETE" ? { deleted: 7 } : { annotation }) };
  };
  let name = "Anna Müller";
  const storage = new MemoryStorage();
  const queue = new SaveQueue({ slideId: "s.tif", storage, fetch, author: () => name, locks: null });
  await queue.open();
  const feature = { type: "Feature", geometry: { type: "Point", coordinates: [1, 2] }, properties: { name: "d" } };
  const created = queue.submit({ kind: "create", setId: 1, localId: "L", feature });
  name = "王医生"; // changed after the first change was made: that one keeps its author
  const updated = queue.submit({ kind: "update", setId: 1, localId: "L", feature });
  const deleted = queue.submit({ kind: "delete", setId: 1, localId: "L" });
  await Promise.all([created, updated, deleted]);
  assert.equal(JSON.parse(sent[0].init.body).user, "Anna Müller");
  assert.equal(sent[0].init.headers["X-User"], "Anna Müller");
  assert.equal(JSON.parse(sent[1].init.body).user, "王医生");
  assert.equal(sent[1].init.headers["X-User"], undefined);
  assert.equal(sent[2].init.body, undefined);
});
