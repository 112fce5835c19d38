/**
 * Turning a viewport query's GeoJSON into GPU-ready typed arrays: one **batch** per region tile.
 * Pure (no DOM, no WebGL): runs in the build Worker (`build-worker.js`) and in `node --test`.
 *
 * A batch holds, relative to its origin (the tile's top-left corner, so float32 stays exact):
 * - `verts` (Float32 x, y) every vertex of every annotation (rings, polylines, points) and
 *   `vertSlot` (Uint32) its annotation's slot; `tris` (Uint32) earcut triangles into `verts`,
 *   only those meeting the tile (plus a margin);
 * - `segs` (Float32 x0, y0, x1, y1) + `segSlot`: outline and line segments meeting the tile, drawn
 *   as instanced quads widened in the vertex shader;
 * - `dots` (Float32 x, y) + `dotSlot`: Dot and PointSet points, instanced discs;
 * - hit-test tables: per item (annotation) `itemSlot`, `itemKind`, `itemFirst`/`itemEnd` (vertex
 *   range), `itemRingFirst`/`itemRingCount` into `ringStarts`, and `index`: a Flatbush over the
 *   items' boxes (its ArrayBuffer is transferable);
 * - `labels`: measurement lines with their length text (slide px, absolute).
 *
 * Slots: every annotation (by store id) gets one slot number per layer for its life (the
 * `Registry`), so the per-annotation state texture (hidden, selected, hovered) and the per-style
 * colour texture are shared by every batch and every level of detail; restyling or hiding never
 * touches geometry.
 */

import earcut from "../../vendor/earcut-3.2.4/earcut.js";
import { formatLength } from "../coords.js";
import Flatbush from "./flatbush.js";
import { asapArea, flattenSpline, measurementLength } from "./geometry.js";

/** Item kinds of the hit-test tables. */
export const KIND_AREA = 0;
export const KIND_LINE = 1;
export const KIND_POINTS = 2;

/** Style key of an annotation: its direct group, or (ungrouped) its own colour. */
export function styleKey(group, color) {
  return group === null || group === undefined ? `color:${color ?? ""}` : `group:${group}`;
}

/** Slots and styles of one layer, kept across batches and levels of detail. */
export class Registry {
  constructor() {
    /** @type {Map<number|string, {slot: number, version: number}>} */
    this.byId = new Map();
    /** @type {Map<string, number>} */
    this.styles = new Map();
    this.slotCount = 0;
  }

  /**
   * The slot of an annotation; `fresh` tells whether its metadata must be (re)sent.
   * @returns {{slot: number, fresh: boolean}}
   */
  slot(id, version) {
    const known = this.byId.get(id);
    if (known) {
      const fresh = known.version !== version;
      known.version = version;
      return { slot: known.slot, fresh };
    }
    const slot = this.slotCount++;
    this.byId.set(id, { slot, version });
    return { slot, fresh: true };
  }

  /**
   * The style index of a key, and whether it is new.
   * @returns {{style: number, fresh: boolean}}
   */
  style(key) {
    const known = this.styles.get(key);
    if (known !== undefined) {
      return { style: known, fresh: false };
    }
    const style = this.styles.size;
    this.styles.set(key, style);
    return { style, fresh: true };
  }
}

/** A growable typed array. */
class Grow {
  constructor(Type, capacity = 1024) {
    this.Type = Type;
    this.data = new Type(capacity);
    this.length = 0;
  }

