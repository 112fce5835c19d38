/**
 * One annotation set drawn over a slide: fetching by region and level of detail, GPU batches,
 * styles, hit-testing, selection. Many layers (one per set) share a viewer's overlay stage
 * (`stage.js`); `annotations.js` makes one per set of the slide.
 *
 * How a view is drawn: the zoom gives a level of detail (`view.js`: exact geometry above 1 screen
 * px per slide px, else the store's Douglas-Peucker at ~1 screen px); the view needs 1–4 square
 * region tiles of that level; each tile is one `GET set.urls.self?bbox=…&simplify=…` fetched,
 * parsed and built into typed arrays by this layer's Worker (`build-worker.js`), uploaded once
 * and drawn clipped to its tile, so an annotation spanning tiles is neither cut nor painted
 * twice. A tile not yet there is drawn from a coarser one already loaded (or its finer children),
 * so zooming never blanks the layer. Tiles stay cached (LRU by bytes): panning back costs nothing.
 * The browser's HTTP cache keeps the responses too (`ETag` = set version, revalidated with
 * `If-None-Match`), so a refetched tile costs a 304.
 *
 * API for the panel, the editor and scripts (`layer` = an AnnotationLayer):
 * - `layer.set` (the set's entry of `GET /api/annotations/<slide>`), `layer.setId`, `layer.version`
 * - visibility and style: `setVisible(on)`, `setOpacity(0–1)`, `setFillOpacity(0–1)`,
 *   `groups()` → `[{name, parent, color, displayColor, visible, opacity}]`,
 *   `setGroupVisible(name, on)`, `showOnlyGroup(name)` (null: all), `setGroupColor(name, "#rrggbb"|null)`
 *   (the nearest group of an annotation's ancestry with a colour set wins, else ASAP's rule:
 *   the top-most ancestor's colour), `setGroupOpacity(name, 0–1)`
 * - data: `annotations()` → metadata of every annotation loaded so far (`{id, slot, version,
 *   name, type, group, color, bbox: [x0, y0, x1, y1] slide px, points, areaPx, lengthPx}`),
 *   `annotation(id)`
 * - `hitTest({x, y} element CSS px, tolerancePx = 4)` → `{layer, annotation, distancePx}` or null:
 *   a Flatbush query on the tile under the point, then exact tests (point in rings, distance to
 *   outlines, lines and dots); lines and dots before areas, then the smallest area first
 * - `select(id|null)` (one not loaded yet is highlighted when its tile arrives), `hover(id|null)`, `setHidden(id, on)` (e.g. the editor hides the bulk copy
 *   of the shape it edits and draws it in its own dynamic layer), `flyTo(id | bbox)`
 * - stage protocol (`stage.js`): `cacheable` (true with WebGL2: drawn through the stage's raster
 *   cache, and it calls `stage.invalidate()` on every change of what it draws), `update(frame)`
 *   (fetches for the view, every frame), `prefetch(frame)` (for where an animation ends),
 *   `draw(frame)`, `drawLabels(frame)`, `waiting()`
 * - changes: `checkForChanges()` → Promise<boolean> (a conditional GET answered 304 while the set
 *   is unchanged), `reload()`, `applySaved({kind, annotationId, version, feature})` → boolean
 *   (the editor's write drawn from the server's answer, no reload: `patches.js`); events
 *   (CustomEvent on the layer): `data-change` {version} (`patched: true` after applySaved, once a
 *   burst), `painted` {ms} (first complete view), `tile` {key, timing}, `error` {message, status}
 */

import { FLAG_HIDDEN, FLAG_HOVERED, FLAG_SELECTED, GLRenderer } from "./gl-renderer.js";
import { CanvasRenderer } from "./canvas-renderer.js";
import { ancestry, displayColor, groupTable, parseColor } from "./colors.js";
import Flatbush from "./flatbush.js";
import { hitTestBatch } from "./hit-test.js";
import { drawLabels } from "./labels.js";
import { LayerPatches } from "./patches.js";
import { SlotTable } from "./slot-table.js";
import { tileSources } from "./tile-sources.js";
import {
  applyAffine, invertAffine, lodForZoom, maxLodFor, rebase, tileMargin, tileRect, tilesForBox,
  toleranceForLod, visibleBox, zoomToFit,
} from "./view.js";

