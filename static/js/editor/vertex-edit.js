/**
 * Vertex editing of one annotation (pure, no DOM): which handles to draw, which vertex or edge a
 * pointer is on, and the ops of dragging, inserting and deleting vertices.
 *
 * Handles live in screen space, so they stay usable at any zoom: the hit radius is in CSS px (a
 * polygon drawn at 1.25x edited at 40x is picked as easily as at 1.25x); only handles inside the
 * view are drawn, and at most one per `spacingPx` cell of the screen (18 CSS px), so a 10,000-vertex outline at
 * fit draws a few hundred handles, not 10,000. The vertex nearest the cursor (within the hit
 * radius) and the active vertex always have their handle.
 *
 * Shapes are ASAP point lists `[[x, y], ...]` in slide px (a polygon's ring open: no repeated
 * first point). Rules per ASAP type:
 * - Polygon, Spline: drag, insert on an edge (the closing edge too; a spline's edges are the
 *   curve ASAP draws between two control points), delete while ≥ 3 remain;
 * - Rectangle (4 corners, axis-aligned in slide space): dragging a corner moves its two
 *   neighbours so it stays a rectangle (one `set-coordinates` op of 4 points); no insert/delete;
 * - PointSet: drag, delete while ≥ 1 remains; Measurement (2 points), Dot (1): drag only.
 *
 * Ops are diffs (`move-vertex`, `insert-vertex`, `delete-vertex`), so dragging a vertex of a
 * 10,000-vertex polygon stores one point in the undo history, not the polygon.
 */

import { segmentDistanceSq, splineBeziers } from "../layers/geometry.js";

/** Radius of a drawn handle, CSS px. */
export const HANDLE_RADIUS_PX = 4;
/** Distance at which a pointer is on a vertex or an edge, CSS px. */
export const HIT_RADIUS_PX = 8;
/** Smallest on-screen distance between two drawn handles, CSS px. */
export const HANDLE_SPACING_PX = 18;

/** Fewest vertices a type keeps when one is deleted (absent: vertices cannot be deleted). */
const MIN_POINTS = { Polygon: 3, Spline: 3, PointSet: 1 };
/** Types whose outline is a closed ring of edges one can insert a vertex on. */
const RING_TYPES = new Set(["Polygon", "Spline"]);

/**
 * @param {string} type ASAP type
 * @returns {{drag: boolean, insert: boolean, remove: boolean, minPoints: number}} what vertex editing allows
 */
export function vertexRules(type) {
  const min = MIN_POINTS[type];
  return {
    drag: type !== "None",
    insert: RING_TYPES.has(type),
    remove: min !== undefined,
    minPoints: min ?? Infinity,
  };
}

/**
 * The vertices whose handle is drawn: those inside the view, thinned to one per `spacingPx`
 * screen cell (the first vertex of a cell along the outline), plus the vertex nearest the cursor
 * (within `hitPx`) and the active one.
 * @param {Array<[number, number]>} points slide px
 * @param {{a: number, b: number, c: number, d: number, e: number, f: number}} toScreen slide px → CSS px
 * @param {number} width view, CSS px
 * @param {number} height
 * @param {{spacingPx?: number, cursor?: [number, number]|null, hitPx?: number, active?: number|null}} [options]
 *   `cursor` in CSS px
 * @returns {{indices: number[], nearest: number}} `indices` ascending; `nearest` = vertex under the cursor or -1
 */
export function visibleHandles(points, toScreen, width, height, options = {}) {
  const spacing = Math.max(1, options.spacingPx ?? HANDLE_SPACING_PX);
  const hit = options.hitPx ?? HIT_RADIUS_PX;
  const cursor = options.cursor ?? null;
  const active = options.active ?? null;
  const cols = Math.max(1, Math.ceil(width / spacing));
  const rows = Math.max(1, Math.ceil(height / spacing));
  const taken = new Uint8Array(cols * rows);
  const { a, b, c, d, e, f } = toScreen;
  const indices = [];
  let nearest = -1;
  let nearestD2 = hit * hit;
  for (let i = 0; i < points.length; i++) {
    const p = points[i];
    const x = a * p[0] + c * p[1] + e;
    const y = b * p[0] + d * p[1] + f;
    if (cursor) {
      const dx = x - cursor[0];
      const dy = y - cursor[1];
      const d2 = dx * dx + dy * dy;
      if (d2 <= nearestD2) {
        nearestD2 = d2;
        nearest = i;
      }
    }
    if (x < 0 || y < 0 || x >= width || y >= height) {
      if (i === active) {
        indices.push(i);
      }
      continue;
    }
    const cell = Math.floor(y / spacing) * cols + Math.floor(x / spacing);
    if (!taken[cell] || i === active) {
      taken[cell] = 1;
      indices.push(i);
    }
  }
  if (nearest >= 0 && !indices.includes(nearest)) {
    indices.push(nearest);
    indices.sort((u, v) => u - v);
  }
  return { indices, nearest };
}

