/**
 * Copy, paste and duplicate of annotations (pure: the storage is passed in, `localStorage` in the
 * page, a Map-like object in tests).
 *
 * The clipboard is one JSON entry of the browser's localStorage, so it survives a reload and is
 * shared by every tab and slide of this viewer: copy on one slide, paste on another. It holds each
 * annotation's flat properties ({name, type, group, color, comment}) and points (slide px, level-0
 * px of the slide copied from), and that slide's id.
 *
 * Pasting makes `create` ops in the active set, with the active group (else the copied group when
 * the target set has a group of that name, else none). On the slide copied from, the copies are
 * shifted by `offset` (so they are seen beside the originals); on another slide they keep their
 * coordinates, moved as a whole into the slide when they stick out and clamped to it when larger.
 */

import { makeEntry, makeFeature, propertiesOf } from "./document.js";

/** localStorage key of the clipboard. */
export const CLIPBOARD_KEY = "wsi-viewer.clipboard";
/** Most annotations one copy holds (a copy is JSON in localStorage: ~5 MB in most browsers). */
export const MAX_COPY = 10_000;

/**
 * @typedef {{props: {name: string, type: string, group: string|null, color: string, comment: string},
 *   points: number[][]}} Item
 */

/**
 * Bounding box of items' points, `[x0, y0, x1, y1]`, or null when they have none.
 * @param {Item[]} items
 */
export function itemsBox(items) {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const { points } of items) {
    for (const p of points) {
      x0 = Math.min(x0, p[0]);
      y0 = Math.min(y0, p[1]);
      x1 = Math.max(x1, p[0]);
      y1 = Math.max(y1, p[1]);
    }
  }
  return x0 <= x1 ? [x0, y0, x1, y1] : null;
}

/** @returns {Item} what the clipboard keeps of a document entry */
export function itemOf(entry) {
  return { props: propertiesOf(entry.feature), points: entry.points.map((p) => [p[0], p[1]]) };
}

/**
 * Put entries on the clipboard.
 * @param {{setItem: Function}} storage
 * @param {string} slideId the slide they are on
 * @param {object[]} entries the document's entries (exact geometry)
 * @returns {number} how many were copied
 */
export function copyEntries(storage, slideId, entries) {
  if (entries.length === 0) {
    return 0;
  }
  if (entries.length > MAX_COPY) {
    throw new RangeError(`at most ${MAX_COPY} annotations can be copied at once`);
  }
  storage.setItem(CLIPBOARD_KEY, JSON.stringify({ version: 1, slideId, items: entries.map(itemOf) }));
  return entries.length;
}

const isPoint = (p) => Array.isArray(p) && Number.isFinite(p[0]) && Number.isFinite(p[1]);

/**
 * What the clipboard holds, or null (empty, or not ours).
 * @param {{getItem: Function}} storage
 * @returns {{slideId: string, items: Item[]}|null}
 */
export function readClipboard(storage) {
  let clip;
  try {
    clip = JSON.parse(storage.getItem(CLIPBOARD_KEY) ?? "null");
  } catch {
    return null;
  }
  if (!clip || clip.version !== 1 || typeof clip.slideId !== "string" || !Array.isArray(clip.items)) {
    return null;
  }
  const items = clip.items.filter((it) => it && it.props && typeof it.props.type === "string" &&
    Array.isArray(it.points) && it.points.length > 0 && it.points.every(isPoint));
  return items.length ? { slideId: clip.slideId, items } : null;
}

/**
 * The shift that brings a box into `[0, width] × [0, height]` (0 on an axis where it already fits
 * or where it is larger than the slide: its positions are clamped then).
 */
function shiftInto(box, width, height) {
  const axis = (lo, hi, size) => (hi - lo > size || lo < 0 ? -lo : hi > size ? size - hi : 0);
  return [axis(box[0], box[2], width), axis(box[1], box[3], height)];
}

/**
 * The `create` ops of placing copies on a slide.
 * @param {Item[]} items
 * @param {{setId: number, group?: string|null, groups?: Iterable<string>|null, offset?: [number, number],
 *   width: number, height: number, newId: () => string}} target
 *   `group` = the active group (wins when set); `groups` = the group names of the target set (a copied
 *   group is kept when it is one of them; null: keep it); `offset` = shift in slide px;
 *   `width`/`height` = the target slide's size, level-0 px
 * @returns {object[]} ops
 */
export function placeOps(items, target) {
  const [ox, oy] = target.offset ?? [0, 0];
  const box = itemsBox(items);
  const [sx, sy] = box
    ? shiftInto([box[0] + ox, box[1] + oy, box[2] + ox, box[3] + oy], target.width, target.height)
    : [0, 0];
  const dx = ox + sx;
  const dy = oy + sy;
  const clamp = (v, size) => (v < 0 ? 0 : v > size ? size : v);
  const known = target.groups ? new Set(target.groups) : null;
  return items.map(({ props, points }) => {
    const p = { ...props };
    if (target.group) {
      p.group = target.group;
    } else if (known && p.group !== null && p.group !== undefined && !known.has(p.group)) {
      p.group = null;
    }
    const moved = points.map((q) => [clamp(q[0] + dx, target.width), clamp(q[1] + dy, target.height)]);
    const entry = makeEntry({ localId: target.newId(), setId: target.setId, feature: makeFeature(p, moved) });
    return { kind: "create", entry };
  });
}

/**
 * The ops of pasting the clipboard (empty when it holds nothing).
 * @param {{getItem: Function}} storage
 * @param {string} slideId the slide pasted on: the same slide as copied from shifts by `offset`
 * @param {Parameters<typeof placeOps>[1]} target
 * @returns {object[]}
 */
export function pasteOps(storage, slideId, target) {
  const clip = readClipboard(storage);
  if (!clip) {
    return [];
  }
  return placeOps(clip.items, { ...target, offset: clip.slideId === slideId ? target.offset : [0, 0] });
}

/**
 * The ops of duplicating entries: copies in each one's own set and group, shifted by `offset`.
 * @param {object[]} entries the document's entries
 * @param {{offset: [number, number], width: number, height: number, newId: () => string}} target
 */
export function duplicateOps(entries, target) {
  return entries.flatMap((e) => placeOps([itemOf(e)], { ...target, setId: e.setId, group: null, groups: null }));
}
