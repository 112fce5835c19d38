/**
 * Pure annotation geometry (no DOM, no WebGL): ASAP's spline curves, ASAP's measures, CAMELYON
 * categories and the exact tests of hit-testing. Every coordinate is in **slide space** (level-0
 * px, x right, y down) unless a name says otherwise; points are `[x, y]` pairs, rings are stored
 * open (closure implicit), as ASAP and the API store them.
 *
 * The spline code is a line-for-line port of `viewer/annotations/geometry.py` (itself ASAP's
 * `PolyQtAnnotation.cpp` + Qt's `QBezier::addToPolygon`), float32 rounding included
 * (`Math.fround` = numpy's float32): `tests/js/geometry.test.mjs` checks it against fixtures the
 * Python module writes (`tests/make_js_fixtures.py`), so the browser draws the curve ASAP draws.
 */

const f32 = Math.fround;

/** CAMELYON metastasis categories (CAMELYON17 `stage_labels.csv` names), as the Python module. */
export const ITC = "itc";
export const MICRO = "micro";
export const MACRO = "macro";

/**
 * ASAP's `catmullRomToBezier`: the two inner Bézier control points of segment p1 → p2.
 * Distances and roots in float32, weighted sums in double, results stored as float32.
 * @returns {[number[], number[]]}
 */
function catmullRomToBezier(p0, p1, p2, p3) {
  const d1 = f32(Math.sqrt((p1[0] - p0[0]) ** 2 + (p1[1] - p0[1]) ** 2));
  const d2 = f32(Math.sqrt((p2[0] - p1[0]) ** 2 + (p2[1] - p1[1]) ** 2));
  const d3 = f32(Math.sqrt((p3[0] - p2[0]) ** 2 + (p3[1] - p2[1]) ** 2));
  const rd1 = f32(Math.sqrt(d1));
  const rd2 = f32(Math.sqrt(d2));
  const rd3 = f32(Math.sqrt(d3));
  const w1 = f32(f32(f32(2 * d1) + f32(f32(3 * rd1) * rd2)) + d2);
  const w2 = f32(f32(f32(2 * d3) + f32(f32(3 * rd3) * rd2)) + d2);
  const den1 = f32(f32(3 * rd1) * f32(rd1 + rd2));
  const den2 = f32(f32(3 * rd3) * f32(rd3 + rd2));
  const ratio = (num, den) => (den === 0 ? NaN : f32(num / den));
  const b1 = [
    ratio(d1 * p2[0] - d2 * p0[0] + w1 * p1[0], den1),
    ratio(d1 * p2[1] - d2 * p0[1] + w1 * p1[1], den1),
  ];
  const b2 = [
    ratio(d3 * p1[0] - d2 * p3[0] + w2 * p2[0], den2),
    ratio(d3 * p1[1] - d2 * p3[1] + w2 * p2[1], den2),
  ];
  return [b1, b2];
}

/**
 * The cubic Bézier segments [start, control 1, control 2, end] ASAP draws for a Spline
 * (centripetal Catmull-Rom with ASAP's end conditions; loaded splines are closed).
 * @param {number[][]} points
 * @param {boolean} [closed=true]
 * @returns {number[][][]}
 */
export function splineBeziers(points, closed = true) {
  const pts = points.map((p) => [Number(p[0]), Number(p[1])]);
  const n = pts.length;
  const out = [];
  if (n < 2) {
    return out;
  }
  const reflect = (a, b) => [a[0] - (b[0] - a[0]), a[1] - (b[1] - a[1])];
  for (let i = 0; i < n - 1; i++) {
    const p1 = pts[i];
    const p2 = pts[i + 1];
    let p0 = reflect(p1, p2);
    if (i > 0) {
      p0 = pts[i - 1];
    } else if (closed && n > 2) {
      p0 = pts[n - 1];
    }
    let p3 = [p2[0] + (p2[0] - p1[0]), p2[1] + (p2[1] - p1[1])];
    if (i < n - 2) {
      p3 = pts[i + 2];
    }
    const [b1, b2] = catmullRomToBezier(p0, p1, p2, p3);
    out.push([p1, b1, b2, p2]);
  }
  if (closed) {
    const p1 = pts[n - 1];
    const p2 = pts[0];
    // ASAP means coords[n-2] here, but a shadowed variable keeps the reflection (as in Python).
    const [b1, b2] = catmullRomToBezier(reflect(p1, p2), p1, p2, pts[1]);
    out.push([p1, b1, b2, p2]);
  }
  return out;
}

