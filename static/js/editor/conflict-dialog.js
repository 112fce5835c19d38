// The save queue's conflicts (a 412: someone changed the annotation since it was loaded) shown to the
// user: both versions drawn on the slide (mine dashed orange, the server's solid cyan, on a stage
// layer of their own) and a dialog with three choices, each handed to `queue.resolveConflict`:
//   "Keep mine"   resend mine over the server's version (If-Match = its version)
//   "Take theirs" drop mine (and my later queued changes of it); the editor shows the server's
//   "Keep both"   mine becomes a new annotation, the server's stays as it is
// When the server's copy was deleted there is no "both" ("Keep mine" recreates it); when mine is a
// delete, "Keep mine" deletes it anyway.
//
//   new ConflictDialog({queue, viewer, root: document.body})   // listens to queue "conflict"
//   dialog.element  ([data-conflict-dialog], <dialog>), dialog.layer (ConflictLayer)
// Pure helpers (node tests): featureShape, unionBox, describeVersion, choicesFor.

import { applyAffine } from "../layers/view.js";
import { Canvas2DLayer } from "./editor-canvas.js";

export const MINE_STYLE = { color: "#ff9800", dash: [8, 6], width: 3, label: "mine" };
export const THEIRS_STYLE = { color: "#00e5ff", dash: [], width: 2, label: "theirs (server)" };
const AREA_TYPES = new Set(["Polygon", "Rectangle", "Spline"]);

/** A GeoJSON ring without its closing vertex (the first one again). */
function openRing(ring) {
  const [first, last] = [ring[0], ring[ring.length - 1]];
  return ring.length > 1 && first[0] === last[0] && first[1] === last[1] ? ring.slice(0, -1) : ring;
}

/** A Feature as something to draw: {closed, dots, points: [[x, y]...]} in slide px; null without one. */
export function featureShape(feature) {
  const g = feature?.geometry;
  if (!g) return null;
  const type = feature.properties?.asap?.type;
  switch (g.type) {
    case "Polygon":
      return { closed: true, dots: false, points: openRing(g.coordinates[0] ?? []) };
    case "LineString":
      return { closed: AREA_TYPES.has(type), dots: false, points: g.coordinates };
    case "Point":
      return { closed: false, dots: true, points: [g.coordinates] };
    case "MultiPoint":
      return { closed: false, dots: true, points: g.coordinates };
    case "MultiPolygon":
      return { closed: true, dots: false, points: g.coordinates.flatMap((p) => openRing(p[0] ?? [])) };
    default:
      return null;
  }
}

/** The bounding box {x0, y0, x1, y1} of the features' vertices, or null. */
export function unionBox(features) {
  let box = null;
  for (const f of features) {
    for (const [x, y] of featureShape(f)?.points ?? []) {
      if (!box) box = { x0: x, y0: y, x1: x, y1: y };
      else box = { x0: Math.min(box.x0, x), y0: Math.min(box.y0, y), x1: Math.max(box.x1, x), y1: Math.max(box.y1, y) };
    }
  }
  return box;
}

/** One line about a version: "“Tumor 3”, Polygon, 412 points, group Tumor, version 7". */
export function describeVersion(feature, missing) {
  if (!feature) return missing;
  const p = feature.properties ?? {};
  const shape = featureShape(feature);
  const parts = [p.name ? `“${p.name}”` : "unnamed", p.asap?.type ?? feature.geometry?.type ?? "shape",
    `${shape?.points.length ?? 0} point${shape?.points.length === 1 ? "" : "s"}`];
  if (p.asap?.group) parts.push(`group ${p.asap.group}`);
  if (p.version != null) parts.push(`version ${p.version}`);
  return parts.join(", ");
}

/** The buttons of a conflict: [{choice, label, help}] (mine a delete, theirs deleted...). */
export function choicesFor(change, theirs) {
  if (change.kind === "delete") {
    return [
      { choice: "mine", label: "Delete it anyway", help: "delete the server's version too" },
      { choice: "theirs", label: "Take theirs", help: "keep the server's version, undo my delete" },
    ];
  }
  if (!theirs) {
    return [
      { choice: "mine", label: "Keep mine", help: "save mine again, as a new annotation" },
      { choice: "theirs", label: "Take theirs", help: "drop mine: it stays deleted" },
    ];
  }
  return [
    { choice: "mine", label: "Keep mine", help: "replace the server's version with mine" },
    { choice: "theirs", label: "Take theirs", help: "drop my change, show the server's version" },
    { choice: "both", label: "Keep both", help: "save mine as a new annotation beside theirs" },
  ];
}

/** A stage layer drawing the two versions of a conflict (Canvas 2D of its own). */
export class ConflictLayer extends Canvas2DLayer {
  constructor() {
    super("conflict"); // its own canvas, made and sized as the editor's (editor-canvas.js)
    this.versions = []; // [{feature, style}]
  }

  show(versions) {
    this.versions = versions.filter((v) => v.feature);
    if (this.canvas) this.canvas.dataset.versions = String(this.versions.length);
    this.stage?.requestDraw();
  }

