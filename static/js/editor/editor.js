/**
 * The browser editor of a viewer page (issue 13): tool switching and the toolbar's tool group,
 * pointer and keys on the pane, the editor canvas (drafts, shapes being saved or edited), the
 * document and its undo stack, and the glue to the annotation layers, the layers panel and the
 * save queue. Made by `viewer-page.js` only when the page is not read-only.
 *
 * Pointer and keys: `editor-input.js`.
 *
 * For other modules (E1b's select and vertex editing, E3's brush, the history panel):
 * - `editor.doc` (EditDocument), `editor.undoStack` (UndoStack), `editor.selection` (Set of localIds)
 * - `editor.apply(op | op[], {label})` applies ops as ONE undoable action and saves each changed
 *   entry; `editor.undo()`, `editor.redo()`
 * - `editor.load({setId, annotationId})` → Promise<localId>: the exact annotation into the document
 *   (the layer's bulk copy is hidden while the editor holds it); `editor.release(localId)` gives
 *   it back to the layer once nothing of it is pending
 * - `editor.localIdOf(setId, annotationId)`: "s<set>:<id>", or the uuid of an annotation the
 *   editor created (kept after its save, so its undo history and a later selection share the entry)
 * - `editor.setTool(name)`, `editor.tool` (the active tool), `editor.refresh()` (redraw shapes)
 * - `editor.activeSetId()`, `editor.activeGroup()`, `editor.inBox`-style context for tools (`#context`)
 * - events: "tool" {name}, "applied" {ops, changed}, "saved" {localId, kind, annotationId, version},
 *   "selection" {ids}, "set-created" {set}
 * The pane carries `data-editor-tool` and `data-editor-pending` (changes not yet confirmed and
 * drawn by the layer), which the end-to-end tests read.
 */

import { csrfHeaders, pageConfig } from "../csrf.js";
import { activeSetChoice } from "../layers/sharing.js";
import { applyAffine } from "../layers/view.js";
import { EditDocument, makeEntry, serverLocalId } from "./document.js";
import { EditorCanvas } from "./editor-canvas.js";
import { EditorInput } from "./editor-input.js";
import { fetchBox, keptBoth, markPanel, tookTheirs } from "./editor-sync.js";
import { EditorUi } from "./editor-ui.js";
import { PropertiesPanel } from "./properties.js";
import { newLocalId } from "./tools/common.js";
import { tool as toolNamed } from "./tools/index.js";
import { UndoStack } from "./undo.js";

const LAYER_WAIT_MS = 8000;
const JSON_HEADERS = { "Content-Type": "application/json", "X-Requested-With": "wsi-viewer" };

/* global OpenSeadragon */

/** localStorage, or null where the browser refuses it (the clipboard then has nowhere to go). */
function safeLocalStorage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}

export class Editor extends EventTarget {
  /**
   * @param {{viewer: import("../slide-viewer.js").SlideViewer, annotations: import("../layers/annotations.js").AnnotationOverlay,
   *          queue: import("./save-queue.js").SaveQueue, panel?: object|null, toolbar?: HTMLElement|null,
   *          user?: string|null}} options
   */
  constructor({ viewer, annotations, panel = null, toolbar = null, queue = null, user = null }) {
    super();
    this.viewer = viewer;
    this.annotations = annotations;
    this.panel = panel;
    this.user = user;
    this.queue = queue;
    // a conflict settled: "Take theirs" / "Keep both" (editor-sync.js)
    queue.addEventListener("resolved", (event) => tookTheirs(this, event.detail));
    queue.addEventListener("resolved", (event) => keptBoth(this, event.detail));
    // a change replayed from an earlier visit (crash, closed tab): its set is drawn again once saved
    queue.addEventListener("confirmed", (event) => {
      const change = event.detail.change;
      if (!this.pending.has(change.localId)) {
        this.annotations.layer(change.setId)?.checkForChanges();
      }
    });
    this.doc = new EditDocument();
    this.undoStack = new UndoStack();
    this.selection = new Set();
    this.canvas = new EditorCanvas();
    viewer.addLayer(this.canvas);
    this.pending = new Map(); // localId -> number of changes not yet drawn by the layer
    this.hidden = new Map(); // localId -> {setId, annotationId} hidden in its layer
    this.aliases = new Map(); // "s<set>:<id>" -> localId of an annotation the editor created (its uuid)
    this.tool = null;
    this.session = null;
    this.setPromise = null;
    this.toolbar = toolbar;
    this.ui = new EditorUi(this, toolbar); // the tools' palette, messages, the size dialog
    this.input = new EditorInput(this);
    this.properties = new PropertiesPanel(this); // name, group, colour of the selection (E1b)
    // an entry chosen in the layers panel's list is the select tool's selection (then edited at once)
    panel?.addEventListener?.("select", (event) => {
      const e = event.detail.entry;
      if (e && this.tool?.name === "select") {
        this.select([this.localIdOf(e.setId, e.id)]);
        this.load({ setId: e.setId, annotationId: e.id }).catch(() => {});
      }
    });
    this.undoStack.addEventListener("change", () => this.ui.syncUndo());
    this.setTool("pan");
  }