/** Append the end points of Qt's flattening of one cubic (`QBezier::addToPolygon`). */
function flattenBezier(b, threshold, out) {
  const stack = [[b[0][0], b[0][1], b[1][0], b[1][1], b[2][0], b[2][1], b[3][0], b[3][1], 9]];
  while (stack.length) {
    const [x1, y1, x2, y2, x3, y3, x4, y4, level] = stack[stack.length - 1];
    const y4y1 = y4 - y1;
    const x4x1 = x4 - x1;
    let length = Math.abs(x4x1) + Math.abs(y4y1);
    let d;
    if (length > 1.0) {
      d = Math.abs(x4x1 * (y1 - y2) - y4y1 * (x1 - x2)) + Math.abs(x4x1 * (y1 - y3) - y4y1 * (x1 - x3));
    } else {
      d = Math.abs(x1 - x2) + Math.abs(y1 - y2) + Math.abs(x1 - x3) + Math.abs(y1 - y3);
      length = 1.0;
    }
    if (d < threshold * length || level === 0 || !Number.isFinite(d)) {
      out.push([x4, y4]);
      stack.pop();
      continue;
    }
    // de Casteljau split at t = 0.5; the first half is processed first (top of the stack).
    const ax = (x1 + x2) / 2, ay = (y1 + y2) / 2;
    const bx = (x2 + x3) / 2, by = (y2 + y3) / 2;
    const cx = (x3 + x4) / 2, cy = (y3 + y4) / 2;
    const abx = (ax + bx) / 2, aby = (ay + by) / 2;
    const bcx = (bx + cx) / 2, bcy = (by + cy) / 2;
    const mx = (abx + bcx) / 2, my = (aby + bcy) / 2;
    stack[stack.length - 1] = [mx, my, bcx, bcy, cx, cy, x4, y4, level - 1];
    stack.push([x1, y1, ax, ay, abx, aby, mx, my, level - 1]);
  }
}

/**
 * The polyline ASAP draws for a Spline: its Bézier segments flattened as Qt does. Consecutive
 * duplicate control points are dropped first (ASAP would draw NaN controls for them); a closed
 * spline's result ends at its start point.
 * @param {number[][]} points control points
 * @param {boolean} [closed=true]
 * @param {number} [thresholdPx=0.5] Qt's flatness threshold in slide px
 * @returns {number[][]}
 */
export function flattenSpline(points, closed = true, thresholdPx = 0.5) {
  const pts = [];
  for (const p of points) {
    const point = [Number(p[0]), Number(p[1])];
    const last = pts[pts.length - 1];
    if (!last || point[0] !== last[0] || point[1] !== last[1]) {
      pts.push(point);
    }
  }
  if (closed && pts.length > 1 && pts[0][0] === pts[pts.length - 1][0] && pts[0][1] === pts[pts.length - 1][1]) {
    pts.pop();
  }
  if (pts.length < 2) {
    return pts;
  }
  const out = [pts[0]];
  for (const bezier of splineBeziers(pts, closed)) {
    flattenBezier(bezier, thresholdPx, out);
  }
  return out;
}

/**
 * ASAP's area in px² (`Annotation::getArea`): shoelace with float32 terms, double sum, float32.
 * @param {number[][]} points
 * @returns {number}
 */
export function asapArea(points) {
  const n = points.length;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const prev = points[(i + n - 1) % n];
    const cur = points[i];
    total += f32(f32(f32(prev[0]) + f32(cur[0])) * f32(f32(prev[1]) - f32(cur[1])));
  }
  return f32(Math.abs(total * 0.5));
}

/**
 * ASAP's Measurement length in px: first point to last point.
 * @param {number[][]} points
 * @returns {number}
 */
export function measurementLength(points) {
  if (points.length < 2) {
    return 0;
  }
  const a = points[0];
  const b = points[points.length - 1];
  return Math.hypot(b[0] - a[0], b[1] - a[1]);
}

/**
 * Convex hull (Andrew's monotone chain), counter-clockwise, no repeated point.
 * @param {number[][]} points
 * @returns {number[][]}
 */
