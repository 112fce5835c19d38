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
 * Shapes: ASAP has one ring per polygon (imported QuPath holes become polygons of a `<group>
 * (holes)` group, see the GeoJSON reader). The input is `{outer, holes}` (open rings: no closing
 * point; `holes` may be empty), the result a list of pieces, each an outer ring and its holes,
 * biggest first. `annotationRings` says which annotation each piece becomes: the biggest keeps the
 * annotation, the others are new ones of its group, and holes are bridged into their piece's ring
 * (`bridgeHoles`: the non-zero fill leaves them empty and ASAP's area subtracts them), rather than
 * new polygons in the holes group (drawn filled, the annotation's area unchanged, a group to create).
 *
 * Simplification: the stroke is simplified (Douglas-Peucker) at `tolerance` (the caller passes ~0.5
 * screen px in slide px); its round caps and joins, and in the result each run of new vertices
 * (between two kept input vertices), at `tolerance * ARC_FRACTION` (arcs are inscribed polygons: at
 * the full tolerance a 24 px dab would be an 11-gon missing 5 % of its area; at a quarter, 1.4 %), so a
 * stroke adds a few dozen vertices, never thousands, and the untouched outline is kept exactly.
 */

import {
  ClipType, Clipper64, EndType, FillRule, JoinType, PathType, PolyTree64, inflatePaths,
} from "../../vendor/clipper2-ts-2.0.1/index.js";
import { douglasPeucker, simplifyLine } from "./simplify.js";

export { simplifyLine }; // (the one Douglas-Peucker: simplify.js)

/** Clipper's z callback: Clipper has already set z (an endpoint's, or 0 for a new point). */
const keepZ = () => {};

/** Integer units per slide px. */
export const SCALE = 8;
/** Round ends and the result's new vertices are simplified at this fraction of the tolerance. */
export const ARC_FRACTION = 0.25;

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
    [path], (width / 2) * scale, JoinType.Round, EndType.Round, 2, Math.max(0.25, tolerance * ARC_FRACTION * scale),
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
  stroke = stroke.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1])); // e.g. a pointer off the view
  if (!stroke.length || !(width > 0) || !Number.isFinite(width)) {
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
  // (clipper2-ts 2.0.1 throws on an empty path; rings under 3 points have no area anyway)
  clipper.addPaths(subject.filter((path) => path.length >= 3), PathType.Subject);
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
    return simplifyRing(pts, fixed, tolerance * ARC_FRACTION);
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

/**
 * The rings of a brush result as our annotations (one ring each, no multipolygons):
 * `main`, the biggest piece, stays the brushed annotation (null: the cut removed it all, delete
 * it); each of `extra` (an add away from the polygon, a cut through it) is a new annotation of the
 * same group. A piece's holes are bridged into its ring (`bridgeHoles`).
 * @param {Piece[]} pieces a result of `brushShape`
 * @returns {{main: XY[]|null, extra: XY[][]}}
 */
export function annotationRings(pieces) {
  const rings = pieces.map((p) => bridgeHoles(p.outer, p.holes));
  return { main: rings.length ? rings[0] : null, extra: rings.slice(1) };
}

/**
 * One ring for a piece with holes, each hole joined to the ring by a zero-width cut ("keyhole"):
 * from the hole's rightmost vertex along +x to the nearest edge of the ring built so far (holes
 * taken by decreasing x, as earcut bridges them, so no bridge crosses another hole), round the
 * hole the other way, and back. Under the non-zero rule, which ASAP's masks, our fill (earcut) and
 * hit tests use, the hole stays empty, and the ring's shoelace area (ASAP's area) is the outer's
 * minus the holes'. Used for our one-ring annotations instead of extra "(holes)" polygons, which
 * would be drawn filled and leave the annotation's area unchanged.
 * @param {XY[]} outer
 * @param {XY[][]} holes
 * @returns {XY[]}
 */
export function bridgeHoles(outer, holes) {
  if (!holes.length) {
    return outer;
  }
  const positive = signedArea(outer) > 0;
  let ring = outer.slice();
  const rightmost = (hole) => hole.reduce((best, p, i) => (p[0] > hole[best][0] ? i : best), 0);
  const order = holes.map((hole) => ({ hole, at: rightmost(hole) }))
    .sort((a, b) => b.hole[b.at][0] - a.hole[a.at][0]);
  for (const { hole, at } of order) {
    const [mx, my] = hole[at];
    let best = -1;
    let bestX = Infinity;
    for (let i = 0; i < ring.length; i++) {
      const [ax, ay] = ring[i];
      const [bx, by] = ring[(i + 1) % ring.length];
      if ((ay > my) === (by > my) || ay === by) {
        continue; // the edge does not cross the horizontal line through the hole's vertex
      }
      const x = ax + ((my - ay) / (by - ay)) * (bx - ax);
      if (x >= mx && x < bestX) {
        bestX = x;
        best = i;
      }
    }
    if (best < 0) {
      continue; // not inside the ring (cannot happen for Clipper's holes): leave it out
    }
    const turned = (signedArea(hole) > 0) === positive ? hole.slice().reverse() : hole;
    const start = turned.indexOf(hole[at]);
    const round = [...turned.slice(start), ...turned.slice(0, start), turned[start]];
    const p = [bestX, my];
    ring = [...ring.slice(0, best + 1), p, ...round, p, ...ring.slice(best + 1)];
  }
  return ring;
}

