import test from "node:test";
import assert from "node:assert/strict";
import { MemoryStorage, SaveQueue, backoffDelay, normaliseChange } from "../../static/js/editor/save-queue.js";

// A small stand-in of the annotation API's write routes (POST/PUT/DELETE /api/sets/<s>/annotations):
// versions, If-Match, Idempotency-Key answers; `fail` scripts what the next requests meet.
function fakeServer() {
  const server = { annotations: new Map(), nextId: 1, log: [], keys: new Map(), fail: [] };
  server.fetch = async (url, init) => {
    server.log.push({ url, method: init.method, headers: { ...init.headers }, body: init.body ?? null });
    const scripted = server.fail.shift();
    if (scripted === "network") throw new TypeError("Failed to fetch");
    if (scripted === "lost") {
      // applied, but the answer never arrives
      await answer(url, init);
      throw new TypeError("network connection was lost");
    }
    if (typeof scripted === "number") return reply(scripted, { error: `scripted ${scripted}`, status: scripted });
    return answer(url, init);
  };
  function reply(status, body, etag) {
    const headers = new Map(etag != null ? [["etag", `"${etag}"`]] : []);
    return { ok: status < 300, status, headers: { get: (k) => headers.get(k.toLowerCase()) ?? null },
             json: async () => structuredClone(body) };
  }
  async function answer(url, init) {
    const key = init.headers["Idempotency-Key"];
    if (key && server.keys.has(key)) return server.keys.get(key)();
    const made = apply(url, init);
    if (key && made.ok) server.keys.set(key, () => made); // refusals are not writes: not kept
    return made;
  }
  function apply(url, init) {
    const m = /^\/api\/sets\/(\d+)\/annotations(?:\/(\d+))?$/.exec(url);
    assert.ok(m, `url ${url}`);
    assert.equal(init.headers["X-Requested-With"], "wsi-viewer");
    const id = m[2] ? Number(m[2]) : null;
    if (init.method === "POST") {
      assert.equal(init.headers["Content-Type"], "application/json");
      const f = JSON.parse(init.body);
      assert.equal(f.id, undefined, "a create sends no id");
      const rec = { ...f, id: server.nextId++, properties: { ...f.properties, version: 1 } };
      server.annotations.set(rec.id, rec);
      return reply(201, { annotation: rec }, 1);
    }
    const cur = server.annotations.get(id);
    if (!cur) return reply(404, { error: "not found", status: 404 });
    const ifMatch = init.headers["If-Match"];
    if (ifMatch && ifMatch !== `"${cur.properties.version}"`) {
      return reply(412, { error: "stale", status: 412, current: cur }, cur.properties.version);
    }
    if (init.method === "DELETE") {
      server.annotations.delete(id);
      return reply(200, { deleted: id });
    }
    const f = JSON.parse(init.body);
    const rec = { ...f, id, properties: { ...f.properties, version: cur.properties.version + 1 } };
    server.annotations.set(id, rec);
    return reply(200, { annotation: rec }, rec.properties.version);
  }
  return server;
}

const feature = (name, x = 0) => ({
  type: "Feature", geometry: { type: "Polygon", coordinates: [[[x, 0], [x + 10, 0], [x + 10, 10], [x, 0]]] },
  properties: { name, asap: { type: "Polygon", group: null, color: "#F4FA58" } },
});

function makeQueue(server, storage = new MemoryStorage(), extra = {}) {
  const sleeps = [];
  const queue = new SaveQueue({
    slideId: "a.tif", storage, fetch: server.fetch, sleep: async (ms) => { sleeps.push(ms); },
    backoff: (n) => 100 * 2 ** (n - 1), ...extra,
  });
  return { queue, sleeps, storage };
}

const events = (queue, type) => {
  const seen = [];
  queue.addEventListener(type, (e) => seen.push(e.detail));
  return seen;
};

