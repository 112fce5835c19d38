/**
 * The brush's geometry (pure, DOM-free: node and the browser): a stroke of a given width added to
 * (union) or cut from (difference) a polygon, with the vendored clipper2-ts on integer coordinates.
 *
 * Coordinates are slide px (level-0 px of the slide, the store's space). Clipper works on integers:
 * every coordinate is multiplied by `SCALE` (8) and rounded, so the grid is 1/8 slide px and a new
 * vertex is at most 1/16 slide px (0.0625) from where exact arithmetic would put it (0.016 µm at
 * 0.25 µm/px; < 0.1 screen px up to 1.6 screen px per slide px, i.e. beyond 40× on a 40× scan).
 * Vertices of the polygon the stroke does not touch come back with their exact (float)
 * coordinates: each input vertex carries its index as Clipper's z, which Clipper keeps on output
 * vertices that are input vertices (new ones get z = 0). Cost, on this loaded 2-core machine in
 * node: ~4 ms for a 100-point stroke on a 10,000-vertex polygon once warm, ~20 ms the first time
 * (JIT); `benchmarks/brush.mjs` measures it.
 *
 * Shapes: ASAP has one ring per polygon; holes in our model are separate polygons of the
 * `<group> (holes)` child group (as the GeoJSON reader stores QuPath holes). So the input is
 * `{outer, holes}` (open rings: no closing point), and the result is a list of pieces, each an outer
 * ring and its holes, biggest first. `planPieces` says which annotation each ring becomes.
 *
 * Simplification: the stroke is simplified (Douglas-Peucker) at `tolerance` (the caller passes ~0.5
 * screen px in slide px), its round caps and joins are approximated to `tolerance`, and in the result
 * each run of new vertices (between two kept input vertices) is simplified at `tolerance` again, so a
 * stroke adds a few dozen vertices, never thousands, and the untouched outline is kept exactly.
 */

import {
  ClipType, Clipper64, EndType, FillRule, JoinType, PathType, PolyTree64, inflatePaths,
} from "../../vendor/clipper2-ts-2.0.1/index.js";

/** Clipper's z callback: Clipper has already set z (an endpoint's, or 0 for a new point). */
const keepZ = () => {};

/** Integer units per slide px. */
export const SCALE = 8;

/** @typedef {[number, number]} XY */
/** @typedef {{outer: XY[], holes: XY[][]}} Shape  open rings, slide px */
/** @typedef {{outer: XY[], holes: XY[][], area: number}} Piece  area: outer minus holes, slide px² */

/**
 * Signed shoelace area of an open ring (positive anticlockwise in a y-up frame).
 * @param {XY[]} ring
 * @returns {number}
 */
export function signedArea(ring) {
  let sum = 0;
  const n = ring.length;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    sum += ring[j][0] * ring[i][1] - ring[i][0] * ring[j][1];
  }
  return sum / 2;
}

/**
 * Area of a shape (outer minus holes), slide px².
 * @param {{outer: XY[], holes?: XY[][]}} shape
 * @returns {number}
 */
export function shapeArea(shape) {
  let area = Math.abs(signedArea(shape.outer));
  for (const hole of shape.holes ?? []) {
    area -= Math.abs(signedArea(hole));
  }
  return area;
}

/**
 * Douglas-Peucker of an open chain keeping both ends: the indexes kept, in order.
 * @param {XY[]} pts
 * @param {number} first
 * @param {number} last
 * @param {number} tol2 squared tolerance
 * @param {number[]} out indexes kept (first is pushed by the caller, last is pushed here)
 */
