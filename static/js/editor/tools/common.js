/**
 * Helpers shared by the drawing tools (pure): click-or-drag, distances in CSS px, new entries.
 */

import { makeEntry, makeFeature } from "../document.js";
import { measureDraft } from "../measure.js";

/** A press moving less than this (CSS px) is a click, never a drag. */
export const CLICK_PX = 4;
/** ASAP closes a polygon on a click within 12 screen px of its first vertex. */
export const CLOSE_PX = 12;

/**
 * Distance between two slide points in CSS px of the view (zoom is isotropic, so rotation and
 * mirroring do not matter).
 * @param {{zoom: () => number}} ctx
 * @param {number[]} a
 * @param {number[]} b
 * @returns {number}
 */
export function cssDistance(ctx, a, b) {
  return Math.hypot(a[0] - b[0], a[1] - b[1]) * ctx.zoom();
}

/** A slide point rounded to 1/1000 px (compact JSON, far below a screen px). */
export function rounded(p) {
  return [Math.round(p[0] * 1000) / 1000, Math.round(p[1] * 1000) / 1000];
}

let counter = 0;
/** @returns {string} a new localId (a uuid where the browser has one) */
export function newLocalId() {
  if (globalThis.crypto?.randomUUID) {
    return globalThis.crypto.randomUUID();
  }
  counter += 1;
  return `new-${Date.now().toString(36)}-${counter}`;
}

/**
 * The create op of a new annotation in the active set and group.
 * @param {object} ctx ToolContext
 * @param {string} type ASAP type
 * @param {number[][]} points slide px
 * @returns {{kind: "create", entry: object}}
 */
export function createOp(ctx, type, points) {
  const group = ctx.activeGroup?.() ?? null;
  const feature = makeFeature({ name: ctx.nextName?.(type) ?? "", type, group, color: ctx.color?.(group) }, points.map(rounded));
  const entry = makeEntry({ localId: (ctx.newId ?? newLocalId)(), setId: ctx.activeSetId(), feature });
  return { kind: "create", entry };
}

/**
 * A draft with its live measure as label.
 * @param {object} ctx
 * @param {string} type
 * @param {number[][]} points
 * @param {object} [extra] e.g. {closed, rubber}
 * @returns {object}
 */
export function draftOf(ctx, type, points, extra = {}) {
  const m = measureDraft(type, points, ctx.mppX ?? null, ctx.mppY ?? null);
  return { type, coordinates: points, style: "draft", label: m.label, ...extra };
}

/**
 * Douglas-Peucker simplification of an open polyline at `tolerance` (same unit as the points).
 * @param {number[][]} points
 * @param {number} tolerance
 * @returns {number[][]}
 */
export function simplify(points, tolerance) {
  if (points.length < 3) {
    return points.slice();
  }
  const keep = new Uint8Array(points.length);
  keep[0] = 1;
  keep[points.length - 1] = 1;
  const stack = [[0, points.length - 1]];
  const t2 = tolerance * tolerance;
  while (stack.length) {
    const [first, last] = stack.pop();
    const [ax, ay] = points[first];
    const [bx, by] = points[last];
    const dx = bx - ax;
    const dy = by - ay;
    const len2 = dx * dx + dy * dy;
    let best = -1;
    let index = -1;
    for (let i = first + 1; i < last; i++) {
      const [px, py] = points[i];
      let d2;
      if (len2 === 0) {
        d2 = (px - ax) ** 2 + (py - ay) ** 2;
      } else {
        const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len2));
        d2 = (px - ax - t * dx) ** 2 + (py - ay - t * dy) ** 2;
      }
      if (d2 > best) {
        best = d2;
        index = i;
      }
    }
    if (best > t2) {
      keep[index] = 1;
      stack.push([first, index], [index, last]);
    }
  }
  return points.filter((_, i) => keep[i]);
}
