/**
 * The overlay stage's raster cache (WebGL2): the cacheable layers (the annotation sets) are drawn
 * into the overlay canvas made larger than the view (the view plus a margin), and a frame that
 * only moved the view moves that canvas with a CSS transform (the compositor shows it; no WebGL
 * call, the drawing buffer is kept) instead of drawing every triangle again. With software WebGL
 * (SwiftShader) a 10^6-vertex set costs 40-110 ms a draw at the zooms showing most of it, and even
 * a textured quad over the view cost 8-25 ms (measured, loaded machine): the compositor moves the
 * canvas for free.
 *
 * When the cache is re-rendered (`planBlit` says `null`): its layers or styles changed
 * (`stage.invalidate()`), the view left the margin, the view came to rest at anything but an
 * integer device-pixel translation of the cached view (so at rest the pixels are exactly those of
 * a direct draw: the canvas then sits at an integer device-pixel offset), or a zoom/rotation
 * animation has shown the scaled canvas for longer than {@link ZOOM_RENDER_MS}. A render during
 * a pan animation is made on the pixel grid of the pan's *target* view, grown to hold the view
 * of now (`cacheFrame(target, share, now)`): the pan then ends on an exact copy, with no render.
 *
 * Pure (no DOM, no WebGL): tested with `node --test`; `stage.js` sizes, draws and moves the canvas.
 */

import { compose, invertAffine } from "./view.js";

/** Margin of the cache on each side, as a share of the view's width and height. */
export const MARGIN_SHARE = 0.15;
/** A render during a pan (of at most this many views) also holds where it started and the pan
 * continued as far again beyond its end: the benchmark's pans (0.4 views each way, twice) each left the 15 %
 * margin (24 of a session's 43 renders); a pan that goes on, or comes back, now stays in the copy. */
export const AHEAD_MAX = 1;
/** During a zoom or rotation animation, the scaled canvas is re-rendered at most this often. */
export const ZOOM_RENDER_MS = 600;
/** ... and at most this often while zooming out shows the canvas's edge (a direct draw every frame
 * cost the 10^6-vertex set 40-110 ms a frame). */
export const UNCOVERED_MS = 150;
const EPS_LINEAR = 1e-7; // relative: the same zoom read twice
const EPS_PX = 1e-3; // device px: an integer translation

/**
 * The frame the cache is rendered with: `f` grown by the margin on every side (the same zoom,
 * rotation and flip; device px shifted by whole pixels), and further, when `include` (a frame
 * that is a translation of `f`, e.g. where a pan animation is now while `f` is where it ends)
 * is given, to hold it too. `view` keeps the view's frame (`include` when given: layers fetch and
 * judge completeness for what is on screen, not for the margin).
 * @param {object} f the frame whose device pixel grid the cache keeps
 * @param {number} [share=MARGIN_SHARE]
 * @param {object|null} [include]
 * @param {{from?: object|null, keep?: object|null}} [grow] from: `f` is where a pan from this frame
 *   ends (a translation of it): held too, and the far side grows by the pan's length again plus the
 *   margin (a pan up to AHEAD_MAX views); keep: a cache frame whose area is held too (a render at
 *   rest for new tiles keeps what a pan's render covered, or the next pan leaves it again)
 * @returns {object}
 */
export function cacheFrame(f, share = MARGIN_SHARE, include = null, { from = null, keep = null } = {}) {
  const mx = Math.round(f.width * share);
  const my = Math.round(f.height * share);
  let [left, top, right, bottom] = [mx, my, mx, my];
  const hold = (g) => { // grow to hold frame g (a translation of f); returns where g's (0, 0) lies in f's device px
    const m = compose(f.slideToDevice, g.deviceToSlide);
    left = Math.max(left, Math.ceil(-m.e));
    top = Math.max(top, Math.ceil(-m.f));
    right = Math.max(right, Math.ceil(m.e + g.width - f.width));
    bottom = Math.max(bottom, Math.ceil(m.f + g.height - f.height));
    return m;
  };
  if (include) {
    hold(include);
  }
  if (keep && isTranslationOf({ ...keep, width: f.width, height: f.height }, f)) {
    hold(keep);
  }
  const back = from && isTranslationOf(from, f) ? compose(f.slideToDevice, from.deviceToSlide) : null;
  if (back && Math.abs(back.e) <= f.width * AHEAD_MAX && Math.abs(back.f) <= f.height * AHEAD_MAX) {
    // it holds where the pan started, and on the far side the pan continued as far again (and
    // the margin): a pan back, or on, stays in the copy (a longer pan: no more than the rest)
    const m = hold(from);
    const ax = mx + Math.ceil(Math.abs(m.e));
    const ay = my + Math.ceil(Math.abs(m.f));
    if (m.e < 0) right = Math.max(right, ax); else if (m.e > 0) left = Math.max(left, ax);
    if (m.f < 0) bottom = Math.max(bottom, ay); else if (m.f > 0) top = Math.max(top, ay);
  }
  const slideToDevice = compose({ a: 1, b: 0, c: 0, d: 1, e: left, f: top }, f.slideToDevice);
  const slideToElement = compose({ a: 1, b: 0, c: 0, d: 1, e: left / f.dpr, f: top / f.dpr }, f.slideToElement);
  const width = f.width + left + right;
  const height = f.height + top + bottom;
  return {
    ...f, slideToDevice, deviceToSlide: invertAffine(slideToDevice), slideToElement,
    elementToSlide: invertAffine(slideToElement), width, height, cssWidth: width / f.dpr, cssHeight: height / f.dpr,
    margin: [left, top, right, bottom], view: include ?? f, cached: true,
  };
}

