/**
 * The editor's undo stack (pure): records of {op, inverse, label}, bounded by an estimate of their
 * size in bytes (the oldest records go first). Ops are diffs (a moved vertex costs ~100 bytes);
 * only whole replacements (set-coordinates, a delete's inverse create) hold whole geometries; a
 * brush stroke is a `splice` of the changed run.
 */

/**
 * Estimated bytes an op holds (coordinates dominate: 2 doubles a point plus array overhead).
 * @param {object} op
 * @returns {number}
 */
export function opBytes(op) {
  const base = 96;
  switch (op.kind) {
    case "create":
      return base + 256 + op.entry.points.length * 48;
    case "set-coordinates":
      return base + op.coordinates.length * 48;
    case "splice":
      return base + op.insert.length * 48;
    case "translate":
      return base + op.localIds.length * 48;
    case "set-properties":
      return base + JSON.stringify(op.properties).length * 2;
    default:
      return base;
  }
}

export class UndoStack extends EventTarget {
  /** @param {{maxBytes?: number}} [options] */
  constructor({ maxBytes = 32 * 1024 * 1024 } = {}) {
    super();
    this.maxBytes = maxBytes;
    this.done = [];
    this.undone = [];
    this.bytes = 0;
  }

  #size(record) {
    return record.ops.reduce((n, r) => n + opBytes(r.op) + opBytes(r.inverse), 0);
  }

  /**
   * Record one user action: one or more ops applied in order, with their inverses.
   * @param {{ops: {op: object, inverse: object}[], label?: string}} record
   */
  push(record) {
    const rec = { ...record, bytes: 0 };
    rec.bytes = this.#size(rec);
    this.done.push(rec);
    this.bytes += rec.bytes;
    for (const r of this.undone) {
      this.bytes -= r.bytes;
    }
    this.undone = [];
    this.#trim();
    this.#changed();
  }

  #trim() {
    // the newest record always stays, even alone over the cap
    while (this.bytes > this.maxBytes && this.done.length + this.undone.length > 1) {
      const old = this.done.length > 1 ? this.done.shift() : this.undone.shift();
      this.bytes -= old.bytes;
    }
  }

  /** @returns {boolean} */
  canUndo() {
    return this.done.length > 0;
  }

  /** @returns {boolean} */
  canRedo() {
    return this.undone.length > 0;
  }

  /**
   * The record to undo (its ops' inverses are to be applied in reverse order), moved to redo.
   * @returns {object|null}
   */
  undo() {
    return this.#move(this.done, this.undone);
  }

  /** @returns {object|null} the record to redo (its ops applied in order), moved back to undo */
  redo() {
    return this.#move(this.undone, this.done);
  }

  #move(from, to) {
    const rec = from.pop() ?? null;
    if (rec) {
      to.push(rec);
      this.#changed();
    }
    return rec;
  }

  /**
   * After redoing a record whose ops had to be applied again, its inverses are the new ones.
   * @param {object} rec
   * @param {{op: object, inverse: object}[]} ops
   */
  replace(rec, ops) {
    this.bytes -= rec.bytes;
    rec.ops = ops;
    rec.bytes = this.#size(rec);
    this.bytes += rec.bytes;
    this.#trim();
  }

  /** Forget a record (one that no longer applies), wherever it is. */
  drop(rec) {
    for (const side of [this.done, this.undone]) {
      const i = side.indexOf(rec);
      if (i >= 0) {
        side.splice(i, 1);
        this.bytes -= rec.bytes;
        this.#changed();
        return;
      }
    }
  }

  #changed() {
    this.dispatchEvent(new CustomEvent("change", { detail: { undo: this.done.length, redo: this.undone.length, bytes: this.bytes } }));
  }
}
