/**
 * Two-finger gestures (pure, DOM-free): one finger of two moved, what the view does — its
 * midpoint's motion pans (the slide follows the fingers) and the change of their distance zooms
 * about the new midpoint (a pinch), in every editor tool (`editor-input.js` applies it).
 */

/**
 * @param {Map<any, {x: number, y: number}>} touches the fingers down before this move (client px)
 * @param {any} id the finger that moved
 * @param {{x: number, y: number}} to where it is now
 * @returns {{pan: [number, number], zoomBy: number, at: [number, number]}|null} pan: client px the
 *   view content moves by; zoomBy: factor about `at` (client px); null: not a two-finger move
 */
export function twoFingerStep(touches, id, to) {
  const from = touches.get(id);
  const other = [...touches.entries()].find(([key]) => key !== id)?.[1];
  if (!from || !other || touches.size !== 2) {
    return null;
  }
  const before = [(from.x + other.x) / 2, (from.y + other.y) / 2];
  const after = [(to.x + other.x) / 2, (to.y + other.y) / 2];
  const d0 = Math.hypot(from.x - other.x, from.y - other.y);
  const d1 = Math.hypot(to.x - other.x, to.y - other.y);
  const zoomBy = d0 > 0 && d1 > 0 ? d1 / d0 : 1;
  return { pan: [after[0] - before[0], after[1] - before[1]], zoomBy, at: after };
}