/**
 * Whether frame `g` is `f` moved by a translation only (same zoom, rotation, flip and size).
 * @returns {boolean}
 */
export function isTranslationOf(g, f) {
  if (!g || !f || !g.slideToDevice || !f.deviceToSlide || g.dpr !== f.dpr || g.flip !== f.flip ||
      g.width !== f.width || g.height !== f.height) {
    return false;
  }
  const m = compose(g.slideToDevice, f.deviceToSlide);
  return Math.abs(m.a - 1) < EPS_LINEAR && Math.abs(m.d - 1) < EPS_LINEAR &&
    Math.abs(m.b) < EPS_LINEAR && Math.abs(m.c) < EPS_LINEAR;
}

/**
 * How to show the view `f` from a cache rendered with `cached` (a `cacheFrame`), or null when it
 * must be re-rendered.
 * @param {object|null} cached the cache's frame (null: none)
 * @param {object} f the view's frame
 * @param {{moving: boolean, now: number, since: number}} state whether the view is animating, and
 *   since when (ms) the cache or the animation is (the later of its render and the animation's start)
 * @returns {{m: import("./view.js").Affine, exact: boolean}|null} m: cache canvas device px ->
 *   view device px; exact: an integer translation (pixel-identical to a direct draw)
 */
export function planBlit(cached, f, state) {
  return blitPlan(cached, f, state).plan;
}

/**
 * `planBlit` with why a render is needed (`reason`, when `plan` is null): "none" (no cache, or
 * the device pixel ratio or flip changed), "settle" (at rest at a fractional translation),
 * "margin" (a pan left the cached margin), "zoom-rest" (a zoom or rotation came to rest),
 * "zoom-age" (the scaled copy shown for ZOOM_RENDER_MS), "zoom-edge" (zooming out uncovered the
 * canvas's edge for UNCOVERED_MS). The stage counts its renders by these (and by what invalidated).
 * @returns {{plan: {m: import("./view.js").Affine, exact: boolean}|null, reason: string|null}}
 */
export function blitPlan(cached, f, state) {
  const no = (reason) => ({ plan: null, reason });
  if (!cached || !cached.deviceToSlide || cached.dpr !== f.dpr || cached.flip !== f.flip) {
    return no("none");
  }
  const m = compose(f.slideToDevice, cached.deviceToSlide);
  const translation = Math.abs(m.a - 1) < EPS_LINEAR && Math.abs(m.d - 1) < EPS_LINEAR &&
    Math.abs(m.b) < EPS_LINEAR && Math.abs(m.c) < EPS_LINEAR;
  if (translation) {
    const ex = Math.round(m.e);
    const ey = Math.round(m.f);
    const integral = Math.abs(m.e - ex) < EPS_PX && Math.abs(m.f - ey) < EPS_PX;
    if (!integral && !state.moving) {
      return no("settle"); // at rest: exact pixels
    }
    // the canvas must still cover the view: its rect [0, W) x [0, H) moved by (e, f)
    if (m.e > 0 || m.f > 0 || m.e + cached.width < f.width || m.f + cached.height < f.height) {
      return no("margin");
    }
    return { plan: integral ? { m: { a: 1, b: 0, c: 0, d: 1, e: ex, f: ey }, exact: true } : { m, exact: false },
      reason: null };
  }
  const age = state.now - state.since;
  if (!state.moving || age > ZOOM_RENDER_MS) {
    return no(state.moving ? "zoom-age" : "zoom-rest");
  }
  // zooming out past the margin shows the canvas's edge: render, but not every frame
  const inv = invertAffine(m);
  if (!inv) {
    return no("none");
  }
  for (const [x, y] of [[0, 0], [f.width, 0], [0, f.height], [f.width, f.height]]) {
    const px = inv.a * x + inv.c * y + inv.e;
    const py = inv.b * x + inv.d * y + inv.f;
    if ((px < -1 || py < -1 || px > cached.width + 1 || py > cached.height + 1) && age > UNCOVERED_MS) {
      return no("zoom-edge");
    }
  }
  return { plan: { m, exact: false }, reason: null };
}

/**
 * The CSS transform that shows a cache canvas (its CSS box at the view's top-left corner) through
 * `m` (cache device px -> view device px).
 * @param {import("./view.js").Affine} m
 * @param {number} dpr
 * @returns {string}
 */
export function cssMatrix(m, dpr) {
  return `matrix(${m.a}, ${m.b}, ${m.c}, ${m.d}, ${m.e / dpr}, ${m.f / dpr})`;
}