test("changes are sent in order; a create's id and version carry over to the changes after it", async () => {
  const server = fakeServer();
  const { queue, storage } = makeQueue(server);
  await queue.open();
  const confirmed = events(queue, "confirmed");
  const a = queue.submit({ kind: "create", setId: 3, localId: "L1", feature: feature("a") });
  const b = queue.submit({ kind: "update", setId: 3, localId: "L1", feature: feature("a2", 5) });
  const c = queue.submit({ kind: "update", setId: 3, localId: "L1", feature: feature("a3", 7) });
  const d = queue.submit({ kind: "delete", setId: 3, localId: "L1" });
  assert.equal(queue.status().pending, 4);
  const results = await Promise.all([a, b, c, d]);
  assert.deepEqual(results.map((r) => [r.annotationId, r.version]), [[1, 1], [1, 2], [1, 3], [1, null]]);
  assert.deepEqual(server.log.map((r) => `${r.method} ${r.url} ${r.headers["If-Match"] ?? "-"}`), [
    "POST /api/sets/3/annotations -",
    'PUT /api/sets/3/annotations/1 "1"',
    'PUT /api/sets/3/annotations/1 "2"',
    'DELETE /api/sets/3/annotations/1 "3"',
  ]);
  assert.equal(new Set(server.log.map((r) => r.headers["Idempotency-Key"])).size, 4);
  assert.deepEqual(confirmed.map((c) => c.change.kind), ["create", "update", "update", "delete"]);
  assert.equal(server.annotations.size, 0);
  assert.deepEqual(await storage.list("a.tif"), []);
  await queue.drained();
  assert.equal(queue.status().state, "saved");
  assert.ok(queue.status().savedAt instanceof Date);
});

test("an existing annotation: If-Match is its baseVersion, then the version the last save gave", async () => {
  const server = fakeServer();
  server.annotations.set(7, { ...feature("x"), id: 7, properties: { name: "x", version: 4 } });
  const { queue } = makeQueue(server);
  await queue.open();
  const u1 = queue.submit({ kind: "update", setId: 1, localId: "s1:7", annotationId: 7, baseVersion: 4, feature: feature("y") });
  const u2 = queue.submit({ kind: "update", setId: 1, localId: "s1:7", annotationId: 7, baseVersion: 4, feature: feature("z") });
  assert.deepEqual((await Promise.all([u1, u2])).map((r) => r.version), [5, 6]);
  assert.deepEqual(server.log.map((r) => r.headers["If-Match"]), ['"4"', '"5"']);
  assert.equal(server.annotations.get(7).properties.name, "z");
});

test("network errors and 5xx are retried with growing delays; a 503's Retry-After is honoured", async () => {
  const server = fakeServer();
  server.fail = ["network", 500, 502, 503, "network"];
  const { queue, sleeps } = makeQueue(server);
  const states = events(queue, "status");
  await queue.open();
  const r = await queue.submit({ kind: "create", setId: 1, localId: "L", feature: feature("a") });
  assert.equal(r.annotationId, 1);
  assert.equal(server.log.length, 6);
  assert.deepEqual(sleeps, [100, 200, 400, 800, 1600]);
  const offline = states.find((s) => s.state === "offline");
  assert.equal(offline.message, "offline: 1 change queued");
  assert.equal(server.annotations.size, 1);
  await queue.drained();
  assert.equal(queue.status().state, "saved");
});

test("Retry-After of a 503 sets the wait", async () => {
  const server = fakeServer();
  const realFetch = server.fetch;
  let first = true;
  const fetch = async (url, init) => {
    if (first) {
      first = false;
      return { ok: false, status: 503, headers: { get: (k) => (k === "Retry-After" ? "5" : null) }, json: async () => ({}) };
    }
    return realFetch(url, init);
  };
  const { queue, sleeps } = makeQueue(server, new MemoryStorage(), { fetch });
  await queue.open();
  await queue.submit({ kind: "create", setId: 1, localId: "L", feature: feature("a") });
  assert.deepEqual(sleeps, [5000]);
});

test("a lost answer is replayed with the same Idempotency-Key and applied once", async () => {
  const server = fakeServer();
  server.fail = ["lost"];
  const { queue } = makeQueue(server);
  await queue.open();
  const r = await queue.submit({ kind: "create", setId: 1, localId: "L", feature: feature("a") });
  assert.equal(server.log.length, 2);
  assert.equal(server.log[0].headers["Idempotency-Key"], server.log[1].headers["Idempotency-Key"]);
  assert.equal(server.annotations.size, 1);
  assert.equal(r.annotationId, 1);
});

