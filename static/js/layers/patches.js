/**
 * The editor's own writes drawn from the server's answer (`layer.applySaved`) instead of reloading
 * the layer's tiles: with a 10^6-vertex set a reload after each save refetched and rebuilt every
 * visible tile and held the page's main thread while the next edit waited (edit -> "saved" p95
 * 309 ms, `benchmarks/editor.py`).
 *
 * A patch is the saved annotation built alone (exact geometry) by the layer's Worker under a slot
 * of its own (a new one each time), drawn over the tiles; the copies the tiles hold of it (stale
 * ones in tiles fetched before, the same state in tiles fetched after) are hidden by their slot,
 * so it is drawn once. A delete only hides the tiles' copy. The layer's version moves to the
 * write's version only when that is the one next to it (versions of a set grow by one a change):
 * then nothing else changed the set in between and every tile still drawn is right apart from the
 * patched annotations; otherwise (another client wrote meanwhile, a replayed answer) the caller
 * reloads as before, and the conditional GET of `checkForChanges` (If-None-Match: the version)
 * still finds a later change by anyone else. A reload (a change by another client) drops every
 * patch: the tiles then hold the saved state themselves.
 */

import { FLAG_HIDDEN, FLAG_HOVERED, FLAG_SELECTED } from "./gl-renderer.js";
import Flatbush from "./flatbush.js";
import { invertAffine, rebase } from "./view.js";

const EVERYWHERE = Object.freeze({ x0: -Infinity, y0: -Infinity, x1: Infinity, y1: Infinity });
const FAR = 1e7; // a clip rectangle holding any slide (relative slide px; slides are < 10^6 px)
/** After the last patch, when the layer says its data changed (the panels' lists refetch the set's
 * summary, which costs the server ~0.5 s per version of a 10^6-vertex set): once for a burst. */
export const PATCH_NOTICE_MS = 1000;

/** [x0, y0, x1, y1] of every coordinate pair of a GeoJSON geometry (null when it has none). */
export function geometryBox(geometry) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  const walk = (c) => {
    if (!Array.isArray(c)) {
      return;
    }
    if (typeof c[0] === "number") {
      if (Number.isFinite(c[0]) && Number.isFinite(c[1])) {
        x0 = Math.min(x0, c[0]); y0 = Math.min(y0, c[1]); x1 = Math.max(x1, c[0]); y1 = Math.max(y1, c[1]);
      }
      return;
    }
    c.forEach(walk);
  };
  walk(geometry?.coordinates);
  return x0 <= x1 ? [x0, y0, x1, y1] : null;
}

/**
 * Whether a write answered at `version` can be patched into a layer drawing `drawn`: the same
 * version (nothing changed) or the next one (only this write changed the set).
 * @param {number|null} drawn the layer's version
 * @param {number|null|undefined} version the write's
 * @returns {boolean}
 */
export function patchable(drawn, version) {
  return drawn !== null && Number.isInteger(version) && (version === drawn || version === drawn + 1);
}

export class LayerPatches {
  /** @param {import("./annotation-layer.js").AnnotationLayer} layer */
  constructor(layer) {
    this.layer = layer;
    /** @type {Map<number|string, {id, key: string|null, deleted: boolean,
     *   tile: object|null, meta: object|null, tileMeta: object|null}>} */
    this.byId = new Map();
    this.byKey = new Map(); // worker key -> id
    this.serial = 0;
    this.noticeTimer = 0;
  }

  /** Whether an annotation is drawn by a patch (or deleted by one): the tiles' copy is hidden. */
  has(id) { return this.byId.has(id); }

  /**
   * Draw a write's answer. @returns {boolean} whether it was taken (false: reload instead)
   * @param {{kind: string, annotationId: number|null, version: number|null, feature: object|null}} saved
   */
  apply({ kind, annotationId, version, feature }) {
    const layer = this.layer;
    const box = kind === "delete" ? null : geometryBox(feature?.geometry);
    if (!layer.worker || annotationId === null || annotationId === undefined || !patchable(layer.version, version) ||
        (kind !== "delete" && !box)) {
      return false;
    }
    layer.version = version;
    const p = this.byId.get(annotationId) ?? { id: annotationId, key: null, tile: null, meta: null, tileMeta: null };
    this.byId.set(annotationId, p);
    p.deleted = kind === "delete";
    if (p.key) {
      this.byKey.delete(p.key); // a patch still being built is no longer wanted
      p.key = null;
    }
    if (kind === "delete") {
      this.#supersede(p, layer.byId.get(annotationId));
      this.#drop(p);
      this.#retire(p);
      layer.byId.delete(annotationId);
      this.#invalidate(annotationId);
      this.#notice();
      return true;
    }
    p.key = `patch/${++this.serial}`;
    this.byKey.set(p.key, annotationId);
    const [x0, y0, x1, y1] = box;
    const margin = Math.max(x1 - x0, y1 - y0) + 1; // a spline's curve may leave its points' box
    layer.worker.postMessage({
      type: "build", key: p.key, rect: { x0, y0, x1, y1 }, margin, tolerance: 0,
      body: { version, features: [{ ...feature, id: `~${annotationId}` }] },
    });
    return true;
  }