const MAX_IN_FLIGHT = 6;
const CACHE_BYTES = 160 * 1024 * 1024;
/** Longest a tile waits to be drawn while others of the view are still being fetched. */
const TILE_REDRAW_MS = 150;
/** ... before the layer's first paint (the view's tiles all came: measured 0.3-0.5 s warm). */
const FIRST_PAINT_REDRAW_MS = 1000;
/** Longest the layer's copy of an annotation being saved stays drawn (`setHidden`'s lazy). */
export const HIDE_GRACE_MS = 120;

let spareWorker = null;

/** A build Worker for the page's first layer, started before the slide's tiles are asked for: its
 * modules (a waterfall of three levels of imports) then no longer queue behind the first view's
 * tile requests on the browser's six connections (measured: the first tile of a set was asked of
 * the Worker 200-350 ms before its fetch started). */
export function prewarmBuildWorker() {
  spareWorker ??= makeBuildWorker();
}

function makeBuildWorker() {
  return new Worker(new URL("./build-worker.js", import.meta.url), { type: "module" });
}

/** One annotation set as a layer of a SlideViewer's overlay stage. */
export class AnnotationLayer extends EventTarget {
  /**
   * @param {import("../slide-viewer.js").SlideViewer} viewer
   * @param {object} set an entry of `sets` of GET /api/annotations/<slide>
   * @param {{fillOpacity?: number, lineWidth?: number, dotRadius?: number}} [options] CSS px
   */
  constructor(viewer, set, options = {}) {
    super();
    this.viewer = viewer;
    this.set = set;
    this.setId = set.id;
    this.version = null;
    this.visible = true;
    this.opacity = 1;
    this.fillOpacity = options.fillOpacity ?? 0.2;
    this.lineWidth = options.lineWidth ?? 2;
    this.dotRadius = options.dotRadius ?? 5;
    this.table = new SlotTable();
    this.tiles = new Map(); // key -> {key, lod, rect, batch, handle, index, bytes, used}
    this.inFlight = new Map(); // key -> generation
    this.failed = new Map(); // tile key -> {tries, retryAt (performance.now ms; Infinity: never)}
    this.generation = 0;
    this.slots = []; // slot -> metadata
    this.byId = new Map();
    this.styles = []; // style index -> {key, group, color}
    this.groupInfo = new Map(); // name -> {name, parent, color}
    this.groupState = new Map(); // name -> {visible, opacity, color (override rgb or null)}
    this.selected = null;
    this.wantedSelection = null;
    this.hovered = null;
    this.hiddenIds = new Set(); // setHidden's
    this.patches = new LayerPatches(this);
    this.paintedAt = null;
    this.sentAt = new Map(); // tile key -> when it was asked of the Worker (timings)
    this.hideTimer = 0; // setHidden's lazy render
    this.lastDraws = [];
    this.cacheBytes = 0;
    this.timings = [];
    this.pendingChecks = [];
    this.tileRedraw = 0;
    this.viewKeys = new Set(); // the tiles the view shown needs (not the cache's margin)
    const { width, height } = viewer.slide;
    this.maxLod = maxLodFor(width, height);
  }