test("a 4xx other than 412 fails the change (not retried); the queue goes on", async () => {
  const server = fakeServer();
  server.fail = [422];
  const { queue, sleeps } = makeQueue(server);
  const failed = events(queue, "failed");
  const dropped = events(queue, "dropped");
  await queue.open();
  const bad = queue.submit({ kind: "create", setId: 1, localId: "L1", feature: feature("bad") });
  const after = queue.submit({ kind: "update", setId: 1, localId: "L1", feature: feature("bad2") });
  const other = queue.submit({ kind: "create", setId: 1, localId: "L2", feature: feature("ok") });
  await assert.rejects(bad, /scripted 422/);
  await assert.rejects(after, /dropped/);
  assert.equal((await other).annotationId, 1);
  assert.deepEqual(failed.map((f) => [f.status, f.message]), [[422, "scripted 422"]]);
  assert.deepEqual(dropped.map((d) => d.change.localId), ["L1"]);
  assert.deepEqual(sleeps, []);
  assert.equal(server.log.length, 2);
});

test("an error stays in the status until a later save succeeds", async () => {
  const server = fakeServer();
  server.fail = [400];
  const { queue } = makeQueue(server);
  await queue.open();
  await queue.submit({ kind: "create", setId: 1, localId: "L1", feature: feature("x") }).catch(() => {});
  await queue.drained();
  assert.deepEqual([queue.status().state, queue.status().message], ["error", "error: scripted 400"]);
  await queue.submit({ kind: "create", setId: 1, localId: "L2", feature: feature("y") });
  await queue.drained();
  assert.equal(queue.status().state, "saved");
});

async function conflictOn(choice) {
  const server = fakeServer();
  server.annotations.set(5, { ...feature("theirs"), id: 5, properties: { name: "theirs", version: 3 } });
  const { queue } = makeQueue(server);
  const conflicts = events(queue, "conflict");
  await queue.open();
  const mine = queue.submit({ kind: "update", setId: 1, localId: "s1:5", annotationId: 5, baseVersion: 2, feature: feature("mine") });
  const later = queue.submit({ kind: "update", setId: 1, localId: "s1:5", annotationId: 5, baseVersion: 2, feature: feature("mine2") });
  const other = queue.submit({ kind: "create", setId: 1, localId: "N", feature: feature("other") });
  await queue.drained();
  assert.equal(queue.status().state, "conflict");
  assert.equal(queue.status().pending, 3);
  assert.equal(conflicts.length, 1);
  assert.equal(conflicts[0].theirs.properties.name, "theirs");
  assert.equal(conflicts[0].mine.properties.name, "mine");
  assert.equal(server.log.length, 1, "the queue waits while the conflict is open");
  await queue.resolveConflict(conflicts[0].change.id, choice);
  const settled = await Promise.allSettled([mine, later, other]);
  await queue.drained();
  assert.equal(queue.status().state, "saved");
  return { server, settled };
}

test("412 -> conflict; 'mine' resends over the server's version", async () => {
  const { server, settled } = await conflictOn("mine");
  assert.deepEqual(settled.map((s) => s.value.version), [4, 5, 1]);
  assert.equal(server.annotations.get(5).properties.name, "mine2");
  assert.deepEqual(server.log.slice(1, 3).map((r) => r.headers["If-Match"]), ['"3"', '"4"']);
});

test("412 -> conflict; 'theirs' drops mine and the later changes of that annotation", async () => {
  const { server, settled } = await conflictOn("theirs");
  assert.deepEqual(settled.map((s) => s.status), ["rejected", "rejected", "fulfilled"]);
  assert.equal(server.annotations.get(5).properties.name, "theirs");
  assert.equal(server.annotations.get(5).properties.version, 3);
  assert.equal(server.log.length, 2);
});

test("412 -> conflict; 'both' keeps theirs and saves mine as a new annotation", async () => {
  const { server, settled } = await conflictOn("both");
  assert.deepEqual(settled.map((s) => [s.value.annotationId, s.value.version]), [[1, 1], [1, 2], [2, 1]]);
  assert.equal(server.annotations.get(5).properties.name, "theirs");
  assert.equal(server.annotations.get(1).properties.name, "mine2");
  assert.equal(server.log[1].method, "POST");
});