  // ---------------------------------------------------------------------------------------------
  // Tools

  /** Switch tool (a draft in progress is cancelled). */
  setTool(name) {
    const next = toolNamed(name);
    if (!next) {
      return;
    }
    this.session?.cancel?.();
    if (this.input) {
      this.input.press = null;
    }
    this.tool = next;
    this.session = next.start ? next.start(this.#context()) : null;
    this.canvas.setDraft(null);
    this.viewer.pane.dataset.editorTool = next.name;
    this.viewer.hooks.osd.style.cursor = next.cursor ?? "";
    this.ui.syncTool(next.name);
    this.dispatchEvent(new CustomEvent("tool", { detail: { name: next.name } }));
  }

  /** @returns {boolean} whether the active tool takes the pointer from OpenSeadragon */
  get drawing() {
    return Boolean(this.tool && !this.tool.navigates);
  }

  #context() {
    const editor = this;
    return {
      doc: this.doc,
      zoom: () => this.viewer.stage?.frame()?.zoom ?? 1,
      mppX: this.viewer.mppX,
      mppY: this.viewer.mppY,
      activeSetId: () => this.activeSetId(),
      activeGroup: () => this.activeGroup(),
      hitTest: (pt) => {
        const hit = this.annotations.hitTest({ x: pt.element[0], y: pt.element[1] });
        if (!hit) {
          return null;
        }
        const setId = hit.layer.setId;
        const annotationId = hit.annotation.id;
        return { setId, annotationId, localId: this.localIdOf(setId, annotationId) };
      },
      load: (ref) => this.load(ref),
      loadBox: (box, refs) => this.loadBox(box, refs),
      get selection() {
        return editor.selection;
      },
      select: (ids) => this.select(ids),
      newId: newLocalId,
      readOnly: false,
      viewer: this.viewer,
      // for the select tool (E1b): ops made after a load, box selection, clipboard, groups
      apply: (ops) => this.apply(ops, { label: this.tool?.label ?? "" }),
      inBox: (box) => this.#inBox(box),
      slide: { id: this.viewer.slide.id, width: this.viewer.slide.width, height: this.viewer.slide.height },
      storage: safeLocalStorage(),
      groupNames: (setId) => this.annotations.layer(setId)?.groups().map((g) => g.name) ?? [],
    };
  }

