/**
 * When and at what resolution the value overlays repaint after a control moves (pure logic).
 *
 * A control change (threshold, opacity, colormap, range) recolours every pixel of the overlay
 * canvas: the fill is the whole cost. On a GPU a 1920×1080 fill is well under a millisecond; on
 * a software rasteriser (SwiftShader, what headless Chromium and GPU-less lab PCs have) it was
 * 16 ms for a constant colour and 25-40 ms for the overlay's shader, measured: longer than a frame.
 * So, only where the measured full-resolution draw is over the budget, the frames drawn while a
 * control is moving are drawn at a reduced canvas resolution (the canvas's CSS size is the view's:
 * the compositor stretches it), and the view is drawn again at full resolution once the control
 * rests for `REFINE_AFTER_MS`. The tile level stays the full resolution's: no tile is fetched.
 */

/**
 * The draw time (ms, CPU and GPU) a repaint while a control moves may take. A quarter of a 60 Hz
 * frame: on a software rasteriser the compositor's own work (every layer of the page, stretched
 * to the screen) takes most of the rest; measured at 1920×1080, the draws at 0.5 (10 ms) made the
 * control -> frame p95 26 ms, at 0.25 (2.5 ms) 21 ms.
 */
export const INTERACTIVE_BUDGET_MS = 4;

/** How long after the last control change the full-resolution repaint comes (ms). */
export const REFINE_AFTER_MS = 180;

/** The reduced resolutions, largest first (a share of the device px on each axis). */
export const SCALES = [1, 0.5, 0.25];

/**
 * The canvas resolution for a repaint while a control moves: the largest of `SCALES` whose fill
 * (proportional to the pixel count, scale²) fits the budget; 1 when the full draw fits or was not
 * measured yet.
 * @param {number|null} fullDrawMs a measured full-resolution draw, GPU work included
 * @param {number} [budgetMs]
 * @returns {number}
 */
export function interactiveScale(fullDrawMs, budgetMs = INTERACTIVE_BUDGET_MS) {
  if (fullDrawMs === null || !Number.isFinite(fullDrawMs) || fullDrawMs <= budgetMs) {
    return 1;
  }
  for (const s of SCALES) {
    if (fullDrawMs * s * s <= budgetMs) {
      return s;
    }
  }
  return SCALES[SCALES.length - 1];
}

/**
 * The canvas size (device px) and the exact per-axis scales for a frame of width × height at
 * `scale` (each axis rounded up, so the canvas covers the view; the scales are the rounded sizes'
 * own, so the drawing stretched to the view lands where a full-resolution one would).
 * @param {number} width
 * @param {number} height
 * @param {number} scale
 * @returns {{width: number, height: number, sx: number, sy: number}}
 */
export function scaledCanvas(width, height, scale) {
  if (scale >= 1) {
    return { width, height, sx: 1, sy: 1 };
  }
  const w = Math.max(1, Math.ceil(width * scale));
  const h = Math.max(1, Math.ceil(height * scale));
  return { width: w, height: h, sx: w / Math.max(width, 1), sy: h / Math.max(height, 1) };
}
