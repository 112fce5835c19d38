// Where the save queue keeps its changes until the server confirmed them: one IndexedDB object store
// (through the vendored idb 8), the records of every slide, each {id, slideId, session, seq, change}. A change
// is written here before it is sent, so a closed tab, a crash or a server gone away loses nothing.
//
//   const storage = await openPersist("wsi-viewer-edits");
//   await storage.put(record); await storage.delete(id); await storage.list(slideId)  // seq order
//   storage.durable   // false when IndexedDB is refused (private mode...): kept in memory only
//
// The same interface as save-queue.js's MemoryStorage (node tests use that one).

import { openDB } from "../../vendor/idb-8.0.4/idb.js";
import { MemoryStorage } from "./save-queue.js";

const STORE = "changes";

class IdbStorage {
  constructor(db) {
    this.db = db;
    this.durable = true;
  }
  async put(record) {
    await this.db.put(STORE, record);
  }
  async delete(id) {
    // relaxed: a confirmed change's record lost to a power cut is replayed, and the server answers
    // its Idempotency-Key with what it did the first time (puts keep the browser's default)
    const tx = this.db.transaction(STORE, "readwrite", { durability: "relaxed" });
    await Promise.all([tx.store.delete(id), tx.done]);
  }
  async list(slideId) {
    const range = IDBKeyRange.bound([slideId, -Infinity], [slideId, Infinity]);
    return this.db.getAllFromIndex(STORE, "slide-seq", range);
  }
  close() {
    this.db.close();
  }
}

/** The changes store of database *name*; a memory store (durable = false) when IndexedDB is refused. */
export async function openPersist(name = "wsi-viewer-edits") {
  try {
    const db = await openDB(name, 1, {
      upgrade(database) {
        const store = database.createObjectStore(STORE, { keyPath: "id" });
        store.createIndex("slide-seq", ["slideId", "seq"]);
      },
      blocking() {
        db.close(); // a newer page wants to upgrade: let it
      },
    });
    // Ask the browser not to evict the store under storage pressure (best effort, may be refused).
    globalThis.navigator?.storage?.persist?.().catch(() => {});
    return new IdbStorage(db);
  } catch (err) {
    const memory = new MemoryStorage();
    memory.error = String(err?.message || err);
    return memory;
  }
}