  /** Refs of the annotations (visible layers' and the document's) whose bbox lies in a slide box. */
  #inBox([x0, y0, x1, y1]) {
    const inside = (b) => b && b[0] >= x0 && b[1] >= y0 && b[2] <= x1 && b[3] <= y1;
    const refs = new Map();
    for (const layer of this.annotations.layers) {
      if (!layer.visible) {
        continue;
      }
      for (const m of layer.annotations()) {
        const localId = this.localIdOf(layer.setId, m.id);
        if (inside(m.bbox) && !this.doc.has(localId)) {
          refs.set(localId, { setId: layer.setId, annotationId: m.id, localId });
        }
      }
    }
    for (const e of this.doc.entries.values()) {
      const xs = e.points.map((p) => p[0]);
      const ys = e.points.map((p) => p[1]);
      if (xs.length && inside([Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)])) {
        refs.set(e.localId, { setId: e.setId, annotationId: e.annotationId, localId: e.localId });
      }
    }
    return [...refs.values()];
  }

  /**
   * The document's localId of a server annotation: "s<set>:<id>", or the uuid of one the editor
   * created (so selecting a shape just drawn edits the same entry its undo history knows).
   */
  localIdOf(setId, annotationId) {
    const key = serverLocalId(setId, annotationId);
    return this.aliases.get(key) ?? key;
  }

  /** @returns {number|null} the set new annotations go to (null: none the user may edit, one is made) */
  activeSetId() {
    const chosen = this.panel?.activeSet?.();
    const id = chosen && typeof chosen === "object" ? chosen.id : chosen;
    if (id !== undefined && id !== null) {
      return id;
    }
    return activeSetChoice(this.annotations.sets, null, pageConfig());
  }

  /** @returns {string|null} the group new annotations go to */
  activeGroup() {
    const setId = this.activeSetId();
    return setId === null ? null : this.panel?.activeGroup?.(setId) ?? null;
  }

  /** Replace the selection (localIds). */
  select(ids) {
    const before = this.selection;
    this.selection = new Set(ids);
    for (const id of before) {
      if (!this.selection.has(id) && !this.pending.has(id) && !this.session?.holds?.(id)) {
        this.release(id); // deselected with nothing to save: its layer draws it again
      }
    }
    this.refresh();
    markPanel(this);
    this.dispatchEvent(new CustomEvent("selection", { detail: { ids: [...this.selection] } }));
  }

  // ---------------------------------------------------------------------------------------------
  // Ops, undo, saving

  /**
   * Apply ops as one undoable action and save every entry they change.
   * @param {object|object[]} ops
   * @param {{label?: string}} [options]
   * @returns {string[]} the changed localIds
   */
  apply(ops, { label = "" } = {}) {
    const list = Array.isArray(ops) ? ops : [ops];
    if (!list.length) {
      return [];
    }
    const done = this.#run(list);
    this.undoStack.push({ ops: done, label });
    return done.flatMap((d) => d.changed);
  }

  #run(list) {
    const done = [];
    for (const op of list) {
      const before = op.kind === "delete" ? this.doc.get(op.localId) : null;
      const { inverse, changed } = this.doc.apply(op);
      done.push({ op, inverse, changed });
      this.#save(op, changed, before);
    }
    this.refresh();
    this.dispatchEvent(new CustomEvent("applied", { detail: { ops: list, changed: done.flatMap((d) => d.changed) } }));
    return done;
  }

  /** Undo the last action (saved like any other change). */
  undo() {
    const rec = this.undoStack.undo();
    if (rec) {
      this.#replay(rec, () => this.#run(rec.ops.map((r) => r.inverse).reverse()));
    }
  }

  /** Redo the last undone action. */
  redo() {
    const rec = this.undoStack.redo();
    if (rec) {
      this.#replay(rec, () => this.undoStack.replace(rec, this.#run(rec.ops.map((r) => r.op))));
    }
  }

  /**
   * Undo or redo a record; one that no longer applies (the annotation was deleted or reshaped by
   * someone else, and "Take theirs" put their version in the document) is dropped and said so.
   */
  #replay(rec, run) {
    try {
      run();
    } catch (err) {
      this.undoStack.drop(rec);
      this.refresh();
      this.say(`cannot undo or redo "${rec.label || "that"}": ${err.message}`);
    }
  }

  #save(op, changed, deleted) {
    for (const localId of changed) {
      const entry = this.doc.get(localId) ?? deleted;
      if (!entry) {
        continue;
      }
      const kind = op.kind === "create" ? "create" : op.kind === "delete" ? "delete" : "update";
      if (kind === "create") {
        entry.annotationId = null; // a new annotation on the server, also when an undo brings one back
        entry.version = null;
      }
      this.#hide(entry, { lazy: true }); // the layer's copy goes with the render after the answer
      this.pending.set(localId, (this.pending.get(localId) ?? 0) + 1);
      this.#pendingChanged();
      const feature = kind === "delete" ? null : structuredClone(entry.feature);
      if (feature) {
        delete feature.id;
      }
      const submit = async () => {
        if (entry.setId === null || entry.setId === undefined) {
          entry.setId = await this.#ensureSet();
        }
        return this.queue.submit({
          id: newLocalId(), kind, setId: entry.setId, localId, annotationId: entry.annotationId,
          baseVersion: entry.version, feature, createdAt: Date.now(),
        });
      };
      submit().then((result) => {
        if (kind !== "delete") {
          entry.annotationId = result.annotationId;
          entry.version = result.version;
          // a create's new id (also an update that became one: "Keep both" of a conflict)
          if (localId !== serverLocalId(entry.setId, result.annotationId)) {
            this.aliases.set(serverLocalId(entry.setId, result.annotationId), localId);
          }
          if (kind === "update" && !this.hidden.has(localId)) {
            this.#hide(entry); // "Keep both": the editor draws mine until it settles, not the layer too
          }
        } else {
          this.aliases.delete(serverLocalId(entry.setId, result?.annotationId ?? entry.annotationId));
        }
        if (this.selection.has(localId)) {
          markPanel(this); // a new annotation's id: its list entry
        }
        this.dispatchEvent(new CustomEvent("saved", { detail: { localId, kind, ...result } }));
        return this.#whenDrawn(entry, kind, result);
      }).catch((err) => {
        this.viewer.pane.dataset.editorError = err.message;
        console.warn("editor: a change was not saved:", err.message);
      }).finally(() => {
        const n = (this.pending.get(localId) ?? 1) - 1;
        if (n > 0) {
          this.pending.set(localId, n);
        } else {
          this.pending.delete(localId);
          this.#settle(localId);
        }
        this.#pendingChanged();
      });
    }
  }

  /** The set new annotations go to, created (named after the user) when the slide has none. */
  #ensureSet() {
    const id = this.activeSetId();
    if (id !== null) {
      return Promise.resolve(id);
    }
    this.setPromise ??= (async () => {
      const response = await fetch(this.viewer.slide.urls.annotations, {
        method: "POST", headers: { ...JSON_HEADERS, ...csrfHeaders() }, body: JSON.stringify({ name: this.user || "annotations" }),
      });
      const body = await response.json();
      if (!response.ok) {
        throw new Error(body.error ?? `creating a set: ${response.status}`);
      }
      this.annotations.sets.push(body.set);
      this.annotations.add(body.set);
      this.viewer.pane.dataset.annotationSets = String(this.annotations.sets.length);
      this.dispatchEvent(new CustomEvent("set-created", { detail: { set: body.set } }));
      return body.set.id;
    })();
    return this.setPromise.finally(() => {
      this.setPromise = null;
    });
  }

  /** Resolve once the set's layer draws the change (or after a while, whatever happens). */
  async #whenDrawn(entry, kind, result) {
    const layer = this.annotations.layer(entry.setId);
    if (!layer) {
      return;
    }
    if (!layer.applySaved?.({ kind, ...result })) await layer.checkForChanges(); // drawn from the answer, else reloaded
    const has = () => {
      // metadata of the data drawn now (the layer keeps older generations' after a reload)
      const meta = layer.annotation(result.annotationId ?? entry.annotationId);
      const current = meta && meta.generation === layer.generation;
      return kind === "delete" ? !current : Boolean(current && (result.version === null || meta.version >= result.version));
    };
    if (has()) {
      return;
    }
    await new Promise((resolve) => {
      const done = () => {
        layer.removeEventListener("tile", check);
        clearTimeout(timer);
        resolve();
      };
      const check = () => has() && done();
      const timer = setTimeout(done, LAYER_WAIT_MS);
      layer.addEventListener("tile", check);
    });
  }

  #hide(entry, options = {}) {
    if (entry.annotationId === null || entry.annotationId === undefined || this.hidden.has(entry.localId)) {
      return;
    }
    const ref = { setId: entry.setId, annotationId: entry.annotationId };
    this.hidden.set(entry.localId, ref);
    this.annotations.layer(ref.setId)?.setHidden(ref.annotationId, true, options);
  }

  /** Nothing of a localId is pending any more: the layer draws it, the editor's copy goes. */
  #settle(localId) {
    if (this.selection.has(localId) || this.session?.holds?.(localId)) {
      this.refresh();
      return;
    }
    this.release(localId);
  }

  /** Give an entry back to its layer (the editor stops drawing it). */
  release(localId) {
    const ref = this.hidden.get(localId);
    if (ref) {
      this.hidden.delete(localId);
      this.annotations.layer(ref.setId)?.setHidden(ref.annotationId, false);
    }
    if (!this.pending.has(localId) && !this.#inHistory(localId)) {
      this.doc.forget(localId); // an entry the undo history edits stays: undoing needs it (not drawn)
    }
    this.refresh();
  }

  /** Whether the undo history holds ops on a localId. */
  #inHistory(localId) {
    const on = (op) => op.localId === localId || op.entry?.localId === localId || Boolean(op.localIds?.includes(localId));
    return [...this.undoStack.done, ...this.undoStack.undone].some((rec) => rec.ops.some((r) => on(r.op) || on(r.inverse)));
  }

  /**
   * Fetch the exact annotation into the document (GET /api/sets/<s>/annotations/<a>).
   * @param {{setId: number, annotationId: number}} ref
   * @returns {Promise<string>} its localId
   */
  async load({ setId, annotationId }) {
    const localId = this.localIdOf(setId, annotationId);
    if (this.doc.has(localId)) {
      this.#hide(this.doc.get(localId)); // one kept for the undo history: drawn by the editor again
      return localId;
    }
    // one request per annotation at a time (the select tool and others may ask together)
    this.loading ??= new Map();
    if (!this.loading.has(localId)) {
      this.loading.set(localId, this.#fetchEntry(setId, annotationId, localId).finally(() => this.loading.delete(localId)));
    }
    return this.loading.get(localId);
  }

  async #fetchEntry(setId, annotationId, localId) {
    const layer = this.annotations.layer(setId);
    const url = `${layer?.set.urls.annotations ?? `/api/sets/${setId}/annotations`}/${annotationId}`;
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    const feature = await response.json();
    if (!response.ok) {
      throw new Error(feature.error ?? `loading annotation ${annotationId}: ${response.status}`);
    }
    this.#adopt(localId, setId, annotationId, feature);
    return localId;
  }

  /** A Feature fetched from the server into the document (unless it holds that entry already). */
  #adopt(localId, setId, annotationId, feature) {
    if (!this.doc.has(localId)) {
      const version = feature.properties?.version ?? null;
      this.doc.put(makeEntry({ localId, setId, annotationId, version, feature }));
      this.#hide(this.doc.get(localId));
      this.refresh();
      this.dispatchEvent(new CustomEvent("loaded", { detail: { localId } }));
    }
  }

  /**
   * Load many annotations lying in a slide box (a box selection of thousands) with one request
   * per set (`GET set.urls.self?bbox=`, exact geometry), not one each; any the answer lacks are
   * loaded one by one. @returns {Promise<string[]>} their localIds
   */
  async loadBox(box, refs) {
    const wanted = refs.filter((r) => r.annotationId !== null && !this.doc.has(r.localId));
    for (const setId of new Set(wanted.map((r) => r.setId))) {
      const want = new Map(wanted.filter((r) => r.setId === setId).map((r) => [r.annotationId, r]));
      for (const feature of await fetchBox(this.annotations.layer(setId), box).catch(() => [])) {
        const ref = want.get(feature.id);
        if (ref) {
          this.#adopt(ref.localId, setId, ref.annotationId, feature);
        }
      }
    }
    await Promise.all(wanted.filter((r) => !this.doc.has(r.localId)).map((r) => this.load(r).catch(() => null)));
    return refs.map((r) => r.localId);
  }

  /** Redraw the shapes the editor holds (pending saves, selection, what the tool edits). */
  refresh() {
    const editing = this.session?.editing ?? null;
    const moving = this.session?.moving ?? null;
    const shapes = [];
    for (const entry of this.doc.entries.values()) {
      const asap = entry.feature.properties.asap;
      const selected = this.selection.has(entry.localId);
      if (!selected && entry.annotationId !== null && !this.hidden.has(entry.localId) && !this.pending.has(entry.localId)) {
        continue; // given back to its layer (kept for the undo history only)
      }
      let points = entry.points;
      if (editing?.localId === entry.localId) {
        points = editing.points;
      }
      if (moving?.localIds.includes(entry.localId)) {
        points = points.map((p) => [p[0] + moving.dx, p[1] + moving.dy]);
      }
      shapes.push({
        type: asap.type, points, color: asap.color ?? "#F4FA58", style: selected ? "selected" : "saved",
        localId: entry.localId,
        handles: editing?.localId === entry.localId ? { active: editing.active, cursor: editing.cursor } : null,
      });
    }
    this.canvas.setShapes(shapes);
  }

  /** Tell the user something for a few seconds ("" hides it): `editor-ui.js`. */
  say(text) {
    this.ui.say(text);
  }

  #pendingChanged() {
    this.viewer.pane.dataset.editorPending = String(this.pending.size);
  }

  // ---------------------------------------------------------------------------------------------
  // Pointer

  /** A pointer event as a tool's `pt`. */
  pointOf(event, extra = {}) {
    const el = this.viewer.osd.canvas;
    const rect = el.getBoundingClientRect();
    const x = event.clientX - rect.left;
    const y = event.clientY - rect.top;
    const frame = this.viewer.stage?.frame();
    const s = frame?.elementToSlide ? applyAffine(frame.elementToSlide, { x, y }) : { x: NaN, y: NaN };
    return {
      slide: [s.x, s.y], element: [x, y], button: event.button, shift: event.shiftKey, alt: event.altKey,
      ctrl: event.ctrlKey || event.metaKey, time: event.timeStamp,
      pressure: event.pointerType === "pen" ? event.pressure : undefined, ...extra,
    };
  }

  /** Act on a ToolResult: draft, ops (one undoable action), view, cursor, message, done. */
  handle(result) {
    if (!result) {
      return;
    }
    if ("draft" in result) {
      this.canvas.setDraft(result.draft);
    }
    if (result.redraw) {
      this.refresh(); // the tool's live state changed (select: a dragged vertex or selection)
    }
    if (result.ops?.length) {
      this.apply(result.ops, { label: this.tool?.label ?? "" });
    }
    if (result.view) {
      this.zoomAt(result.view.zoomBy, result.view.at);
    }
    if (result.cursor !== undefined) {
      this.viewer.hooks.osd.style.cursor = result.cursor;
    }
    if (result.message !== undefined) {
      this.say(result.message);
    }
    if (result.ask) {
      // a tool asks for values (the rectangle's size): its answer is handled as a result too
      const ask = result.ask;
      this.ui.ask(ask).then((values) => values && this.handle(ask.then(values)));
    }
    if (result.done && this.tool?.start) {
      this.session = this.tool.start(this.#context()); // the tool stays, ready for the next shape
    }
  }

  /** Zoom the view by a factor about a point (CSS px of the pane). */
  zoomAt(factor, at) {
    const viewport = this.viewer.osd.viewport;
    const x = viewport.getFlip() ? this.viewer.osd.canvas.clientWidth - at[0] : at[0]; // OSD's maths ignore the flip
    const point = viewport.pointFromPixel(new OpenSeadragon.Point(x, at[1]), true);
    viewport.zoomBy(factor, point, true);
    viewport.applyConstraints();
  }
}