  /** Called by SlideViewer.addLayer: join the viewer's overlay stage and start the Worker. */
  attach(stage) {
    this.stage = stage;
    this.attachedAt = performance.now();
    this.renderer = stage.mode === "webgl2" ? new GLRenderer(stage.gl, this.table) : new CanvasRenderer(stage.ctx, this.table);
    this.worker = spareWorker ?? makeBuildWorker();
    spareWorker = null;
    this.worker.addEventListener("message", (event) => this.#onMessage(event.data));
    this.worker.addEventListener("error", (event) => this.#error(0, `annotation worker: ${event.message}`));
    this.worker.postMessage({ type: "init", mppX: this.viewer.mppX });
    stage.add(this);
  }

  /** Called by SlideViewer.removeLayer: free the GPU memory and stop the Worker. */
  detach() {
    for (const tile of this.tiles.values()) {
      this.renderer.release(tile.handle);
    }
    this.tiles.clear();
    this.patches.release();
    clearTimeout(this.hideTimer);
    this.worker?.terminate();
    this.stage?.remove(this);
  }

  // ---------------------------------------------------------------------------------------------
  // Style and visibility

  setVisible(on) { this.visible = Boolean(on); this.#redraw(); }
  setOpacity(value) { this.opacity = clamp01(value); this.#redraw(); }
  setFillOpacity(value) { this.fillOpacity = clamp01(value); this.#redraw(); }

  /** @returns {Array<object>} the set's groups with their display state */
  groups() {
    return [...this.groupInfo.values()].map((g) => {
      const state = this.#groupState(g.name);
      return { ...g, displayColor: this.#styleColor(g.name, null), visible: state.visible, opacity: state.opacity };
    });
  }

  setGroupVisible(name, on) { this.#groupState(name).visible = Boolean(on); this.#restyle(); }
  setGroupOpacity(name, value) { this.#groupState(name).opacity = clamp01(value); this.#restyle(); }

  /** Give a group a colour ("#rrggbb", [r, g, b]) or back its own (null). */
  setGroupColor(name, color) {
    this.#groupState(name).color = color === null ? null : Array.isArray(color) ? color : parseColor(color);
    this.#restyle();
  }

  /** Show one group (and its sub-groups) only; null shows every group again. Its ancestors stay
   * on (a hidden ancestor hides its descendants), their other children go off. */
  showOnlyGroup(name) {
    const lineage = name === null ? [] : ancestry(name, this.groupInfo);
    for (const g of this.groupInfo.keys()) {
      this.#groupState(g).visible = name === null || ancestry(g, this.groupInfo).includes(name) || lineage.includes(g);
    }
    this.#restyle();
  }

  #groupState(name) {
    let s = this.groupState.get(name);
    if (!s) {
      s = { visible: true, opacity: 1, color: null };
      this.groupState.set(name, s);
    }
    return s;
  }

  #styleColor(group, ownColor) {
    if (group !== null && this.groupInfo.has(group)) {
      for (const g of ancestry(group, this.groupInfo)) {
        const override = this.groupState.get(g)?.color;
        if (override) {
          return override;
        }
      }
    }
    return displayColor(group, ownColor, this.groupInfo);
  }

  #applyStyle(index) {
    const s = this.styles[index];
    let alpha = 1;
    if (s.group !== null && this.groupInfo.has(s.group)) {
      for (const g of ancestry(s.group, this.groupInfo)) {
        const state = this.groupState.get(g);
        if (state) {
          alpha *= state.visible ? state.opacity : 0;
        }
      }
    }
    this.table.setStyle(index, this.#styleColor(s.group, s.color), alpha);
  }

  #restyle() {
    this.styles.forEach((_, i) => this.#applyStyle(i));
    this.#redraw();
  }

  #redraw(cause) {
    clearTimeout(this.hideTimer); // the render asked for draws a lazy hide too
    this.hideTimer = 0;
    this.stage?.invalidate(cause);
  }

  // ---------------------------------------------------------------------------------------------
  // Annotations: metadata, selection, fly-to

  /** @returns {object[]} metadata of every annotation loaded so far */
  annotations() { return this.slots.filter((m) => m && m.generation === this.generation); }

  /** @returns {object|null} one annotation's metadata */
  annotation(id) { return this.byId.get(id) ?? null; }

  /** Select one annotation (null: none); one not loaded yet is highlighted when it arrives. */
  select(id) {
    this.wantedSelection = id ?? null;
    this.selected = this.#mark(this.selected, id, FLAG_SELECTED);
  }

  hover(id) { this.hovered = this.#mark(this.hovered, id, FLAG_HOVERED); }

  /**
   * Hide or show one annotation (the editor's tombstone while it edits the shape elsewhere).
   * `lazy` (an edit being saved): drawn hidden by the next render, which comes within
   * HIDE_GRACE_MS; the save's answer usually comes first, and giving the annotation back then
   * renders once for both (a render of a 10^6-vertex set holds the main thread 40-110 ms with
   * software WebGL: the answer, and the "saved" it shows, would wait for it). Until then the old
   * copy stays under the editor's new one.
   */
  setHidden(id, on, { lazy = false } = {}) {
    this.hiddenIds[on ? "add" : "delete"](id);
    const meta = this.byId.get(id);
    if (meta) {
      this.table.setFlag(meta.slot, FLAG_HIDDEN, on);
      if (on && lazy) {
        this.hideTimer ||= setTimeout(() => this.#redraw(), HIDE_GRACE_MS);
      } else {
        this.#redraw();
      }
    }
  }

  #mark(previous, id, flag) {
    const before = previous === null ? null : this.byId.get(previous);
    if (before) {
      this.table.setFlag(before.slot, flag, false);
    }
    const meta = id === null || id === undefined ? null : this.byId.get(id);
    if (meta) {
      this.table.setFlag(meta.slot, flag, true);
    }
    this.#redraw();
    return meta ? id : null;
  }

  /**
   * Centre an annotation (by id) or a slide box `[x0, y0, x1, y1]` and zoom so it fills most of
   * the view, keeping the rotation and flip.
   * @returns {boolean} whether there was something to fly to
   */
  flyTo(target, immediately = false) {
    const box = Array.isArray(target) ? target : this.byId.get(target)?.bbox;
    if (!box) {
      return false;
    }
    const v = this.viewer;
    const el = v.osd.canvas;
    const now = v.getViewState(false);
    const rect = { x0: box[0], y0: box[1], x1: box[2], y1: box[3] };
    const zoom = Math.min(zoomToFit(rect, el.clientWidth, el.clientHeight, now.rotation), 2);
    v.setViewState({ ...now, x: (box[0] + box[2]) / 2, y: (box[1] + box[3]) / 2, zoom }, immediately);
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Changes made elsewhere

  /**
   * Ask the store whether the set changed since the version drawn (`If-None-Match`: 304 while
   * it did not); reload when it did.
   * @returns {Promise<boolean>} whether it changed
   */
  checkForChanges() {
    if (this.version === null) {
      return Promise.resolve(false);
    }
    return new Promise((resolve) => {
      this.pendingChecks.push(resolve);
      this.worker.postMessage({ type: "check", url: `${this.set.urls.self}?bbox=0,0,0,0`, version: this.version });
    });
  }

  /**
   * The editor's write answered by the server: that annotation drawn from the answer, the tiles
   * kept (only when the write is the set's next version; see `patches.js`).
   * @returns {boolean} whether it was taken (false: `checkForChanges()` must reload)
   */
  applySaved(saved) { return this.patches.apply(saved); }

  /** Drop every tile and fetch the view again (the set changed). */
  reload() {
    this.patches.clear();
    this.generation += 1;
    for (const tile of this.tiles.values()) {
      this.renderer.release(tile.handle);
    }
    this.tiles.clear();
    this.inFlight.clear();
    this.failed.clear();
    this.cacheBytes = 0;
    this.version = null;
    this.#redraw();
  }

  #onMessage(message) {
    if (message.type === "batch") {
      this.#onBatch(message);
    } else if (message.type === "checked") {
      if (message.changed && message.version !== this.version) { // (not a write patched meanwhile)
        this.reload();
        this.dispatchEvent(new CustomEvent("data-change", { detail: { version: message.version } }));
      }
      this.pendingChecks.shift()?.(message.changed);
    } else if (message.type === "error") {
      if (message.key) {
        // a busy server (503, 429, a dropped connection: status 0) is asked again after a growing
        // delay, so a tile refused once under load does not leave the layer blank until a reload;
        // other refusals stay until the next reload
        this.inFlight.delete(message.key);
        this.sentAt.delete(message.key);
        const tries = (this.failed.get(message.key)?.tries ?? 0) + 1;
        const retryable = [0, 408, 429, 500, 502, 503, 504].includes(message.status);
        const delay = Math.min(250 * 2 ** (tries - 1), 8000);
        this.failed.set(message.key, { tries, retryAt: retryable ? performance.now() + delay : Infinity });
        if (retryable) {
          setTimeout(() => this.#redraw("tile"), delay + 10);
        }
      } else {
        this.pendingChecks.shift()?.(false);
      }
      this.#error(message.status, message.message);
    }
  }

  #error(status, message) {
    this.dispatchEvent(new CustomEvent("error", { detail: { status, message } }));
  }

  #onBatch(message) {
    if (this.patches.owns(message.key)) {
      this.#takeStyles(message.styles, false);
      this.patches.arrived(message);
      this.dispatchEvent(new CustomEvent("tile", { detail: { key: message.key, timing: message.timing } }));
      return;
    }
    const requested = this.inFlight.get(message.key);
    this.inFlight.delete(message.key);
    this.failed.delete(message.key);
    const { batch } = message;
    if (requested !== this.generation) {
      return; // asked for before a reload
    }
    if (this.version !== null && batch.version !== this.version) {
      if (batch.version < this.version) {
        return; // an older state than what is drawn: it will be asked for again
      }
      this.reload(); // the set changed: everything drawn is stale
      this.dispatchEvent(new CustomEvent("data-change", { detail: { version: batch.version } }));
    }
    this.version = batch.version;
    const groups = groupTable(message.groups);
    const groupsChanged = JSON.stringify([...groups.values()]) !== JSON.stringify([...this.groupInfo.values()]);
    this.groupInfo = groups;
    this.#takeStyles(message.styles, groupsChanged);
    this.table.ensureSlots(this.slots.length + message.annotations.length);
    for (const meta of message.annotations) {
      meta.generation = this.generation;
      meta.setId = this.setId;
      this.slots[meta.slot] = meta;
      this.table.setSlotStyle(meta.slot, meta.style);
      if (this.patches.claims(meta)) {
        continue; // a patch draws the saved state of it (this copy is hidden)
      }
      this.byId.set(meta.id, meta);
      if (meta.id === this.wantedSelection && this.selected !== meta.id) {
        this.selected = this.#mark(this.selected, meta.id, FLAG_SELECTED); // flown to from the list
      }
    }
    for (let i = 0; i < batch.itemSlot.length; i++) {
      const meta = this.slots[batch.itemSlot[i]];
      if (meta && meta.generation !== this.generation && !this.patches.has(meta.id)) {
        meta.generation = this.generation; // unchanged annotation seen again after a reload
      }
    }
    const handle = this.renderer.upload(batch);
    if (this.stage.mode === "webgl2") {
      // the GPU has the drawing arrays; hit-testing needs only the vertices and item tables
      batch.tris = batch.segs = batch.segSlot = batch.dots = batch.dotSlot = batch.vertSlot = null;
    }
    const [lod, tx, ty] = message.key.split("/").map(Number);
    const bytes = handle.bytes + batch.verts.byteLength + (batch.index ? batch.index.byteLength : 0);
    this.tiles.set(message.key, {
      key: message.key, lod, tx, ty, rect: batch.rect, batch, handle, bytes, used: performance.now(),
      index: batch.index ? Flatbush.from(batch.index) : null,
    });
    this.cacheBytes += bytes;
    // sent: asked of the Worker, at: arrived (page clock)
    this.timings.push({ key: message.key, sent: this.sentAt.get(message.key), at: performance.now(), ...message.timing });
    this.sentAt.delete(message.key);
    if (this.timings.length > 200) {
      this.timings.shift();
    }
    this.dispatchEvent(new CustomEvent("tile", { detail: { key: message.key, timing: message.timing } }));
    this.#redrawForTile(message.key);
  }

  /** A batch's new styles (every style restyled when the groups changed). */
  #takeStyles(styles, all) {
    for (const s of styles) {
      this.styles[s.style] = { key: s.key, group: s.group, color: s.color };
    }
    (all ? this.styles.map((_, i) => i) : styles.map((s) => s.style)).forEach((i) => this.#applyStyle(i));
  }

  /** A tile arrived: draw once for the tiles on their way, not once per tile (each draw of the
   * whole layer is what costs; with software WebGL a render of a 10^6-vertex set is 40-110 ms):
   * at once when it is the last one, or the last one the view needs (the first paint waits for
   * no margin tile); else at most TILE_REDRAW_MS later (a coarser tile holds the place meanwhile). */
  #redrawForTile(key) {
    const viewPending = [...this.inFlight.keys()].some((k) => this.viewKeys.has(k));
    if (this.inFlight.size === 0 || (!viewPending && this.viewKeys.has(key))) {
      clearTimeout(this.tileRedraw);
      this.tileRedraw = 0;
      this.#redraw("tile");
    } else if (!this.tileRedraw) {
      // before the first paint a partial render only delays the whole one (the Worker, the server
      // and the renderer share the CPU): it comes only when a tile is slow
      this.tileRedraw = setTimeout(() => {
        this.tileRedraw = 0;
        this.#redraw("tile");
      }, this.paintedAt === null ? FIRST_PAINT_REDRAW_MS : TILE_REDRAW_MS);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Drawing

  #request(tile) {
    if (this.tiles.has(tile.key) || this.inFlight.has(tile.key) ||
        (this.failed.get(tile.key)?.retryAt ?? -Infinity) > performance.now() || this.inFlight.size >= MAX_IN_FLIGHT) {
      return;
    }
    const rect = tileRect(tile.lod, tile.tx, tile.ty);
    const margin = tileMargin(tile.lod);
    const tolerance = toleranceForLod(tile.lod);
    const bbox = [rect.x0 - margin, rect.y0 - margin, rect.x1 + margin, rect.y1 + margin].map((v) => Math.round(v));
    // clip=1: a big outline comes cut to the tile (its whole bbox and area in properties.whole)
    const url = `${this.set.urls.self}?bbox=${bbox.join(",")}${tolerance ? `&simplify=${tolerance}` : ""}&clip=1`;
    this.inFlight.set(tile.key, this.generation);
    this.sentAt.set(tile.key, performance.now());
    this.worker.postMessage({ type: "load", key: tile.key, url, rect, margin, tolerance });
  }

  /** Drawn through the stage's raster cache (WebGL2): see `stage.js`. */
  get cacheable() { return this.stage?.mode === "webgl2"; }

  /** @returns {boolean} whether tiles are being fetched (their arrival will invalidate the stage) */
  waiting() { return this.inFlight.size > 0; }

  /** The level of detail and the tiles a frame needs. */
  #needs(frame) {
    const { width, height } = this.viewer.slide;
    const lod = Math.min(lodForZoom(frame.zoom, this.maxLod), this.maxLod);
    const box = visibleBox(frame.elementToSlide, frame.cssWidth, frame.cssHeight);
    return { lod, needed: tilesForBox(box, lod, width, height) };
  }

  /**
   * Fetch what the view shows (called by the stage every frame, also when it draws its cached
   * raster): only for the view being shown, not for the levels a zoom animation passes through.
   * @param {object} frame the view's frame
   * @returns {{lod: number, needed: object[]}}
   */
  update(frame) {
    const needs = this.#needs(frame);
    this.viewKeys = new Set(needs.needed.map((t) => t.key));
    this.#requestAll(needs);
    return needs;
  }

  /** Fetch what the view where an animation ends shows (the stage, from the animation's start). */
  prefetch(target) { this.#requestAll(this.#needs(target)); }

  #requestAll({ lod, needed }) {
    const targetLod = Math.min(lodForZoom(this.viewer.getZoom(false), this.maxLod), this.maxLod);
    if (this.renderer && targetLod === lod && this.visible) {
      for (const tile of needed) {
        this.#request(tile);
      }
    }
  }

  /**
   * Draw this layer into the stage's frame (called by the stage; a `cached` frame is the raster
   * cache's, wider than the view: labels are then drawn by `drawLabels` on the view's frame).
   * @returns {boolean} whether labels were drawn
   */
  draw(frame) {
    if (!this.renderer) {
      return false;
    }
    const view = this.update(frame.view ?? frame);
    const { lod, needed } = frame.view ? this.#needs(frame) : view;
    const inView = new Set(view.needed.map((t) => t.key));
    if (frame.view) {
      this.#requestAll({ lod, needed }); // the cache's margin, after the view
    }
    const draws = [];
    for (const need of needed) {
      // in the margin only a tile's own data: a coarser stand-in costs all of its vertices
      const own = this.tiles.get(need.key);
      const sources = inView.has(need.key) ? tileSources(this.tiles, need, this.maxLod) : own ? [own] : [];
      const rect = tileRect(need.lod, need.tx, need.ty);
      for (const tile of sources) {
        tile.used = frame.time;
        const clipRect = tile.lod > need.lod ? rect : tile.rect; // a coarser tile is cut to the need
        const toDevice = rebase(frame.slideToDevice, tile.batch.origin);
        const o = tile.batch.origin;
        draws.push({
          tile, handle: tile.handle, toDevice, toRel: invertAffine(toDevice),
          clip: [clipRect.x0 - o.x, clipRect.y0 - o.y, clipRect.x1 - o.x, clipRect.y1 - o.y], clipRect,
        });
      }
    }
    draws.push(...this.patches.draws(frame));
    const complete = view.needed.every((need) => this.tiles.get(need.key)?.lod === lod);
    this.lastDraws = draws;
    if (this.visible && this.opacity > 0 && draws.length) {
      this.renderer.draw(draws, frame, {
        opacity: this.opacity, fillOpacity: this.fillOpacity, lineWidth: this.lineWidth, dotRadius: this.dotRadius,
      });
    }
    if (complete && this.paintedAt === null && this.version !== null) {
      this.paintedAt = performance.now();
      this.dispatchEvent(new CustomEvent("painted", { detail: { ms: this.paintedAt } }));
    }
    this.#evict(frame.time);
    return frame.cached ? false : this.drawLabels(frame);
  }

  /**
   * Draw the measurement labels of what was last drawn on the frame's label canvas.
   * @returns {boolean} whether any was drawn
   */
  drawLabels(frame) {
    if (!this.visible || this.opacity <= 0 || !this.lastDraws.length) {
      return false;
    }
    return drawLabels(this.lastDraws, frame, (slot) => this.table.visible(slot));
  }

  #evict(now) {
    if (this.cacheBytes <= CACHE_BYTES) {
      return;
    }
    const inUse = new Set(this.lastDraws.map((d) => d.tile.key));
    const old = [...this.tiles.values()].filter((t) => !inUse.has(t.key)).sort((a, b) => a.used - b.used);
    for (const tile of old) {
      if (this.cacheBytes <= CACHE_BYTES * 0.75 || tile.used === now) {
        break;
      }
      this.renderer.release(tile.handle);
      this.tiles.delete(tile.key);
      this.cacheBytes -= tile.bytes;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Hit-testing

  /**
   * The annotation under a point of the viewer element.
   * @param {{x: number, y: number}} element_pt CSS px
   * @param {number} [tolerancePx=4] how near an outline, line or dot counts, CSS px
   * @returns {{layer: AnnotationLayer, annotation: object, distancePx: number}|null}
   */
  hitTest(element_pt, tolerancePx = 4) {
    const frame = this.stage?.frame();
    if (!frame || !this.visible) {
      return null;
    }
    const p = applyAffine(frame.elementToSlide, element_pt);
    const tol = tolerancePx / frame.zoom;
    const dotTol = tol + this.dotRadius / frame.zoom;
    let best = null;
    for (const d of this.lastDraws) {
      const r = d.clipRect;
      if (p.x < r.x0 || p.y < r.y0 || p.x >= r.x1 || p.y >= r.y1 || !d.tile.index) {
        continue;
      }
      const b = d.tile.batch;
      const hit = hitTestBatch(b, d.tile.index, p.x - b.origin.x, p.y - b.origin.y, tol, dotTol,
        (slot) => this.table.visible(slot));
      if (hit && (!best || hit.rank < best.rank)) {
        best = hit;
      }
    }
    if (!best) {
      return null;
    }
    return { layer: this, annotation: this.slots[best.slot], distancePx: best.dist * frame.zoom };
  }
}

function clamp01(v) {
  const n = Number(v);
  return Number.isFinite(n) ? Math.min(Math.max(n, 0), 1) : 1;
}
