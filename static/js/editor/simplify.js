/**
 * Douglas-Peucker simplification (pure, DOM-free): the one implementation the editor uses (the
 * freehand tool's stroke in `tools/common.js`, the brush's stroke and result rings in `brush.js`).
 */

/** @typedef {[number, number]} XY */

/**
 * Douglas-Peucker of an open chain keeping both ends: the indexes kept, in order.
 * @param {XY[]} pts
 * @param {number} first
 * @param {number} last
 * @param {number} tol2 squared tolerance
 * @param {number[]} out indexes kept (first is pushed by the caller, last is pushed here)
 */
export function douglasPeucker(pts, first, last, tol2, out) {
  const stack = [[first, last]];
  const keep = new Uint8Array(last - first + 1);
  keep[0] = 1;
  keep[last - first] = 1;
  while (stack.length) {
    const [a, b] = stack.pop();
    const [ax, ay] = pts[a];
    const dx = pts[b][0] - ax;
    const dy = pts[b][1] - ay;
    const len2 = dx * dx + dy * dy;
    let best = -1;
    let bestD = tol2;
    for (let i = a + 1; i < b; i++) {
      const px = pts[i][0] - ax;
      const py = pts[i][1] - ay;
      let d;
      if (len2 === 0) {
        d = px * px + py * py;
      } else {
        const t = Math.max(0, Math.min(1, (px * dx + py * dy) / len2));
        const qx = px - t * dx;
        const qy = py - t * dy;
        d = qx * qx + qy * qy;
      }
      if (d > bestD) {
        bestD = d;
        best = i;
      }
    }
    if (best >= 0) {
      keep[best - first] = 1;
      stack.push([a, best], [best, b]);
    }
  }
  for (let i = first + 1; i <= last; i++) {
    if (keep[i - first]) {
      out.push(i);
    }
  }
}

/**
 * A polyline simplified at `tolerance` (Douglas-Peucker, ends kept; a tolerance <= 0 keeps all).
 * @param {XY[]} points
 * @param {number} tolerance same unit as the points
 * @returns {XY[]}
 */
export function simplifyLine(points, tolerance) {
  if (points.length < 3 || !(tolerance > 0)) {
    return points.slice();
  }
  const kept = [0];
  douglasPeucker(points, 0, points.length - 1, tolerance * tolerance, kept);
  return kept.map((i) => points[i]);
}
