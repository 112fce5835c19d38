// The editor's saving: every write goes through one queue per slide. A change is put in storage
// (IndexedDB through persist.js; MemoryStorage in node tests) first, sent in the order submitted,
// one at a time (its request goes while the put is still being written: the wait cost edit -> saved
// time; it is reported saved, and the next change sent, only once it is stored as well as
// confirmed), and deleted from storage only once the server confirmed it, so a crash, a closed tab
// or a server gone away loses nothing: open() replays what is left (a change sent but not yet
// stored when the tab died either reached the server or was never reported saved, and the page's
// beforeunload asks hasUnstored()). Every change carries its id as the Idempotency-Key header,
// so a replay after a lost answer is applied once (the server answers the stored answer).
//
//   const queue = new SaveQueue({slideId, storage, fetch, now});
//   await queue.open();                   // replays this slide's stored, unconfirmed changes
//   queue.submit(change) -> Promise<{annotationId, version, feature}>   (rejects on "failed"/dropped)
//   queue.status() -> {state, pending, savedAt, message}
//   queue.resolveConflict(changeId, "mine" | "theirs" | "both")
//   queue.retryNow()                       // e.g. on the window's "online" event
//   queue.close()
// Stored records: {id, slideId, session, seq, change}; a record whose session is a queue still alive
// in another tab (navigator.locks) is left to that tab, the others are adopted by open().
// change = {id, kind: "create"|"update"|"delete", setId, localId, annotationId|null,
//           baseVersion|null, feature|null, createdAt}
// events (CustomEvent, detail): "status" status(); "confirmed" {change, annotationId, version,
//   feature}; "conflict" {change, mine, theirs}; "resolved" {change, choice, theirs};
//   "failed" {change, status, message}; "dropped" {change, reason} (a change that cannot be sent
//   any more: its create failed, or "theirs" was taken).
//
// DOM-free: runs in node (tests/js/save-queue.test.mjs) as in the page.

import { authorHeaders, cleanAuthor, withAuthor } from "../author.js";

const RETRY_STATUSES = new Set([408, 425, 429, 500, 502, 503, 504]);
const LOCK_PREFIX = "wsi-viewer-queue:";

/** Delay before the n-th retry (n = 1, 2, ...): 0.5 s doubling to 30 s, with a little jitter. */
export function backoffDelay(n, random = Math.random) {
  const base = Math.min(30000, 500 * 2 ** Math.max(0, n - 1));
  return Math.round(base * (0.85 + 0.3 * random()));
}

/** A storage with persist.js's interface, in memory (tests; a page where IndexedDB is refused). */
export class MemoryStorage {
  /** @param {{durable?: boolean}} [o] durable: stands for a store that outlives the page (tests) */
  constructor({ durable = false } = {}) {
    this.records = new Map();
    this.durable = durable;
  }
  async put(record) {
    this.records.set(record.id, structuredClone(record));
  }
  async delete(id) {
    this.records.delete(id);
  }
  async list(slideId) {
    return [...this.records.values()]
      .filter((r) => r.slideId === slideId)
      .sort((a, b) => a.seq - b.seq)
      .map((r) => structuredClone(r));
  }
}

function uuid() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  return `${Date.now().toString(16)}-${Math.random().toString(16).slice(2)}`;
}

function versionOf(response, body) {
  const tag = response.headers?.get?.("ETag");
  const m = tag && /^"(\d+)"$/.exec(tag);
  if (m) return Number(m[1]);
  const v = body?.annotation?.properties?.version;
  return typeof v === "number" ? v : null;
}

async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

/** The change with the fields the queue relies on filled in (a copy; the caller's stays as it is). */
export function normaliseChange(change, now = () => new Date()) {
  const kind = change.kind;
  if (!["create", "update", "delete"].includes(kind)) throw new TypeError(`unknown change kind ${kind}`);
  if (change.setId == null) throw new TypeError("a change needs its setId");
  if (kind !== "delete" && !change.feature) throw new TypeError(`a ${kind} needs its feature`);
  return {
    id: change.id || uuid(),
    kind,
    setId: change.setId,
    localId: change.localId ?? uuid(),
    annotationId: change.annotationId ?? null,
    baseVersion: change.baseVersion ?? null,
    feature: change.feature ?? null,
    createdAt: change.createdAt ?? now().toISOString(),
    // who made it, fixed when it was made (a change replayed after a closed tab keeps its author)
    author: cleanAuthor(change.author ?? ""),
  };
}

