/**
 * The editor's stage layer: a Canvas 2D of its own over the annotation canvas, drawing drafts
 * (the shape being drawn, with its live measure) and the shapes the editor holds until the
 * annotation layer draws them (just saved, being edited, selected). It implements the stage's
 * layer protocol: `attach(stage)`, `detach()`, `draw(frame)`.
 *
 * `setDraft(draft|null)`, `setShapes([{type, points, color, style: "saved"|"selected"|..., vertices?, handles?}])`
 * (`handles`: `{active?, cursor?}` draws vertex-edit.js's screen-space handles)
 */

import { flattenSpline } from "../layers/geometry.js";
import { applyAffine } from "../layers/view.js";
import { drawHandles } from "./vertex-edit.js";

const DRAFT_COLOR = "#00e676";
const LINE_PX = 2;
const DOT_PX = 5;
const VERTEX_PX = 7;

/**
 * A stage layer drawing with Canvas 2D on a canvas of its own (over the annotation canvas):
 * `attach`/`detach` make and remove it; `begin(frame)` sizes and clears it and returns its context
 * set to CSS px (null before it is attached). The editor canvas and the conflict layer are ones.
 */
export class Canvas2DLayer {
  /** @param {string} name `data-overlay` and class suffix of the canvas */
  constructor(name) {
    this.name = name;
    this.stage = null;
    this.canvas = null;
    this.ctx = null;
  }

  attach(stage) {
    this.stage = stage;
    const c = document.createElement("canvas");
    c.className = `overlay-canvas overlay-${this.name}`;
    c.dataset.overlay = this.name;
    c.setAttribute("aria-hidden", "true");
    stage.viewer.osd.canvas.append(c);
    this.canvas = c;
    this.ctx = c.getContext("2d");
    stage.add(this);
  }

  detach() {
    this.stage?.remove(this);
    this.canvas?.remove();
    this.stage = null;
  }

  /**
   * Size the canvas to the frame, clear it, and set the context to CSS px.
   * @returns {CanvasRenderingContext2D|null}
   */
  begin(frame) {
    const c = this.canvas;
    if (!c) {
      return null;
    }
    if (c.width !== frame.width || c.height !== frame.height) {
      c.width = frame.width;
      c.height = frame.height;
    }
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, c.width, c.height);
    ctx.setTransform(frame.dpr, 0, 0, frame.dpr, 0, 0);
    return ctx;
  }
}

export class EditorCanvas extends Canvas2DLayer {
  constructor() {
    super("editor");
    this.draft = null;
    this.shapes = [];
  }

  /** The shape being drawn (or null), then a redraw. */
  setDraft(draft) {
    this.draft = draft ?? null;
    this.stage?.requestDraw();
  }

  /** The shapes the editor draws itself, then a redraw. */
  setShapes(shapes) {
    this.shapes = shapes;
    this.stage?.requestDraw();
  }

  draw(frame) {
    const ctx = this.begin(frame); // CSS px from here on
    if (!ctx) {
      return false;
    }
    const toEl = (p) => applyAffine(frame.slideToElement, { x: p[0], y: p[1] });
    for (const shape of this.shapes) {
      this.#shape(ctx, toEl, shape.type, shape.points, shape.color, shape.style, true, shape.vertices);
      if (shape.handles) {
        drawHandles(ctx, frame, shape.points, shape.handles, shape.color); // screen-space, thinned (E1b)
      }
    }
    if (this.draft) {
      const d = this.draft;
      this.#shape(ctx, toEl, d.type, d.coordinates, d.color ?? DRAFT_COLOR, d.style ?? "draft", d.closed ?? false, d.vertices ?? true, d.rubber);
      if (d.label && d.coordinates.length) {
        this.#label(ctx, toEl(d.coordinates[d.coordinates.length - 1]), d.label);
      }
    }
    return false;
  }

  #shape(ctx, toEl, type, points, color, style, closed, vertices = false, rubber = false) {
    if (!points.length) {
      return;
    }
    ctx.save();
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.lineWidth = style === "selected" ? LINE_PX * 1.5 : LINE_PX;
    ctx.lineJoin = "round";
    const els = points.map(toEl);
    if (type === "Dot" || type === "PointSet") {
      for (const p of els) {
        ctx.beginPath();
        ctx.arc(p.x, p.y, DOT_PX, 0, 2 * Math.PI);
        ctx.fill();
      }
      ctx.restore();
      return;
    }
    let path = els;
    if (type === "Spline" && points.length >= 2) {
      path = flattenSpline(points, closed).map(toEl);
    }
    if (style === "draft") {
      ctx.shadowColor = "rgba(0, 0, 0, 0.6)";
      ctx.shadowBlur = 2;
    }
    ctx.beginPath();
    const solid = rubber && type !== "Spline" ? path.length - 1 : path.length;
    path.slice(0, solid).forEach((p, i) => (i ? ctx.lineTo(p.x, p.y) : ctx.moveTo(p.x, p.y)));
    if (closed && type !== "Measurement" && !(type === "Spline")) {
      ctx.closePath();
    }
    ctx.stroke();
    if (rubber && type !== "Spline" && path.length >= 2) {
      ctx.setLineDash([6, 4]);
      ctx.beginPath();
      const a = path[path.length - 2];
      const b = path[path.length - 1];
      ctx.moveTo(a.x, a.y);
      ctx.lineTo(b.x, b.y);
      if (type !== "Measurement" && path.length >= 3) {
        ctx.lineTo(path[0].x, path[0].y);
      }
      ctx.stroke();
      ctx.setLineDash([]);
    }
    if (vertices) {
      const shown = rubber ? els.slice(0, -1) : els;
      for (const p of shown) {
        ctx.fillRect(p.x - VERTEX_PX / 2, p.y - VERTEX_PX / 2, VERTEX_PX, VERTEX_PX);
      }
    }
    ctx.restore();
  }

  #label(ctx, at, text) {
    ctx.save();
    ctx.font = "13px system-ui, sans-serif";
    const w = ctx.measureText(text).width + 10;
    const x = at.x + 12;
    const y = at.y + 12;
    ctx.fillStyle = "rgba(0, 0, 0, 0.7)";
    ctx.fillRect(x, y, w, 20);
    ctx.fillStyle = "#fff";
    ctx.textBaseline = "middle";
    ctx.fillText(text, x + 5, y + 10);
    ctx.restore();
  }
}