function douglasPeucker(pts, first, last, tol2, out) {
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
 * A polyline simplified at `tolerance` (Douglas-Peucker, ends kept).
 * @param {XY[]} points
 * @param {number} tolerance
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

/**
 * A closed ring simplified at `tolerance`, keeping every vertex flagged `fixed` exactly; runs of
 * other vertices between two fixed ones are simplified with the fixed ones as ends. A ring with no
 * fixed vertex is split at vertex 0 and the vertex farthest from it.
 * @param {XY[]} ring open ring
 * @param {Uint8Array} fixed
 * @param {number} tolerance
 * @returns {XY[]}
 */
function simplifyRing(ring, fixed, tolerance) {
  const n = ring.length;
  if (n <= 4 || !(tolerance > 0)) {
    return ring;
  }
  let start = fixed.indexOf(1);
  const anchors = [];
  if (start < 0) {
    let far = 0;
    let farD = -1;
    for (let i = 1; i < n; i++) {
      const d = (ring[i][0] - ring[0][0]) ** 2 + (ring[i][1] - ring[0][1]) ** 2;
      if (d > farD) {
        farD = d;
        far = i;
      }
    }
    start = 0;
    anchors.push(0, far);
  } else {
    for (let i = 0; i < n; i++) {
      if (fixed[(start + i) % n]) {
        anchors.push(i);
      }
    }
  }
  // Unroll the ring from `start` (plus the start again at the end) so chains are plain ranges.
  const pts = new Array(n + 1);
  for (let i = 0; i <= n; i++) {
    pts[i] = ring[(start + i) % n];
  }
  anchors.push(n);
  const kept = [0];
  const tol2 = tolerance * tolerance;
  for (let k = 0; k + 1 < anchors.length; k++) {
    if (anchors[k + 1] - anchors[k] > 1) {
      douglasPeucker(pts, anchors[k], anchors[k + 1], tol2, kept);
    } else {
      kept.push(anchors[k + 1]);
    }
  }
  kept.pop(); // the start again
  return kept.length >= 3 ? kept.map((i) => pts[i]) : ring;
}

/** Signed area of a Clipper path ({x, y} points). */
function pathArea(path) {
  let sum = 0;
  const n = path.length;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    sum += path[j].x * path[i].y - path[i].x * path[j].y;
  }
  return sum / 2;
}

/**
 * A ring or polyline as a Clipper path of integer points. Each point's `z` is 1 + its index in
 * `originals` (which the input vertex is appended to), so that output vertices that are input
 * vertices can be told from new ones (Clipper carries z through; new points get z = 0).
 * @param {XY[]} ring slide px
 * @param {number} scale
 * @param {boolean|null} positive orientation wanted (Clipper's sense of the sign); null: as given
 * @param {XY[]|null} originals
 */
function toPath(ring, scale, positive, originals) {
  const path = [];
  let lx = NaN;
  let ly = NaN;
  for (const point of ring) {
    const ix = Math.round(point[0] * scale);
    const iy = Math.round(point[1] * scale);
    if (ix === lx && iy === ly) {
      continue;
    }
    lx = ix;
    ly = iy;
    let z = 0;
    if (originals) {
      originals.push(point);
      z = originals.length;
    }
    path.push({ x: ix, y: iy, z });
  }
  if (positive !== null && (pathArea(path) > 0) !== positive) {
    path.reverse();
  }
  return path;
}

/**
 * The stroke's outline: the polyline offset by `width / 2` with round caps and joins (a disc for
 * a one-point stroke), as Clipper integer paths.
 * @param {XY[]} stroke slide px
 * @param {number} width slide px
 * @param {number} tolerance slide px
 * @param {number} scale
 */
function strokePaths(stroke, width, tolerance, scale) {
  const path = toPath(simplifyLine(stroke, tolerance), scale, null, null);
  return inflatePaths(
    [path], (width / 2) * scale, JoinType.Round, EndType.Round, 2, Math.max(0.25, tolerance * scale),
  );
}

/**
 * The outline of a brush stroke in slide px (what the editor draws while the brush is dragged).
 * @param {XY[]} stroke slide px
 * @param {number} width slide px
 * @param {{tolerance?: number, scale?: number}} [options]
 * @returns {XY[][]} rings (outer rings and holes where the stroke crosses itself)
 */
export function strokeOutline(stroke, width, options = {}) {
  const scale = options.scale ?? SCALE;
  const tolerance = options.tolerance ?? 0.5;
  return strokePaths(stroke, width, tolerance, scale).map((path) => path.map((p) => [p.x / scale, p.y / scale]));
}

/**
 * Add a stroke to, or cut it from, a shape.
 * @param {{outer: XY[], holes?: XY[][]}} shape slide px, open rings
 * @param {XY[]} stroke the brush centre's path, slide px (one point: a dab)
 * @param {number} width the brush's diameter, slide px
 * @param {"add"|"cut"} mode
 * @param {{tolerance?: number, scale?: number, minArea?: number}} [options] tolerance: slide px
 *   (~0.5 screen px; default 0.5); minArea: rings smaller than this are dropped (slide px²;
 *   default (2 * tolerance)², one screen px²)
 * @returns {Piece[]} biggest first; empty when the cut removed everything
 */