  draw(frame) {
    const ctx = this.begin(frame);
    if (!ctx) return false;
    for (const { feature, style } of this.versions) {
      const shape = featureShape(feature);
      if (!shape || !shape.points.length) continue;
      const pts = shape.points.map(([x, y]) => applyAffine(frame.slideToElement, { x, y }));
      ctx.strokeStyle = style.color;
      ctx.fillStyle = style.color;
      ctx.lineWidth = style.width;
      ctx.setLineDash(style.dash);
      if (shape.dots) {
        for (const p of pts) {
          ctx.beginPath();
          ctx.arc(p.x, p.y, 5, 0, Math.PI * 2);
          ctx.stroke();
        }
        continue;
      }
      ctx.beginPath();
      pts.forEach((p, i) => (i ? ctx.lineTo(p.x, p.y) : ctx.moveTo(p.x, p.y)));
      if (shape.closed) ctx.closePath();
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.font = "600 12px system-ui, sans-serif";
      ctx.fillText(style.label, pts[0].x + 6, pts[0].y - 6);
    }
    return false;
  }
}

export class ConflictDialog extends EventTarget {
  /**
   * @param {{queue: import("./save-queue.js").SaveQueue, viewer: import("../slide-viewer.js").SlideViewer,
   *          root?: HTMLElement}} options
   */
  constructor({ queue, viewer, root = document.body }) {
    super();
    this.queue = queue;
    this.viewer = viewer;
    this.layer = new ConflictLayer();
    viewer.addLayer(this.layer);
    this.element = this.#build(root.ownerDocument);
    root.append(this.element);
    this.current = null;
    queue.addEventListener("conflict", (event) => this.open(event.detail));
  }

  #build(doc) {
    const dialog = doc.createElement("dialog");
    dialog.className = "dialog conflict-dialog";
    dialog.dataset.conflictDialog = "";
    dialog.setAttribute("aria-labelledby", "conflict-title");
    dialog.innerHTML = `
      <div class="dialog-head"><h2 id="conflict-title">Someone else changed this annotation</h2></div>
      <div class="panel-body">
        <p class="muted">Your change was not saved: the server has a newer version. Both are drawn on the slide.</p>
        <dl class="facts">
          <dt><span class="conflict-swatch conflict-mine" aria-hidden="true"></span>Mine</dt><dd data-mine></dd>
          <dt><span class="conflict-swatch conflict-theirs" aria-hidden="true"></span>Theirs</dt><dd data-theirs></dd>
        </dl>
        <div class="export-actions" data-choices></div>
        <p class="export-status" data-conflict-error role="alert"></p>
      </div>`;
    // placed through the CSSOM (the CSP allows no inline style attribute): top right, over the slide
    Object.assign(dialog.style, { position: "fixed", top: "60px", right: "16px", left: "auto", margin: "0",
      width: "min(440px, calc(100vw - 32px))", zIndex: "30" });
    for (const [cls, style] of [["conflict-mine", MINE_STYLE], ["conflict-theirs", THEIRS_STYLE]]) {
      Object.assign(dialog.querySelector(`.${cls}`).style, { display: "inline-block", width: "18px",
        marginRight: "6px", verticalAlign: "middle", borderTop: `${style.width}px ${style.dash.length ? "dashed" : "solid"} ${style.color}` });
    }
    dialog.addEventListener("cancel", (event) => event.preventDefault()); // a choice is needed: Esc does not drop it
    return dialog;
  }

  /** Show conflict *detail* ({change, mine, theirs}) on the slide and in the dialog. */
  open(detail) {
    this.current = detail;
    const { change, mine, theirs } = detail;
    const mineFeature = change.kind === "delete" ? null : mine;
    this.element.querySelector("[data-mine]").textContent =
      describeVersion(mineFeature, change.kind === "delete" ? "deleted by me" : "—");
    this.element.querySelector("[data-theirs]").textContent = describeVersion(theirs, "deleted on the server");
    this.element.querySelector("[data-conflict-error]").textContent = "";
    const buttons = this.element.querySelector("[data-choices]");
    buttons.replaceChildren(...choicesFor(change, theirs).map(({ choice, label, help }) => {
      const b = this.element.ownerDocument.createElement("button");
      b.type = "button";
      b.className = "btn";
      b.dataset.choice = choice;
      b.textContent = label;
      b.title = help;
      b.addEventListener("click", () => this.choose(choice));
      return b;
    }));
    this.layer.show([{ feature: theirs, style: THEIRS_STYLE }, { feature: mineFeature, style: MINE_STYLE }]);
    this.#frame([mineFeature, theirs].filter(Boolean));
    const paneTop = this.viewer.pane?.getBoundingClientRect?.().top ?? 48;
    this.element.style.top = `${Math.round(paneTop + 12)}px`; // over the slide, below the toolbar
    if (!this.element.open) this.element.show(); // not modal: the slide stays pannable
    buttons.querySelector("button")?.focus();
  }

  /** Zoom the view on both versions. */
  #frame(features) {
    const box = unionBox(features);
    const pane = this.viewer.pane;
    if (!box || !pane?.clientWidth) return;
    const w = Math.max(box.x1 - box.x0, 1);
    const h = Math.max(box.y1 - box.y0, 1);
    const zoom = Math.min(pane.clientWidth / w, pane.clientHeight / h) * 0.6;
    const state = this.viewer.getViewState();
    this.viewer.setViewState({ ...state, x: (box.x0 + box.x1) / 2, y: (box.y0 + box.y1) / 2, zoom: Math.min(zoom, 4) });
  }

  async choose(choice) {
    const detail = this.current;
    if (!detail) return;
    try {
      await this.queue.resolveConflict(detail.change.id, choice);
    } catch (err) {
      this.element.querySelector("[data-conflict-error]").textContent = `error: ${err.message}`;
      return;
    }
    if (this.current === detail) { // (a next conflict may have opened meanwhile)
      this.current = null;
      this.layer.show([]);
      this.element.close();
    }
    this.dispatchEvent(new CustomEvent("chosen", { detail: { ...detail, choice } }));
  }
}
