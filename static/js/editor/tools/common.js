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

/** Douglas-Peucker of an open polyline at `tolerance` (same unit as the points): `../simplify.js`. */
export { simplifyLine as simplify } from "../simplify.js";
