/**
 * Every annotation set of a slide on a SlideViewer: one AnnotationLayer per set
 * (`annotation-layer.js`), in the order the store lists them (the last drawn on top).
 *
 * `const overlay = new AnnotationOverlay(viewer); await overlay.ready;` then:
 * - `overlay.layers` (AnnotationLayer[]), `overlay.layer(setId)`, `overlay.sets` (the store's list)
 * - `overlay.hitTest({x, y} element CSS px, tolerancePx)` → `{layer, annotation, distancePx}` or
 *   null, the top-most set first
 * - `overlay.flyTo(setId, annotationId)`, `overlay.select(setId, annotationId)` (null: none)
 * - `overlay.checkForChanges()` → Promise<boolean[]> per set (conditional GETs, 304 = unchanged)
 * - events: `painted` {ms, sets, annotations} once every set has drawn its first complete view;
 *   `data-change` {setId, version} when a set changed in the store; `error` {setId, message}.
 *
 * The pane carries `data-annotation-sets`, `data-annotations-painted-ms` (performance.now() of
 * the first complete paint) and `data-annotations-loaded` (annotations loaded so far), which the
 * end-to-end tests and `benchmarks/annotation_render.py` read.
 */

import { getJson } from "../api.js";
import { AnnotationLayer, prewarmBuildWorker } from "./annotation-layer.js";

/**
 * Whether the page draws annotations: `?annotations=0` turns the layers off (the benchmark's
 * baseline run, or a slide whose sets are too heavy for a weak machine).
 * @param {string} search location.search
 * @returns {boolean}
 */
export function annotationsWanted(search) {
  return new URLSearchParams(search).get("annotations") !== "0";
}

export class AnnotationOverlay extends EventTarget {
  /**
   * @param {import("../slide-viewer.js").SlideViewer} viewer
   * @param {object} [options] passed to every AnnotationLayer
   */
  constructor(viewer, options = {}) {
    super();
    this.viewer = viewer;
    this.options = options;
    this.layers = [];
    this.sets = [];
    this.paintedAt = null;
    prewarmBuildWorker(); // while the set list and the slide's first tiles load
    this.ready = this.#load();
  }

  async #load() {
    const pane = this.viewer.pane;
    let body;
    try {
      body = await getJson(this.viewer.slide.urls.annotations);
    } catch (err) {
      pane.dataset.annotationError = err.message;
      this.dispatchEvent(new CustomEvent("error", { detail: { setId: null, message: err.message } }));
      return this;
    }
    this.sets = body.sets ?? [];
    pane.dataset.annotationSets = String(this.sets.length);
    for (const set of this.sets) {
      this.add(set);
    }
    if (!this.sets.length) {
      this.#painted();
    }
    if (this.viewer.stage?.mode === "canvas2d") {
      showNotice(pane, "WebGL2 is not available here: annotations are drawn with the slower Canvas 2D fallback.");
    }
    return this;
  }

  /**
   * Draw one more set (e.g. one just created).
   * @param {object} set an entry of GET /api/annotations/<slide> `sets`
   * @returns {AnnotationLayer}
   */
  add(set) {
    const layer = new AnnotationLayer(this.viewer, set, this.options);
    layer.addEventListener("painted", () => {
      if (this.layers.every((l) => l.paintedAt !== null)) {
        this.#painted();
      }
    });
    layer.addEventListener("tile", () => {
      this.viewer.pane.dataset.annotationsLoaded = String(this.layers.reduce((n, l) => n + l.annotations().length, 0));
    });
    layer.addEventListener("data-change", (event) => {
      this.dispatchEvent(new CustomEvent("data-change", { detail: { setId: set.id, version: event.detail.version } }));
    });
    layer.addEventListener("error", (event) => {
      this.viewer.pane.dataset.annotationError = event.detail.message;
      this.dispatchEvent(new CustomEvent("error", { detail: { setId: set.id, message: event.detail.message } }));
    });
    this.layers.push(layer);
    this.viewer.addLayer(layer);
    return layer;
  }

  #painted() {
    if (this.paintedAt !== null) {
      return;
    }
    this.paintedAt = performance.now();
    const pane = this.viewer.pane;
    pane.dataset.annotationsPaintedMs = String(Math.round(this.paintedAt));
    const annotations = this.layers.reduce((n, l) => n + l.annotations().length, 0);
    pane.dataset.annotationsLoaded = String(annotations);
    this.dispatchEvent(new CustomEvent("painted", { detail: { ms: this.paintedAt, sets: this.layers.length, annotations } }));
  }

  /** @returns {AnnotationLayer|null} the layer of a set */
  layer(setId) {
    return this.layers.find((l) => l.setId === setId) ?? null;
  }

  /** The annotation under a point, searching the top-most set first. */
  hitTest(element_pt, tolerancePx = 4) {
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const hit = this.layers[i].hitTest(element_pt, tolerancePx);
      if (hit) {
        return hit;
      }
    }
    return null;
  }

  /** Fly to an annotation of a set. @returns {boolean} */
  flyTo(setId, annotationId, immediately = false) {
    return this.layer(setId)?.flyTo(annotationId, immediately) ?? false;
  }

  /** Select one annotation (every other set's selection is cleared); null clears it. */
  select(setId, annotationId) {
    for (const layer of this.layers) {
      layer.select(layer.setId === setId ? annotationId : null);
    }
  }

  /** @returns {Promise<boolean[]>} per set, whether it changed (and was reloaded) */
  checkForChanges() {
    return Promise.all(this.layers.map((l) => l.checkForChanges()));
  }
}

/**
 * Show a notice in the pane's bottom-left HUD.
 * @param {HTMLElement} pane
 * @param {string} text
 */
function showNotice(pane, text) {
  const hud = pane.querySelector(".hud-bottom-left") ?? pane;
  const p = document.createElement("p");
  p.className = "notice overlay-notice";
  p.dataset.overlayNotice = "";
  p.textContent = text;
  hud.append(p);
}
