/**
 * The Canvas 2D fallback of `gl-renderer.js`, for browsers without WebGL2: the same batches,
 * the same slot/style tables, the same clip rectangles and constant screen-width outlines, drawn
 * with `Path2D` objects built once per batch (relative to its origin) under `setTransform`.
 * Slower at 10^5+ vertices, but correct; the page says it is in use.
 */

import { FLAG_HOVERED, FLAG_SELECTED } from "./gl-renderer.js";
import { KIND_AREA, KIND_LINE } from "./batch.js";
import { affineScale } from "./view.js";

export class CanvasRenderer {
  /**
   * @param {CanvasRenderingContext2D} ctx
   * @param {import("./slot-table.js").SlotTable} table
   */
  constructor(ctx, table) {
    this.ctx = ctx;
    this.table = table;
  }

  /** Build the paths of a batch once. */
  upload(batch) {
    const paths = [];
    for (let i = 0; i < batch.itemSlot.length; i++) {
      const path = new Path2D();
      const kind = batch.itemKind[i];
      const first = batch.itemRingFirst[i];
      const end = batch.itemEnd[i];
      for (let r = 0; r < batch.itemRingCount[i]; r++) {
        const start = batch.ringStarts[first + r];
        const stop = r + 1 < batch.itemRingCount[i] ? batch.ringStarts[first + r + 1] : end;
        if (kind === KIND_AREA || kind === KIND_LINE) {
          path.moveTo(batch.verts[2 * start], batch.verts[2 * start + 1]);
          for (let v = start + 1; v < stop; v++) {
            path.lineTo(batch.verts[2 * v], batch.verts[2 * v + 1]);
          }
          if (kind === KIND_AREA) {
            path.closePath();
          }
        }
      }
      paths.push(path);
    }
    return { batch, paths, bytes: batch.verts.byteLength };
  }

  release() {}

  /**
   * @param {Array<{handle: object, toDevice: import("./view.js").Affine, clip: number[]}>} draws
   * @param {{dpr: number}} frame
   * @param {{opacity: number, fillOpacity: number, lineWidth: number, dotRadius: number}} style
   */
  draw(draws, frame, style) {
    const ctx = this.ctx;
    const t = this.table;
    const colour = (slot, alpha, lighten) => {
      const { rgb, alpha: a } = t.styleOf(t.slotStyle(slot));
      const mix = (c) => Math.round(c + (255 - c) * lighten);
      return `rgba(${mix(rgb[0])},${mix(rgb[1])},${mix(rgb[2])},${a * alpha})`;
    };
    for (const d of draws) {
      const { batch, paths } = d.handle;
      const m = d.toDevice;
      const scale = affineScale(m) || 1;
      ctx.save();
      ctx.setTransform(m.a, m.b, m.c, m.d, m.e, m.f);
      ctx.beginPath();
      ctx.rect(d.clip[0], d.clip[1], d.clip[2] - d.clip[0], d.clip[3] - d.clip[1]);
      ctx.clip();
      ctx.lineJoin = "miter";
      for (let i = 0; i < paths.length; i++) {
        const slot = batch.itemSlot[i];
        if (!t.visible(slot)) {
          continue;
        }
        const flags = t.flags(slot);
        const selected = (flags & FLAG_SELECTED) !== 0;
        const hovered = (flags & FLAG_HOVERED) !== 0;
        const kind = batch.itemKind[i];
        if (kind === KIND_AREA && style.fillOpacity > 0) {
          const boost = selected ? 1.5 : hovered ? 1.3 : 1;
          ctx.fillStyle = colour(slot, Math.min(1, style.opacity * style.fillOpacity * boost), 0);
          ctx.fill(paths[i], "evenodd");
        }
        if (kind === KIND_AREA || kind === KIND_LINE) {
          ctx.strokeStyle = colour(slot, style.opacity, selected ? 0.45 : hovered ? 0.25 : 0);
          ctx.lineWidth = (style.lineWidth * frame.dpr * (selected ? 1.6 : 1)) / scale;
          ctx.stroke(paths[i]);
        }
      }
      ctx.restore();
      // dots (and one-point lines): discs of a constant screen radius, not clipped (as in WebGL)
      for (let k = 0; k < batch.dotSlot.length; k++) {
        const slot = batch.dotSlot[k];
        if (!t.visible(slot)) {
          continue;
        }
        const selected = (t.flags(slot) & FLAG_SELECTED) !== 0;
        const x = batch.dots[2 * k], y = batch.dots[2 * k + 1];
        const px = m.a * x + m.c * y + m.e;
        const py = m.b * x + m.d * y + m.f;
        const r = style.dotRadius * frame.dpr * (selected ? 1.5 : 1);
        ctx.beginPath();
        ctx.arc(px, py, r, 0, 2 * Math.PI);
        ctx.fillStyle = colour(slot, style.opacity, selected ? 0.45 : 0);
        ctx.fill();
        ctx.lineWidth = 1.5;
        ctx.strokeStyle = `rgba(0,0,0,${style.opacity})`;
        ctx.stroke();
      }
    }
  }
}