test("stored changes survive the queue: a new queue replays them once, in order", async () => {
  const server = fakeServer();
  const storage = new MemoryStorage({ durable: true }); // as IndexedDB
  server.fail = ["network"];
  const first = makeQueue(server, storage, { sleep: () => new Promise(() => {}) }); // the tab closes while waiting
  await first.queue.open();
  first.queue.submit({ kind: "create", setId: 1, localId: "L1", feature: feature("a") });
  first.queue.submit({ kind: "update", setId: 1, localId: "L1", feature: feature("b") });
  first.queue.submit({ kind: "create", setId: 1, localId: "L2", feature: feature("c") });
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(first.queue.status().state, "offline");
  assert.equal(first.queue.status().message, "offline: 3 changes queued");
  assert.equal(first.queue.hasUnstored(), false);
  first.queue.close();
  assert.equal((await storage.list("a.tif")).length, 3);
  assert.deepEqual(await storage.list("other.tif"), []);

  const second = makeQueue(server, storage);
  const confirmed = events(second.queue, "confirmed");
  await second.queue.open();
  await second.queue.drained();
  assert.deepEqual(confirmed.map((c) => [c.change.localId, c.change.kind, c.annotationId, c.version]),
    [["L1", "create", 1, 1], ["L1", "update", 1, 2], ["L2", "create", 2, 1]]);
  assert.deepEqual(await storage.list("a.tif"), []);
  assert.equal(server.annotations.get(1).properties.name, "b");
});

test("a create confirmed just before the tab closed: its later change knows the id from storage", async () => {
  const server = fakeServer();
  const storage = new MemoryStorage();
  server.fail = [undefined, "network"];
  const first = makeQueue(server, storage, { sleep: () => new Promise(() => {}) });
  await first.queue.open();
  const created = first.queue.submit({ kind: "create", setId: 1, localId: "L1", feature: feature("a") });
  first.queue.submit({ kind: "update", setId: 1, localId: "L1", feature: feature("b") });
  await created;
  await new Promise((r) => setTimeout(r, 10));
  first.queue.close();
  const [left] = await storage.list("a.tif");
  assert.deepEqual([left.change.annotationId, left.change.baseVersion], [1, 1]);
  const second = makeQueue(server, storage);
  await second.queue.open();
  await second.queue.drained();
  assert.equal(server.annotations.get(1).properties.name, "b");
  assert.equal(server.annotations.size, 1);
});

test("a change is put in storage first, sent while it is written, reported saved only once stored", async () => {
  const server = fakeServer();
  const memory = new MemoryStorage();
  let release;
  const written = new Promise((resolve) => { release = resolve; });
  const order = [];
  // a put that takes its time (IndexedDB on a busy page): made at once, written when released
  const storage = {
    put: (record) => { order.push(`put ${record.id}`); return written.then(() => memory.put(record)); },
    delete: (id) => memory.delete(id),
    list: (slideId) => memory.list(slideId),
  };
  const fetch = async (url, init) => {
    order.push(`send ${init.headers["Idempotency-Key"]}`);
    return server.fetch(url, init);
  };
  const { queue } = makeQueue(server, storage, { fetch });
  const confirmed = events(queue, "confirmed");
  await queue.open();
  const id = "11111111-2222-3333-4444-555555555555";
  const saved = queue.submit({ id, kind: "create", setId: 1, localId: "L", feature: feature("a") });
  const second = queue.submit({ id: "22222222-2222-3333-4444-555555555555", kind: "update", setId: 1, localId: "L",
    feature: feature("b") });
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(order, [`put ${id}`, `send ${id}`, "put 22222222-2222-3333-4444-555555555555"],
    "the first is sent before its put is written; the second waits for the first");
  assert.equal(server.annotations.size, 1, "the server has it");
  assert.equal(confirmed.length, 0, "not reported saved while not stored");
  assert.equal(queue.status().state, "saving");
  assert.equal(queue.hasUnstored(), true);
  release();
  await saved;
  await second;
  await queue.drained();
  assert.equal(confirmed.length, 2);
  assert.equal(queue.status().state, "saved");
  assert.deepEqual(await memory.list("a.tif"), [], "confirmed records deleted after they were written");
  assert.equal(server.log[0].headers["Idempotency-Key"], id);
});