export function convexHull(points) {
  const pts = points.map((p) => [p[0], p[1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (pts.length < 3) {
    return pts;
  }
  const cross = (o, a, b) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower = [];
  for (const p of pts) {
    while (lower.length >= 2 && cross(lower[lower.length - 2], lower[lower.length - 1], p) <= 0) {
      lower.pop();
    }
    lower.push(p);
  }
  const upper = [];
  for (let i = pts.length - 1; i >= 0; i--) {
    const p = pts[i];
    while (upper.length >= 2 && cross(upper[upper.length - 2], upper[upper.length - 1], p) <= 0) {
      upper.pop();
    }
    upper.push(p);
  }
  return lower.slice(0, -1).concat(upper.slice(0, -1));
}

/**
 * Largest distance between two points of the annotation, in px, or in µm with `mpp` [x, y]
 * (anisotropic pixels are scaled first), as `geometry.longest_diameter`.
 * @param {number[][]} points
 * @param {[number, number]|null} [mpp]
 * @returns {number}
 */
export function longestDiameter(points, mpp = null) {
  if (points.length < 2) {
    return 0;
  }
  const scaled = mpp ? points.map((p) => [p[0] * mpp[0], p[1] * mpp[1]]) : points;
  const hull = convexHull(scaled);
  let best = 0;
  for (let i = 0; i < hull.length; i++) {
    for (let j = i + 1; j < hull.length; j++) {
      const d2 = (hull[i][0] - hull[j][0]) ** 2 + (hull[i][1] - hull[j][1]) ** 2;
      if (d2 > best) {
        best = d2;
      }
    }
  }
  return Math.sqrt(best);
}

/**
 * CAMELYON category of a metastasis from its longest diameter in µm: ITC ≤ 0.2 mm < micro ≤ 2 mm
 * < macro.
 * @param {number} diameterUm
 * @returns {"itc"|"micro"|"macro"}
 */
export function metastasisCategory(diameterUm) {
  if (!Number.isFinite(diameterUm) || diameterUm < 0) {
    throw new RangeError(`diameter must be a finite non-negative number of µm, got ${diameterUm}`);
  }
  if (diameterUm <= 200) {
    return ITC;
  }
  return diameterUm <= 2000 ? MICRO : MACRO;
}

// ------------------------------------------------------------------------------------------------
// Exact tests of hit-testing, on flat coordinate arrays (x0, y0, x1, y1, ...) as the batches hold.

/**
 * Whether (x, y) lies inside rings of a flat coordinate array, by the even-odd rule (so a ring
 * inside another is a hole).
 * @param {number} x
 * @param {number} y
 * @param {ArrayLike<number>} coords flat x, y pairs of every ring, one after the other
 * @param {ArrayLike<number>} ringStarts vertex index where each ring starts (first must be `first`)
 * @param {number} first first vertex of the annotation
 * @param {number} end vertex index one past the annotation's last
 * @returns {boolean}
 */
export function pointInRings(x, y, coords, ringStarts, first, end) {
  let inside = false;
  for (let r = 0; r < ringStarts.length; r++) {
    const start = ringStarts[r];
    const stop = r + 1 < ringStarts.length ? ringStarts[r + 1] : end;
    if (start < first || start >= end) {
      continue;
    }
    for (let i = start, j = stop - 1; i < stop; j = i++) {
      const xi = coords[2 * i], yi = coords[2 * i + 1];
      const xj = coords[2 * j], yj = coords[2 * j + 1];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) {
        inside = !inside;
      }
    }
  }
  return inside;
}

/**
 * Squared distance from (x, y) to the segment (x0, y0)–(x1, y1).
 * @returns {number}
 */
export function segmentDistanceSq(x, y, x0, y0, x1, y1) {
  const dx = x1 - x0;
  const dy = y1 - y0;
  const len2 = dx * dx + dy * dy;
  let t = len2 > 0 ? ((x - x0) * dx + (y - y0) * dy) / len2 : 0;
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  const px = x0 + t * dx - x;
  const py = y0 + t * dy - y;
  return px * px + py * py;
}

/**
 * Smallest distance from (x, y) to the polyline of vertices [first, end) of a flat array.
 * @param {number} x
 * @param {number} y
 * @param {ArrayLike<number>} coords
 * @param {number} first
 * @param {number} end
 * @param {boolean} closed also the edge from the last vertex back to the first
 * @returns {number}
 */
export function polylineDistance(x, y, coords, first, end, closed) {
  let best = Infinity;
  if (end - first === 1) {
    return Math.hypot(coords[2 * first] - x, coords[2 * first + 1] - y);
  }
  const last = closed ? end : end - 1;
  for (let i = first; i < last; i++) {
    const j = i + 1 < end ? i + 1 : first;
    const d = segmentDistanceSq(x, y, coords[2 * i], coords[2 * i + 1], coords[2 * j], coords[2 * j + 1]);
    if (d < best) {
      best = d;
    }
  }
  return Math.sqrt(best);
}
