/**
 * Pure hit-testing of one batch (`batch.js`), no DOM: a Flatbush query over the items' boxes,
 * then the exact test of each candidate (point in rings, distance to an outline, a line or a
 * dot). Lines and dots win over areas (they sit on top and are hard to click), nearest first;
 * among areas, the one with the smallest box wins (a small lesion inside a large region).
 * Coordinates are relative to the batch's origin, in slide px.
 */

import { KIND_AREA, KIND_LINE, KIND_POINTS } from "./batch.js";
import { pointInRings, polylineDistance } from "./geometry.js";

/**
 * The best hit of a point in a batch.
 * @param {any} b the batch (typed arrays of `buildBatch`)
 * @param {any} index its Flatbush (`Flatbush.from(b.index)`)
 * @param {number} x relative slide px
 * @param {number} y relative slide px
 * @param {number} tol how near an outline or a line counts, slide px
 * @param {number} dotTol how near a dot's centre counts, slide px
 * @param {(slot: number) => boolean} visible whether a slot is drawn
 * @returns {{rank: number, slot: number, dist: number}|null} dist in slide px (0 inside an area)
 */
export function hitTestBatch(b, index, x, y, tol, dotTol, visible) {
  let best = null;
  for (const i of index.search(x - dotTol, y - dotTol, x + dotTol, y + dotTol)) {
    const slot = b.itemSlot[i];
    if (!visible(slot)) {
      continue;
    }
    const kind = b.itemKind[i];
    const first = b.itemFirst[i];
    const end = b.itemEnd[i];
    let dist;
    let rank; // lower wins
    if (kind === KIND_AREA) {
      const rings = b.ringStarts.subarray(b.itemRingFirst[i], b.itemRingFirst[i] + b.itemRingCount[i]);
      const inside = pointInRings(x, y, b.verts, rings, first, end);
      dist = inside ? 0 : polylineDistance(x, y, b.verts, first, end, true);
      if (dist > tol) {
        continue;
      }
      rank = 1 + b.itemArea[i] / 1e18;
    } else if (kind === KIND_LINE) {
      dist = polylineDistance(x, y, b.verts, first, end, false);
      if (dist > (end - first === 1 ? dotTol : tol)) {
        continue;
      }
      rank = dist / 1e12;
    } else if (kind === KIND_POINTS) {
      dist = Infinity;
      for (let v = first; v < end; v++) {
        dist = Math.min(dist, Math.hypot(b.verts[2 * v] - x, b.verts[2 * v + 1] - y));
      }
      if (dist > dotTol) {
        continue;
      }
      rank = dist / 1e12;
    } else {
      continue;
    }
    if (!best || rank < best.rank) {
      best = { rank, slot, dist };
    }
  }
  return best;
}