test("a delete of an annotation already gone counts as done; a bad change is refused at once", async () => {
  const server = fakeServer();
  const { queue } = makeQueue(server);
  await queue.open();
  const r = await queue.submit({ kind: "delete", setId: 1, localId: "s1:9", annotationId: 9, baseVersion: 1 });
  assert.equal(r.annotationId, 9);
  assert.throws(() => normaliseChange({ kind: "move", setId: 1 }), /unknown change kind/);
  assert.throws(() => normaliseChange({ kind: "create", setId: 1 }), /needs its feature/);
});

test("backoff doubles from 0.5 s to at most 30 s, with jitter within 15 %", () => {
  assert.equal(backoffDelay(1, () => 0.5), 500);
  assert.equal(backoffDelay(2, () => 0.5), 1000);
  assert.equal(backoffDelay(20, () => 0.5), 30000);
  assert.equal(backoffDelay(1, () => 0), 425);
  assert.equal(backoffDelay(1, () => 1), 575);
});

test("If-Match is the newer of the version a confirmed change gave and the one the change was made over", async () => {
  const server = fakeServer();
  server.annotations.set(7, { ...feature("x"), id: 7, properties: { name: "x", version: 4 } });
  const { queue } = makeQueue(server);
  await queue.open();
  await queue.submit({ kind: "update", setId: 1, localId: "s1:7", annotationId: 7, baseVersion: 4, feature: feature("y") });
  // someone else saved it meanwhile (version 9) and the editor loaded that one before this change
  server.annotations.set(7, { ...feature("z"), id: 7, properties: { name: "z", version: 9 } });
  const r = await queue.submit({ kind: "update", setId: 1, localId: "s1:7", annotationId: 7, baseVersion: 9, feature: feature("w") });
  assert.equal(r.version, 10);
  assert.deepEqual(server.log.map((x) => x.headers["If-Match"]), ['"4"', '"9"']);
});

// navigator.locks as far as the queue uses it: request(name, callback) holds name until the
// callback's promise settles; query() lists what is held.
function fakeLocks() {
  const held = new Set();
  return {
    held,
    async request(name, callback) {
      held.add(name);
      try {
        return await callback({ name });
      } finally {
        held.delete(name);
      }
    },
    async query() {
      return { held: [...held].map((name) => ({ name })) };
    },
  };
}

test("changes another open tab stored are left to it; once it is closed, the next tab sends them", async () => {
  const server = fakeServer();
  const storage = new MemoryStorage();
  const locks = fakeLocks();
  server.fail = ["network"];
  const a = makeQueue(server, storage, { locks, sleep: () => new Promise(() => {}) });
  await a.queue.open();
  a.queue.submit({ kind: "create", setId: 1, localId: "A1", feature: feature("from a") });
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(a.queue.status().state, "offline");
  const b = makeQueue(server, storage, { locks });
  await b.queue.open(); // tab A is still open: its change is not B's to send
  await b.queue.drained();
  assert.equal(b.queue.status().pending, 0);
  assert.equal(server.annotations.size, 0);
  a.queue.close(); // tab A closed (its lock goes with it)
  await new Promise((r) => setTimeout(r, 0));
  const c = makeQueue(server, storage, { locks });
  const confirmed = events(c.queue, "confirmed");
  await c.queue.open();
  await c.queue.drained();
  assert.deepEqual(confirmed.map((x) => x.change.localId), ["A1"]);
  assert.equal(server.annotations.size, 1);
  assert.deepEqual(await storage.list("a.tif"), []);
  b.queue.close();
  c.queue.close();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(locks.held.size, 0);
});

test("with a storage that keeps nothing (IndexedDB refused), every pending change counts as unstored", async () => {
  const server = fakeServer();
  server.fail = ["network"];
  const memory = new MemoryStorage(); // durable = false, as openPersist's fallback
  const { queue } = makeQueue(server, memory, { sleep: () => new Promise(() => {}) });
  await queue.open();
  assert.equal(queue.hasUnstored(), false);
  queue.submit({ kind: "create", setId: 1, localId: "L", feature: feature("a") });
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(queue.hasUnstored(), true);
  queue.close();
});