export class SaveQueue extends EventTarget {
  /**
   * @param {object} o
   * @param {string} o.slideId
   * @param {{put, delete, list}} o.storage   persist.js's openPersist(...) or a MemoryStorage
   * @param {typeof fetch} [o.fetch]
   * @param {() => Date} [o.now]
   * @param {(ms: number) => Promise<void>} [o.sleep]   waits between retries (tests pass their own)
   * @param {(n: number) => number} [o.backoff]         delay before the n-th retry
   * @param {string} [o.apiBase]                         prefix of /api/... (default "")
   * @param {Record<string, string>} [o.headers]        extra headers of every write
   * @param {() => string} [o.author]  the author of a change submitted now (author.js's authorName):
   *   sent as the body's `user` (and `X-User` when Latin-1), so the history names who made it
   * @param {LockManager|null} [o.locks]  navigator.locks: a change stored by another tab still open
   *   is left to that tab (each queue holds a lock named after its session while it lives)
   */
  constructor({ slideId, storage, fetch: fetchFn, now, sleep, backoff, apiBase = "", headers = {}, author,
    locks = globalThis.navigator?.locks ?? null }) {
    super();
    this.slideId = slideId;
    this.session = uuid();
    this.locks = locks;
    this.storage = storage;
    this.fetch = fetchFn || ((...a) => globalThis.fetch(...a));
    this.now = now || (() => new Date());
    this.sleep = sleep || ((ms) => new Promise((resolve) => {
      this._wake = resolve;
      this._timer = setTimeout(resolve, ms);
    }));
    this.backoff = backoff || backoffDelay;
    this.apiBase = apiBase;
    this.headers = headers;
    this.author = author || (() => "");
    this.writing = Promise.resolve(); // confirmed changes' clean-up writes still on their way
    this.items = []; // [{record, resolve, reject}] in order
    this.known = new Map(); // localId -> {annotationId, version} from confirmed changes
    this.state = "idle";
    this.savedAt = null;
    this.message = "";
    this.failures = 0;
    this.conflict = null; // {item, theirs}
    this.seq = 0;
    this.running = false;
    this.closed = false;
    this.idle = Promise.resolve();
  }

  /** Load this slide's stored, unconfirmed changes (a crash, a closed tab) and start sending them. */
  async open() {
    const live = await this._liveSessions();
    const records = await this.storage.list(this.slideId);
    for (const record of records) {
      this.seq = Math.max(this.seq, record.seq);
      if (record.session && live.has(record.session)) continue; // its tab is open: it sends it
      if (record.session !== this.session) {
        record.session = this.session; // adopted: another tab opening now leaves it to this one
        await this.storage.put(record);
      }
      this.items.push(this._item(record));
    }
    this._emitStatus();
    this._kick();
  }

  /** The sessions of queues alive in this browser (their locks), after taking this one's. */
  async _liveSessions() {
    if (!this.locks) return new Set();
    await new Promise((held) => {
      this.locks.request(`${LOCK_PREFIX}${this.session}`, () => {
        held();
        return new Promise((release) => { this._releaseLock = release; });
      }).catch(() => held());
    });
    const state = await this.locks.query().catch(() => ({ held: [] }));
    return new Set((state.held ?? []).map((l) => l.name)
      .filter((name) => name?.startsWith(LOCK_PREFIX) && name !== `${LOCK_PREFIX}${this.session}`)
      .map((name) => name.slice(LOCK_PREFIX.length)));
  }

  /** Stop sending (what is stored stays stored). */
  close() {
    this._releaseLock?.();
    this.closed = true;
    clearTimeout(this._timer);
    this._wake?.();
  }

  /** Stored first, then sent in order; resolves with what the server made of it. */
  submit(change) {
    // seq: this tab's order, and roughly the time order across tabs
    this.seq = Math.max(this.seq + 1, this.now().getTime());
    const record = { id: "", slideId: this.slideId, session: this.session, seq: this.seq,
      change: normaliseChange({ ...change, author: change.author ?? this.author() }, this.now) };
    record.id = record.change.id;
    const item = this._item(record, this.storage.put(record));
    this.items.push(item);
    this._emitStatus();
    this._kick(); // sent while it is being stored (see the header)
    item.stored.then(() => this._kick(), (err) => {
      // Not storable (quota, private mode): still sent, but a closed tab would lose it.
      item.storeError = err;
      this._kick();
    });
    return item.promise;
  }

  /** True while some change exists only in memory (the page's beforeunload asks this). */
  hasUnstored() {
    if (this.storage.durable === false) return this.items.length > 0; // kept in memory only
    return this.items.some((i) => !i.storedDone);
  }

  status() {
    const message = this.state === "offline" ? `offline: ${this._queuedText()}` : this.message;
    return { state: this.state, pending: this.items.length, savedAt: this.savedAt, message };
  }

  /** Retry at once (the browser says it is online again). */
  retryNow() {
    this.failures = 0;
    clearTimeout(this._timer);
    this._wake?.();
    this._kick();
  }