/**
 * The vertex nearest a slide point within `radius` slide px.
 * @param {Array<[number, number]>} points
 * @param {[number, number]} at slide px
 * @param {number} radius slide px (a CSS px radius / zoom)
 * @returns {number} its index, -1 if none
 */
export function pickVertex(points, at, radius) {
  let best = -1;
  let bestD2 = radius * radius;
  for (let i = 0; i < points.length; i++) {
    const dx = points[i][0] - at[0];
    const dy = points[i][1] - at[1];
    const d2 = dx * dx + dy * dy;
    if (d2 <= bestD2) {
      bestD2 = d2;
      best = i;
    }
  }
  return best;
}

/**
 * The edge nearest a slide point within `radius` slide px, and where a vertex inserted there goes.
 * @param {string} type ASAP type (edges exist for Polygon and Spline, closing edge included)
 * @param {Array<[number, number]>} points
 * @param {[number, number]} at slide px
 * @param {number} radius slide px
 * @returns {{index: number, at: [number, number], distance: number}|null} `index` = the index the new
 *   vertex gets (after the edge's first vertex); `at` = the point of the edge nearest `at`
 */
export function pickEdge(type, points, at, radius) {
  const n = points.length;
  if (!RING_TYPES.has(type) || n < 2) {
    return null;
  }
  if (type === "Spline" && n >= 3) {
    return pickSplineEdge(points, at, radius);
  }
  const [x, y] = at;
  let best = -1;
  let bestD2 = radius * radius;
  for (let i = 0; i < n; i++) {
    const p = points[i];
    const q = points[(i + 1) % n];
    const d2 = segmentDistanceSq(x, y, p[0], p[1], q[0], q[1]);
    if (d2 <= bestD2) {
      bestD2 = d2;
      best = i;
    }
  }
  if (best < 0) {
    return null;
  }
  const p = points[best];
  const q = points[(best + 1) % n];
  const dx = q[0] - p[0];
  const dy = q[1] - p[1];
  const len2 = dx * dx + dy * dy;
  const t = len2 > 0 ? Math.min(1, Math.max(0, ((x - p[0]) * dx + (y - p[1]) * dy) / len2)) : 0;
  return { index: best + 1, at: [p[0] + t * dx, p[1] + t * dy], distance: Math.sqrt(bestD2) };
}

/** Samples of a cubic Bézier segment a spline edge is tested against (plenty for 8 CSS px). */
const SPLINE_SAMPLES = 32;

/**
 * `pickEdge` of a Spline: the curve ASAP draws (closed, centripetal Catmull-Rom Béziers), not its
 * control polygon; the new control point goes after the segment's first one, where the curve is
 * nearest. A segment whose control points' box is farther than `radius` is skipped (a Bézier
 * lies inside the hull of its control points).
 */
function pickSplineEdge(points, at, radius) {
  const [x, y] = at;
  const r2 = radius * radius;
  let best = null;
  let bestD2 = r2;
  splineBeziers(points, true).forEach((b, i) => {
    const xs = b.map((p) => p[0]);
    const ys = b.map((p) => p[1]);
    const dx = Math.max(Math.min(...xs) - x, 0, x - Math.max(...xs));
    const dy = Math.max(Math.min(...ys) - y, 0, y - Math.max(...ys));
    if (!(dx * dx + dy * dy <= bestD2)) {
      return; // also a segment with NaN controls (repeated points)
    }
    let prev = b[0];
    for (let k = 1; k <= SPLINE_SAMPLES; k++) {
      const t = k / SPLINE_SAMPLES;
      const u = 1 - t;
      const w = [u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t];
      const q = [0, 1].map((c) => w[0] * b[0][c] + w[1] * b[1][c] + w[2] * b[2][c] + w[3] * b[3][c]);
      const d2 = segmentDistanceSq(x, y, prev[0], prev[1], q[0], q[1]);
      if (d2 <= bestD2) {
        const ex = q[0] - prev[0];
        const ey = q[1] - prev[1];
        const len2 = ex * ex + ey * ey;
        const s = len2 > 0 ? Math.min(1, Math.max(0, ((x - prev[0]) * ex + (y - prev[1]) * ey) / len2)) : 0;
        bestD2 = d2;
        best = { index: i + 1, at: [prev[0] + s * ex, prev[1] + s * ey], distance: Math.sqrt(d2) };
      }
      prev = q;
    }
  });
  return best;
}

/**
 * The rectangle after its corner `index` went to `to`: the opposite corner stays, the neighbour
 * that shared the corner's x takes the new x, the other the new y (axis-aligned in slide space).
 * @param {Array<[number, number]>} points 4 corners
 * @param {number} index
 * @param {[number, number]} to
 * @returns {Array<[number, number]>} 4 new corners, same order
 */