  /** Whether a Worker message is a patch's batch. */
  owns(key) { return typeof key === "string" && key.startsWith("patch/"); }

  /**
   * A patch's batch from the Worker (its styles already taken by the layer): draw it instead of
   * the tiles' copy. @returns {object|null} the annotation's metadata (null: no longer wanted)
   */
  arrived(message) {
    const layer = this.layer;
    const id = this.byKey.get(message.key);
    this.byKey.delete(message.key);
    const p = id === undefined ? null : this.byId.get(id);
    const meta = message.annotations[0];
    if (!p || p.key !== message.key || !meta) {
      return null; // a newer patch of it is on its way, or the layer was reloaded
    }
    const { batch } = message;
    const handle = layer.renderer.upload(batch);
    if (layer.stage.mode === "webgl2") {
      batch.tris = batch.segs = batch.segSlot = batch.dots = batch.dotSlot = batch.vertSlot = null;
    }
    this.#supersede(p, layer.byId.get(id));
    this.#drop(p);
    p.tile = { key: message.key, lod: -1, rect: EVERYWHERE, batch, handle, used: 0,
      index: batch.index ? Flatbush.from(batch.index) : null };
    this.#retire(p);
    meta.id = id;
    meta.patched = true;
    meta.generation = layer.generation;
    meta.setId = layer.setId;
    layer.table.ensureSlots(meta.slot + 1);
    layer.table.setSlotStyle(meta.slot, meta.style);
    this.#flags(meta.slot, id);
    layer.slots[meta.slot] = meta;
    layer.byId.set(id, meta);
    p.meta = meta;
    this.#invalidate(id);
    this.#notice();
    return meta;
  }

  /**
   * A tile's metadata of an annotation: false when a patch draws it (its copy hidden), so the
   * layer keeps the patch's metadata.
   */
  claims(meta) {
    const p = this.byId.get(meta.id);
    if (!p) {
      return false;
    }
    this.#supersede(p, meta);
    return true;
  }

  /** The draws of the patches, on top of the tiles' (same shape as the layer's). */
  draws(frame) {
    const out = [];
    for (const p of this.byId.values()) {
      if (!p.tile) {
        continue;
      }
      p.tile.used = frame.time;
      const toDevice = rebase(frame.slideToDevice, p.tile.batch.origin);
      out.push({ tile: p.tile, handle: p.tile.handle, toDevice, toRel: invertAffine(toDevice),
        clip: [-FAR, -FAR, FAR, FAR], clipRect: EVERYWHERE });
    }
    return out;
  }

  /** Drop every patch (the layer reloads: its tiles hold the saved states); the tiles' copies
   * are shown again as the layer's state says (hidden by the editor, selected, hovered). */
  clear() {
    const layer = this.layer;
    for (const p of this.byId.values()) {
      this.#drop(p);
      if (p.tileMeta) {
        this.#flags(p.tileMeta.slot, p.id); // (a deleted one's too: a restore may bring it back)
      }
      if (p.tileMeta && !p.deleted) {
        layer.byId.set(p.id, p.tileMeta);
      } else if (layer.byId.get(p.id) === p.meta) {
        layer.byId.delete(p.id);
      }
    }
    this.byId.clear();
    this.byKey.clear();
  }

  /** Free every patch's GPU memory (the layer is detached). */
  release() {
    for (const p of this.byId.values()) {
      this.#drop(p);
    }
    clearTimeout(this.noticeTimer);
  }

  /** Hide a tile's copy of a patched annotation (not listed: the patch's metadata is). */
  #supersede(p, meta) {
    if (!meta || meta.patched) {
      return;
    }
    p.tileMeta = meta;
    meta.generation = -1;
    this.layer.table.setFlag(meta.slot, FLAG_HIDDEN, true);
  }

  /** The previous patch's metadata is no longer listed (`layer.annotations()`). */
  #retire(p) {
    if (p.meta) {
      p.meta.generation = -1;
      p.meta = null;
    }
  }

  #drop(p) {
    if (p.tile) {
      this.layer.renderer.release(p.tile.handle);
      p.tile = null;
    }
  }

  /**
   * The cache is rendered again for a patch, unless the annotation is hidden (`setHidden`: the
   * editor draws it while it is selected or being saved): then every copy of it, old and new, is
   * hidden and no pixel changes, and `setHidden(id, false)` renders. A render of a 10^6-vertex set
   * holds the main thread 40-110 ms with software WebGL, delaying the answer of the next save.
   */
  #invalidate(id) {
    if (!this.layer.hiddenIds.has(id)) {
      this.layer.stage?.invalidate("patch");
    }
  }

  /** A slot's flags from the layer's state of the annotation. */
  #flags(slot, id) {
    const layer = this.layer;
    layer.table.setFlag(slot, FLAG_HIDDEN, layer.hiddenIds.has(id));
    layer.table.setFlag(slot, FLAG_SELECTED, layer.selected === id || layer.wantedSelection === id);
    layer.table.setFlag(slot, FLAG_HOVERED, layer.hovered === id);
  }

  #notice() {
    clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => {
      const layer = this.layer;
      layer.dispatchEvent(new CustomEvent("data-change", { detail: { version: layer.version, patched: true } }));
    }, PATCH_NOTICE_MS);
  }
}