  /**
   * Settle the conflict on change *changeId*: "mine" resends it over the server's version,
   * "theirs" drops it (and the later changes of that annotation), "both" saves mine as a new
   * annotation and leaves the server's as it is.
   */
  async resolveConflict(changeId, choice) {
    const c = this.conflict;
    if (!c || c.item.record.id !== changeId) throw new Error(`no conflict on change ${changeId}`);
    if (!["mine", "theirs", "both"].includes(choice)) throw new TypeError(`unknown choice ${choice}`);
    const { item, theirs } = c;
    const change = item.record.change;
    const theirVersion = theirs?.properties?.version ?? null;
    if (choice === "both" && change.kind === "delete") choice = "theirs"; // nothing of mine to keep
    if (choice === "mine" && change.kind !== "create" && theirs == null) choice = "both"; // gone there: recreate
    if (choice === "theirs") {
      const localId = change.localId;
      const dropped = this.items.filter((i) => i.record.change.localId === localId);
      if (theirs?.id != null) this.known.set(localId, { annotationId: theirs.id, version: theirVersion });
      for (const i of dropped) await this._remove(i, null, { reason: "theirs" });
    } else if (choice === "mine") {
      change.baseVersion = theirVersion;
      this.known.set(change.localId, { annotationId: change.annotationId, version: theirVersion });
      await this._rekey(item);
    } else {
      const oldId = change.annotationId;
      change.kind = "create";
      change.annotationId = null;
      change.baseVersion = null;
      this.known.delete(change.localId);
      for (const i of this.items) {
        const later = i.record.change;
        if (i !== item && later.localId === change.localId && later.annotationId === oldId) {
          later.annotationId = null;
          later.baseVersion = null;
          await this.storage.put(i.record);
        }
      }
      await this._rekey(item);
    }
    this.conflict = null;
    this._set("saving", "");
    this._emit("resolved", { change, choice, theirs });
    this._kick();
  }

  // ------------------------------------------------------------------------------------------------

  /** A new request of a change the server refused (412): a new Idempotency-Key, stored under it. */
  async _rekey(item) {
    const oldKey = item.record.id;
    item.record.id = item.record.change.id = uuid();
    await this.storage.put(item.record);
    await this.storage.delete(oldKey);
  }

  _item(record, stored = null) {
    const item = { record, stored, storedDone: !stored };
    item.promise = new Promise((resolve, reject) => {
      item.resolve = resolve;
      item.reject = reject;
    });
    item.promise.catch(() => {}); // a caller that does not wait must not see an unhandled rejection
    if (stored) stored.then(() => { item.storedDone = true; }, () => {});
    return item;
  }

  _kick() {
    if (this.running || this.closed) return;
    this.running = true;
    this.idle = this._run().finally(() => {
      this.running = false;
    });
  }

