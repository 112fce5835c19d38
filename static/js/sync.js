/**
 * Pure maths of synchronised views (compare mode); no DOM.
 *
 * The follower moves by the same on-screen amount as the leader: a pan of the leader by a slide
 * delta is turned into screen pixels through the leader's zoom, rotation and flip, and back into
 * the follower's slide space through the follower's. Zoom keeps the ratio the two views had, and
 * rotation the angle between them, so two slides aligned by hand stay aligned while locked.
 */

/** @typedef {import("./url-state.js").ViewState} ViewState */

/**
 * Rotate a vector clockwise on screen (y points down) by `degrees`.
 * @param {{x: number, y: number}} v
 * @param {number} degrees
 * @returns {{x: number, y: number}}
 */
export function rotateVector(v, degrees) {
  const a = (degrees * Math.PI) / 180;
  const c = Math.cos(a);
  const s = Math.sin(a);
  return { x: v.x * c - v.y * s, y: v.x * s + v.y * c };
}

/**
 * A slide-space delta to the screen delta it shows as.
 * @param {{x: number, y: number}} l0_delta slide px
 * @param {ViewState} view
 * @returns {{x: number, y: number}} CSS px
 */
export function slideDeltaToScreen(l0_delta, view) {
  const r = rotateVector(l0_delta, view.rotation);
  return { x: (view.flip ? -r.x : r.x) * view.zoom, y: r.y * view.zoom };
}

/**
 * A screen delta to the slide-space delta under it.
 * @param {{x: number, y: number}} css_delta CSS px
 * @param {ViewState} view
 * @returns {{x: number, y: number}} slide px
 */
export function screenDeltaToSlide(css_delta, view) {
  const unflipped = { x: (view.flip ? -css_delta.x : css_delta.x) / view.zoom, y: css_delta.y / view.zoom };
  return rotateVector(unflipped, -view.rotation);
}

/**
 * The follower's next view after the leader moved from `leaderPrev` to `leaderNow`.
 * @param {ViewState} leaderPrev
 * @param {ViewState} leaderNow
 * @param {ViewState} followerPrev
 * @returns {ViewState}
 */
export function followView(leaderPrev, leaderNow, followerPrev) {
  const screen = slideDeltaToScreen(
    { x: leaderNow.x - leaderPrev.x, y: leaderNow.y - leaderPrev.y },
    leaderPrev,
  );
  const delta = screenDeltaToSlide(screen, followerPrev);
  return {
    x: followerPrev.x + delta.x,
    y: followerPrev.y + delta.y,
    zoom: followerPrev.zoom * (leaderNow.zoom / leaderPrev.zoom),
    rotation: followerPrev.rotation + (leaderNow.rotation - leaderPrev.rotation),
    flip: followerPrev.flip,
  };
}
