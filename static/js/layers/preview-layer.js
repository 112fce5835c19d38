/**
 * A temporary stage layer drawing GeoJSON Features (slide px) in one distinct style: a dashed
 * outline (orange by default) and a faint fill, dots as rings. The history panel uses it to show
 * objects as they were at an earlier version. It draws with Canvas 2D on the stage's label canvas
 * (`frame.labels`, over the annotation canvas) through the frame's `slideToDevice`, so it follows
 * pan, zoom, rotation and mirroring like every layer. `viewer.addLayer(preview)` shows it,
 * `viewer.removeLayer(preview)` removes it.
 */

import { applyAffine } from "./view.js";

export const PREVIEW_COLOR = [255, 140, 0];

/** Rings and lines of a geometry: `{paths: [[x, y][]], closed: boolean[], points: [x, y][]}`. */
export function geometryParts(geometry) {
  const out = { paths: [], closed: [], points: [] };
  const add = (g) => {
    if (!g) {
      return;
    }
    if (g.type === "Polygon") {
      g.coordinates.forEach((ring) => { out.paths.push(ring); out.closed.push(true); });
    } else if (g.type === "MultiPolygon") {
      g.coordinates.forEach((poly) => poly.forEach((ring) => { out.paths.push(ring); out.closed.push(true); }));
    } else if (g.type === "LineString") {
      out.paths.push(g.coordinates);
      out.closed.push(false);
    } else if (g.type === "MultiLineString") {
      g.coordinates.forEach((line) => { out.paths.push(line); out.closed.push(false); });
    } else if (g.type === "Point") {
      out.points.push(g.coordinates);
    } else if (g.type === "MultiPoint") {
      out.points.push(...g.coordinates);
    } else if (g.type === "GeometryCollection") {
      g.geometries.forEach(add);
    }
  };
  add(geometry);
  return out;
}

export class PreviewLayer {
  /**
   * @param {object[]} features GeoJSON Features in slide px
   * @param {{color?: number[], lineWidth?: number, dash?: number[]}} [style] CSS px
   */
  constructor(features, style = {}) {
    this.parts = features.map((f) => geometryParts(f.geometry));
    this.color = style.color ?? PREVIEW_COLOR;
    this.lineWidth = style.lineWidth ?? 3;
    this.dash = style.dash ?? [10, 5];
    this.stage = null;
  }

  attach(stage) {
    this.stage = stage;
    stage.add(this);
  }

  detach() {
    this.stage?.remove(this);
    this.stage = null;
  }

  /** @returns {boolean} true: it drew on the label canvas (the stage clears it next frame) */
  draw(frame) {
    const ctx = frame.labels;
    const m = frame.slideToDevice;
    const [r, g, b] = this.color;
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.lineWidth = this.lineWidth * frame.dpr;
    ctx.setLineDash(this.dash.map((d) => d * frame.dpr));
    ctx.strokeStyle = `rgb(${r}, ${g}, ${b})`;
    ctx.fillStyle = `rgba(${r}, ${g}, ${b}, 0.12)`;
    for (const part of this.parts) {
      const rings = new Path2D();
      part.paths.forEach((path, i) => {
        path.forEach(([x, y], k) => {
          const p = applyAffine(m, { x, y });
          if (k === 0) {
            rings.moveTo(p.x, p.y);
          } else {
            rings.lineTo(p.x, p.y);
          }
        });
        if (part.closed[i]) {
          rings.closePath();
        }
      });
      if (part.closed.some(Boolean)) {
        ctx.fill(rings, "evenodd");
      }
      ctx.stroke(rings);
      for (const [x, y] of part.points) {
        const p = applyAffine(m, { x, y });
        ctx.beginPath();
        ctx.arc(p.x, p.y, 6 * frame.dpr, 0, 2 * Math.PI);
        ctx.stroke();
      }
    }
    ctx.restore();
    return true;
  }
}