  /** Resolves once nothing is left to send (or the queue waits on a conflict, or was closed). */
  async drained() {
    for (;;) {
      await this.writing;
      await Promise.all(this.items.map((i) => i.stored?.catch(() => {})));
      if (this.running) await this.idle;
      else if (this.closed || this.conflict || !this.items.length) return;
      else await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }

  async _run() {
    while (!this.closed && !this.conflict && this.items.length) {
      const item = this.items[0];
      const outcome = await this._send(item); // its put made first, maybe not yet written (header)
      if (outcome === "retry") {
        this.failures += 1;
        this._set("offline", "");
        await this.sleep(this.retryAfter ?? this.backoff(this.failures));
        this.retryAfter = null;
      }
    }
    if (!this.items.length && !this.conflict && this.state !== "error") {
      this._set(this.savedAt ? "saved" : "idle", "");
    }
  }

  _queuedText() {
    const n = this.items.length;
    return `${n} change${n === 1 ? "" : "s"} queued`;
  }

  _url(change, annotationId) {
    const base = `${this.apiBase}/api/sets/${encodeURIComponent(change.setId)}/annotations`;
    return change.kind === "create" ? base : `${base}/${encodeURIComponent(annotationId)}`;
  }

  /** Send the head of the queue: "done" (confirmed, failed or dropped) or "retry". */
  async _send(item) {
    const change = item.record.change;
    const known = this.known.get(change.localId);
    const annotationId = change.annotationId ?? known?.annotationId ?? null;
    if (change.kind !== "create" && annotationId == null) {
      // Its create is gone (failed, or "theirs" taken): nothing to update or delete.
      await this._remove(item, null, { reason: "no annotation" });
      return "done";
    }
    // versions only grow (the set version that last changed it): the newest one known is the one
    // the change was made over (a confirmed earlier change, or what the editor loaded since)
    const knownVersion = known && known.annotationId === annotationId ? known.version : null;
    const version = knownVersion == null ? change.baseVersion
      : change.baseVersion == null ? knownVersion : Math.max(knownVersion, change.baseVersion);
    const headers = {
      ...this.headers,
      ...authorHeaders(change.author),
      "X-Requested-With": "wsi-viewer",
      "Idempotency-Key": change.id,
    };
    if (change.kind !== "delete") headers["Content-Type"] = "application/json";
    if (change.kind !== "create" && version != null) headers["If-Match"] = `"${version}"`;
    let feature = change.feature;
    if (feature && change.kind === "create" && feature.id != null) {
      feature = { ...feature };
      delete feature.id; // a create names no id: the server gives one
    }
    if (this.state !== "offline") this._set("saving", "");
    let response;
    try {
      response = await this.fetch(this._url(change, annotationId), {
        method: { create: "POST", update: "PUT", delete: "DELETE" }[change.kind],
        headers,
        body: change.kind === "delete" ? undefined : JSON.stringify(withAuthor(feature, change.author)),
        credentials: "same-origin",
      });
    } catch {
      return "retry";
    }
    const body = await readJson(response);
    if (item.stored) await item.stored.catch(() => {}); // in storage before anything is reported
    if (response.ok || (response.status === 404 && change.kind === "delete")) {
      const v = response.ok ? versionOf(response, body) : null;
      const result = {
        annotationId: change.kind === "create" ? (body?.annotation?.id ?? null) : annotationId,
        version: v,
        feature: body?.annotation ?? null,
      };
      await this._confirm(item, result);
      return "done";
    }
    if (RETRY_STATUSES.has(response.status)) {
      const after = Number(response.headers?.get?.("Retry-After"));
      if (Number.isFinite(after) && after > 0) this.retryAfter = Math.min(after * 1000, 60000);
      return "retry";
    }
    if (response.status === 412 || (response.status === 404 && change.kind === "update")) {
      const theirs = response.status === 412 ? (body?.current ?? null) : null;
      this.conflict = { item, theirs };
      this.failures = 0;
      this._set("conflict", body?.error || "changed by someone else");
      this._emit("conflict", { change, mine: change.feature, theirs });
      return "done";
    }
    const message = body?.error || `HTTP ${response.status}`;
    this.failures = 0;
    this._emit("failed", { change, status: response.status, message, details: body?.details ?? [] });
    await this._remove(item, Object.assign(new Error(message), { status: response.status }));
    if (change.kind === "create") {
      // later changes of this never-created annotation cannot be sent either
      for (const i of this.items.filter((x) => x.record.change.localId === change.localId)) {
        if (i.record.change.annotationId == null) await this._remove(i, null, { reason: "create failed" });
      }
    }
    this._set("error", `error: ${message}`);
    return "done";
  }

  async _confirm(item, result) {
    const change = item.record.change;
    this.failures = 0;
    if (change.kind === "delete") this.known.delete(change.localId);
    else this.known.set(change.localId, { annotationId: result.annotationId, version: result.version });
    // Later changes of the same annotation learn its id and version durably before this one goes
    // (a crash in between replays this one: its Idempotency-Key gets the same answer).
    // The writes are queued, not awaited: IndexedDB runs read-write transactions of one store in
    // the order they were made, so the later changes' ids are stored before this record goes, and
    // the user sees "saved" once the server said so (waiting for the delete cost ~150 ms p95 with
    // a 10^6-vertex layer busy). A delete lost to a crash replays this change: same answer.
    const writes = [];
    for (const i of this.items) {
      const later = i.record.change;
      if (i === item || later.localId !== change.localId || change.kind === "delete") continue;
      if (later.annotationId == null || later.annotationId === result.annotationId) {
        later.annotationId = result.annotationId;
        later.baseVersion = result.version;
        writes.push(this.storage.put(i.record));
      }
    }
    writes.push(this.storage.delete(item.record.id));
    this.writing = Promise.all([this.writing, ...writes]).catch(() => {});
    this.items.splice(this.items.indexOf(item), 1);
    this.savedAt = this.now();
    if (this.state === "error" || this.state === "offline") this.state = "saving";
    this._emit("confirmed", { change, ...result });
    item.resolve(result);
    this._set(this.items.length ? "saving" : "saved", "");
  }

  async _remove(item, error, dropped) {
    await this.storage.delete(item.record.id);
    const at = this.items.indexOf(item);
    if (at >= 0) this.items.splice(at, 1);
    if (dropped) this._emit("dropped", { change: item.record.change, reason: dropped.reason });
    item.reject(error || Object.assign(new Error(`dropped: ${dropped?.reason}`), { dropped: true }));
  }

  _set(state, message) {
    this.state = state;
    this.message = message;
    this._emitStatus();
  }

  _emitStatus() {
    this._emit("status", this.status());
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