  push(v) {
    if (this.length === this.data.length) {
      const next = new this.Type(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }

  /** @returns {any} a right-sized copy */
  done() {
    return this.data.slice(0, this.length);
  }
}

/**
 * The drawable shape of one Feature, in absolute slide px: rings (areas), a polyline or points.
 * Splines are flattened as ASAP draws them, at Qt's 0.5 px threshold scaled to the level's
 * tolerance (ASAP flattens at 0.5 device px of its own view).
 * @param {any} feature a Feature of the set body
 * @param {number} tolerance the level's simplification in slide px (0: exact)
 * @returns {{kind: number, rings: number[][][], closed: boolean}|null}
 */
export function shapeOf(feature, tolerance) {
  const geometry = feature?.geometry;
  const type = feature?.properties?.asap?.type ?? null;
  if (!geometry || !Array.isArray(geometry.coordinates)) {
    return null;
  }
  const finite = (p) => Array.isArray(p) && Number.isFinite(p[0]) && Number.isFinite(p[1]);
  const open = (ring) => {
    const pts = ring.filter(finite);
    if (pts.length > 1 && pts[0][0] === pts[pts.length - 1][0] && pts[0][1] === pts[pts.length - 1][1]) {
      pts.pop(); // GeoJSON repeats the first point; ASAP's rings are open
    }
    return pts;
  };
  const area = (rings) => {
    const out = [];
    for (const ring of rings) {
      let pts = open(ring);
      if (type === "Spline" && pts.length >= 2) {
        pts = flattenSpline(pts, true, 0.5 * Math.max(1, tolerance));
        if (pts.length > 1) {
          pts.pop(); // the flattened closed curve ends where it starts
        }
      }
      if (pts.length) {
        out.push(pts);
      }
    }
    return out;
  };
  switch (geometry.type) {
    case "Polygon": {
      const rings = area(geometry.coordinates);
      return rings.length ? { kind: KIND_AREA, rings, closed: true } : null;
    }
    case "MultiPolygon": {
      const rings = geometry.coordinates.flatMap((poly) => (Array.isArray(poly) ? area(poly) : []));
      return rings.length ? { kind: KIND_AREA, rings, closed: true } : null;
    }
    case "LineString": {
      const pts = geometry.coordinates.filter(finite);
      return pts.length ? { kind: KIND_LINE, rings: [pts], closed: false } : null;
    }
    case "MultiLineString": {
      const rings = geometry.coordinates.map((l) => (Array.isArray(l) ? l.filter(finite) : [])).filter((l) => l.length);
      return rings.length ? { kind: KIND_LINE, rings, closed: false } : null;
    }
    case "Point":
      return finite(geometry.coordinates) ? { kind: KIND_POINTS, rings: [[geometry.coordinates]], closed: false } : null;
    case "MultiPoint": {
      const pts = geometry.coordinates.filter(finite);
      return pts.length ? { kind: KIND_POINTS, rings: [pts], closed: false } : null;
    }
    default:
      return null;
  }
}

/**
 * Build the batch of one region tile.
 * @param {any} body the set body of `GET set.urls.self?bbox=…&simplify=…` (a FeatureCollection)
 * @param {{x0: number, y0: number, x1: number, y1: number}} rect the tile, slide px
 * @param {number} margin slide px around the tile whose marks still paint into it
 * @param {number} tolerance the level's simplification, slide px
 * @param {Registry} registry
 * @param {{mppX?: number|null}} [options]
 * @returns {{batch: object, annotations: object[], styles: Array<{key: string, style: number}>, transfer: ArrayBuffer[]}}
 */
export function buildBatch(body, rect, margin, tolerance, registry, options = {}) {
  const ox = rect.x0;
  const oy = rect.y0;
  const cx0 = rect.x0 - margin, cy0 = rect.y0 - margin, cx1 = rect.x1 + margin, cy1 = rect.y1 + margin;
  const verts = new Grow(Float32Array, 4096);
  const vertSlot = new Grow(Uint32Array, 2048);
  const tris = new Grow(Uint32Array, 4096);
  const segs = new Grow(Float32Array, 4096);
  const segSlot = new Grow(Uint32Array, 1024);
  const dots = new Grow(Float32Array, 256);
  const dotSlot = new Grow(Uint32Array, 128);
  const ringStarts = new Grow(Uint32Array, 256);
  const items = [];
  const annotations = [];
  const styles = [];
  const labels = [];
  for (const feature of Array.isArray(body?.features) ? body.features : []) {
    const shape = shapeOf(feature, tolerance);
    if (!shape) {
      continue;
    }
    const props = feature.properties ?? {};
    const asap = props.asap ?? {};
    const id = feature.id ?? `${annotations.length}:${items.length}`;
    const version = props.version ?? 0;
    const key = styleKey(asap.group ?? null, asap.color ?? null);
    const st = registry.style(key);
    if (st.fresh) {
      styles.push({ key, style: st.style, group: asap.group ?? null, color: asap.color ?? null });
    }
    const { slot, fresh } = registry.slot(id, version);
    const first = verts.length / 2;
    let bx0 = Infinity, by0 = Infinity, bx1 = -Infinity, by1 = -Infinity;
    const ringFirst = ringStarts.length;
    const flat = [];
    const holes = [];
    for (const ring of shape.rings) {
      ringStarts.push(verts.length / 2);
      if (flat.length) {
        holes.push(flat.length / 2);
      }
      for (const p of ring) {
        const x = p[0], y = p[1];
        bx0 = Math.min(bx0, x); by0 = Math.min(by0, y); bx1 = Math.max(bx1, x); by1 = Math.max(by1, y);
        verts.push(x - ox);
        verts.push(y - oy);
        vertSlot.push(slot);
        flat.push(x - ox, y - oy);
      }
    }
    const end = verts.length / 2;
    if (shape.kind === KIND_AREA && end - first >= 3) {
      const local = earcut(flat, holes.length ? holes : undefined);
      for (let t = 0; t < local.length; t += 3) {
        const a = local[t], b = local[t + 1], c = local[t + 2];
        const xa = flat[2 * a], xb = flat[2 * b], xc = flat[2 * c];
        const ya = flat[2 * a + 1], yb = flat[2 * b + 1], yc = flat[2 * c + 1];
        if (Math.max(xa, xb, xc) + ox < cx0 || Math.min(xa, xb, xc) + ox > cx1 ||
            Math.max(ya, yb, yc) + oy < cy0 || Math.min(ya, yb, yc) + oy > cy1) {
          continue; // outside this tile: another tile draws it
        }
        tris.push(first + a);
        tris.push(first + b);
        tris.push(first + c);
      }
    }
    if (shape.kind !== KIND_POINTS) {
      for (let r = 0; r < shape.rings.length; r++) {
        const start = ringStarts.data[ringFirst + r];
        const stop = r + 1 < shape.rings.length ? ringStarts.data[ringFirst + r + 1] : end;
        const n = stop - start;
        const edges = shape.closed ? (n >= 2 ? n : 0) : n - 1;
        for (let i = 0; i < edges; i++) {
          const a = start + i;
          const b = start + ((i + 1) % n);
          const x0 = verts.data[2 * a], y0 = verts.data[2 * a + 1];
          const x1 = verts.data[2 * b], y1 = verts.data[2 * b + 1];
          if (Math.max(x0, x1) + ox < cx0 || Math.min(x0, x1) + ox > cx1 ||
              Math.max(y0, y1) + oy < cy0 || Math.min(y0, y1) + oy > cy1) {
            continue;
          }
          segs.push(x0); segs.push(y0); segs.push(x1); segs.push(y1);
          segSlot.push(slot);
        }
        if (n === 1) { // a one-point line or ring: a dot, so it can be seen and clicked
          dots.push(verts.data[2 * start]); dots.push(verts.data[2 * start + 1]);
          dotSlot.push(slot);
        }
      }
    } else {
      for (let i = first; i < end; i++) {
        const x = verts.data[2 * i], y = verts.data[2 * i + 1];
        if (x + ox < cx0 || x + ox > cx1 || y + oy < cy0 || y + oy > cy1) {
          continue;
        }
        dots.push(x); dots.push(y);
        dotSlot.push(slot);
      }
    }
    items.push({ slot, kind: shape.kind, first, end, ringFirst, ringCount: shape.rings.length,
      box: [bx0 - ox, by0 - oy, bx1 - ox, by1 - oy], closed: shape.closed });
    const points = shape.rings[0];
    if (asap.type === "Measurement" && points.length >= 2) {
      const lengthPx = measurementLength(points);
      const mpp = options.mppX ?? null;
      const text = mpp ? formatLength(lengthPx * mpp) : `${Math.round(lengthPx)} px`;
      labels.push({ slot, x0: points[0][0], y0: points[0][1], x1: points[points.length - 1][0],
        y1: points[points.length - 1][1], text });
    }
    if (fresh) {
      // a big outline cut to the tile (`clip=1`) carries the whole annotation's measures
      const whole = props.whole && Array.isArray(props.whole.bbox) ? props.whole : null;
      annotations.push({
        slot, id, version, name: props.name ?? "", type: asap.type ?? null, group: asap.group ?? null,
        color: asap.color ?? null, style: st.style, bbox: whole ? whole.bbox : [bx0, by0, bx1, by1],
        points: whole ? whole.points : end - first,
        areaPx: whole ? whole.area : shape.kind === KIND_AREA ? asapArea(shape.rings[0]) : 0,
        lengthPx: asap.type === "Measurement" ? measurementLength(points) : null,
      });
    }
  }
  let index = null;
  if (items.length) {
    const tree = new Flatbush(items.length);
    for (const it of items) {
      tree.add(it.box[0], it.box[1], it.box[2], it.box[3]);
    }
    tree.finish();
    index = tree.data;
  }
  const batch = {
    origin: { x: ox, y: oy },
    rect: { ...rect },
    verts: verts.done(),
    vertSlot: vertSlot.done(),
    tris: tris.done(),
    segs: segs.done(),
    segSlot: segSlot.done(),
    dots: dots.done(),
    dotSlot: dotSlot.done(),
    ringStarts: ringStarts.done(),
    itemSlot: Uint32Array.from(items, (it) => it.slot),
    itemKind: Uint8Array.from(items, (it) => it.kind),
    itemFirst: Uint32Array.from(items, (it) => it.first),
    itemEnd: Uint32Array.from(items, (it) => it.end),
    itemRingFirst: Uint32Array.from(items, (it) => it.ringFirst),
    itemRingCount: Uint32Array.from(items, (it) => it.ringCount),
    itemArea: Float64Array.from(items, (it) => (it.box[2] - it.box[0]) * (it.box[3] - it.box[1])),
    index,
    labels,
    version: body?.version ?? null,
  };
  const transfer = [batch.verts, batch.vertSlot, batch.tris, batch.segs, batch.segSlot, batch.dots, batch.dotSlot,
    batch.ringStarts, batch.itemSlot, batch.itemKind, batch.itemFirst, batch.itemEnd, batch.itemRingFirst,
    batch.itemRingCount, batch.itemArea].map((a) => a.buffer);
  if (index) {
    transfer.push(index);
  }
  return { batch, annotations, styles, transfer };
}