export function dragRectangleCorner(points, index, to) {
  const out = points.map((p) => [p[0], p[1]]);
  const corner = points[index];
  const opposite = points[(index + 2) % 4];
  out[index] = [to[0], to[1]];
  for (const n of [(index + 1) % 4, (index + 3) % 4]) {
    const p = points[n];
    // this neighbour is (corner.x, opposite.y) or (opposite.x, corner.y)
    const sharesX = Math.abs(p[0] - corner[0]) + Math.abs(p[1] - opposite[1]) <=
      Math.abs(p[0] - opposite[0]) + Math.abs(p[1] - corner[1]);
    out[n] = sharesX ? [to[0], opposite[1]] : [opposite[0], to[1]];
  }
  return out;
}

/** Whether 4 points are an axis-aligned rectangle (each edge horizontal or vertical). */
export function isAxisAligned(points) {
  if (points.length !== 4) {
    return false;
  }
  for (let i = 0; i < 4; i++) {
    const p = points[i];
    const q = points[(i + 1) % 4];
    if (p[0] !== q[0] && p[1] !== q[1]) {
      return false;
    }
  }
  return true;
}

/**
 * A vertex drag in progress: `move(to)` gives the shape's live points (for the editor canvas),
 * `end()` the op(s) that make the drag (none if the vertex did not move). The original `points`
 * array is never modified.
 * @param {string} localId
 * @param {string} type ASAP type
 * @param {Array<[number, number]>} points
 * @param {number} index
 */
export function vertexDrag(localId, type, points, index) {
  const rectangle = type === "Rectangle" && isAxisAligned(points);
  let live = points.slice();
  let last = null;
  return {
    index,
    move(to) {
      last = [to[0], to[1]];
      if (rectangle) {
        live = dragRectangleCorner(points, index, last);
      } else {
        live[index] = last;
      }
      return live;
    },
    get points() { return live; },
    /** @returns {object[]} ops */
    end() {
      if (!last || (last[0] === points[index][0] && last[1] === points[index][1])) {
        return [];
      }
      if (rectangle) {
        return [{ kind: "set-coordinates", localId, coordinates: live }];
      }
      return [{ kind: "move-vertex", localId, index, to: last }];
    },
  };
}

/**
 * The op inserting a vertex on an edge.
 * @param {string} localId
 * @param {string} type
 * @param {{index: number, at: [number, number]}} edge from `pickEdge`
 * @returns {object|null} an `insert-vertex` op, null when the type has no edges to insert on
 */
export function insertVertexOp(localId, type, edge) {
  if (!vertexRules(type).insert || !edge) {
    return null;
  }
  return { kind: "insert-vertex", localId, index: edge.index, at: [edge.at[0], edge.at[1]] };
}

/**
 * The op deleting a vertex, or why it cannot be.
 * @param {string} localId
 * @param {string} type
 * @param {number} count vertices the shape has now
 * @param {number} index
 * @returns {{op: object|null, message: string|null}}
 */
export function deleteVertexOp(localId, type, count, index) {
  const rules = vertexRules(type);
  if (index < 0 || index >= count) {
    return { op: null, message: null };
  }
  if (!rules.remove) {
    return { op: null, message: `a ${type} keeps its ${count === 1 ? "point" : `${count} points`}` };
  }
  if (count <= rules.minPoints) {
    return { op: null, message: `a ${type} keeps at least ${rules.minPoints} point${rules.minPoints === 1 ? "" : "s"}` };
  }
  return { op: { kind: "delete-vertex", localId, index }, message: null };
}

/**
 * Draw the handles of one shape on a Canvas 2D context set to CSS px (the editor canvas): squares
 * of `HANDLE_RADIUS_PX` at the vertices `visibleHandles` keeps; the active vertex red, the one
 * under the cursor white.
 * @param {CanvasRenderingContext2D} g
 * @param {{slideToElement: object, cssWidth: number, cssHeight: number}} frame the stage's frame
 * @param {Array<[number, number]>} points slide px
 * @param {{active?: number, cursor?: [number, number]|null}} state
 * @param {string} color the shape's colour
 * @returns {number} how many handles were drawn
 */
export function drawHandles(g, frame, points, state, color) {
  const active = state.active ?? -1;
  const m = frame.slideToElement;
  const options = { cursor: state.cursor ?? null, active };
  const { indices, nearest } = visibleHandles(points, m, frame.cssWidth, frame.cssHeight, options);
  const r = HANDLE_RADIUS_PX;
  g.save();
  g.lineWidth = 1;
  g.strokeStyle = "rgba(0, 0, 0, 0.8)";
  for (const i of indices) {
    const [x0, y0] = points[i];
    const x = m.a * x0 + m.c * y0 + m.e;
    const y = m.b * x0 + m.d * y0 + m.f;
    g.fillStyle = i === active ? "#ff1744" : i === nearest ? "#ffffff" : color;
    g.fillRect(x - r, y - r, 2 * r, 2 * r);
    g.strokeRect(x - r, y - r, 2 * r, 2 * r);
  }
  g.restore();
  return indices.length;
}