export function brushShape(shape, stroke, width, mode, options = {}) {
  if (mode !== "add" && mode !== "cut") {
    throw new Error(`brush mode must be "add" or "cut", got ${mode}`);
  }
  if (!stroke.length || !(width > 0)) {
    return [normalisedPiece(shape)];
  }
  const scale = options.scale ?? SCALE;
  const tolerance = options.tolerance ?? 0.5;
  const minArea = options.minArea ?? (2 * tolerance) ** 2;
  const originals = [];
  const subject = [toPath(shape.outer, scale, true, originals)];
  for (const hole of shape.holes ?? []) {
    subject.push(toPath(hole, scale, false, originals));
  }
  const clip = strokePaths(stroke, width, tolerance, scale);
  const tree = new PolyTree64();
  const clipper = new Clipper64();
  clipper.zCallback = keepZ; // with a callback, Clipper gives a new intersection z = 0 (else an endpoint's z)
  clipper.addPaths(subject, PathType.Subject);
  clipper.addPaths(clip, PathType.Clip);
  clipper.execute(mode === "add" ? ClipType.Union : ClipType.Difference, FillRule.NonZero, tree);

  const minUnits = minArea * scale * scale;
  const ring = (path) => {
    const fixed = new Uint8Array(path.length);
    const pts = new Array(path.length);
    for (let i = 0; i < path.length; i++) {
      const p = path[i];
      const original = p.z > 0 ? originals[p.z - 1] : undefined;
      // the z of an input vertex, on a point Clipper moved (it never does on integers): not kept
      if (original && Math.round(original[0] * scale) === p.x && Math.round(original[1] * scale) === p.y) {
        fixed[i] = 1;
        pts[i] = original;
      } else {
        pts[i] = [p.x / scale, p.y / scale];
      }
    }
    return simplifyRing(pts, fixed, tolerance);
  };
  /** @type {Piece[]} */
  const pieces = [];
  const visit = (node) => {
    // node: an outer ring; its children are holes; their children are islands (outer rings again)
    if (Math.abs(pathArea(node.polygon)) < minUnits) {
      return;
    }
    const holes = [];
    for (const hole of node.children) {
      if (Math.abs(pathArea(hole.polygon)) >= minUnits) {
        holes.push(ring(hole.polygon));
      }
      hole.children.forEach(visit);
    }
    const piece = { outer: ring(node.polygon), holes, area: 0 };
    piece.area = shapeArea(piece);
    pieces.push(piece);
  };
  tree.children.forEach(visit);
  pieces.sort((a, b) => b.area - a.area);
  return pieces;
}

/** @param {{outer: XY[], holes?: XY[][]}} shape */
function normalisedPiece(shape) {
  const piece = { outer: shape.outer, holes: shape.holes ?? [], area: 0 };
  piece.area = shapeArea(piece);
  return piece;
}

/** Bounding box [x0, y0, x1, y1] of a ring. */
function bbox(ring) {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const [x, y] of ring) {
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x);
    y1 = Math.max(y1, y);
  }
  return [x0, y0, x1, y1];
}

/** Area of the intersection of two boxes. */
function overlap(a, b) {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  return w > 0 && h > 0 ? w * h : 0;
}

/**
 * Which annotation each ring of a brush result becomes, in our one-ring-per-annotation model:
 * - the biggest piece's outer ring stays the brushed annotation (`main`; null: the cut removed it
 *   all, delete it);
 * - every other piece's outer ring is a new annotation of the same group (`extra`): we have no
 *   multipolygons, so an add away from the polygon, or a cut through it, makes more annotations;
 * - holes: each input hole (by index) is kept (`holes[i].ring`, its annotation is updated) when an
 *   output hole overlaps it (the output hole with the largest bounding-box overlap takes it), else
 *   deleted (`holes[i].ring === null`: the stroke filled it in or opened it to the outside); each
 *   output hole that took no input hole is a new annotation of the holes group (`newHoles`).
 * @param {Piece[]} pieces a result of `brushShape`
 * @param {XY[][]} [inputHoles] the holes passed to `brushShape`
 * @returns {{main: XY[]|null, extra: XY[][], holes: {index: number, ring: XY[]|null}[], newHoles: XY[][]}}
 */
export function planPieces(pieces, inputHoles = []) {
  const outHoles = pieces.flatMap((p) => p.holes);
  const outBoxes = outHoles.map(bbox);
  const taken = new Array(outHoles.length).fill(false);
  const holes = inputHoles.map((hole, index) => {
    const box = bbox(hole);
    let best = -1;
    let bestOverlap = 0;
    outBoxes.forEach((b, i) => {
      const o = overlap(box, b);
      if (!taken[i] && o > bestOverlap) {
        bestOverlap = o;
        best = i;
      }
    });
    if (best < 0) {
      return { index, ring: null };
    }
    taken[best] = true;
    return { index, ring: outHoles[best] };
  });
  return {
    main: pieces.length ? pieces[0].outer : null,
    extra: pieces.slice(1).map((p) => p.outer),
    holes,
    newHoles: outHoles.filter((_, i) => !taken[i]),
  };
}
