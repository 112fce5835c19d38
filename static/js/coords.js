/**
 * Pure coordinate and length maths (no DOM, no OpenSeadragon).
 *
 * Spaces (ARCHITECTURE.md rule 7):
 * - slide space: level-0 pixels of the whole slide (what the API and ASAP XML use);
 * - image space: OpenSeadragon image pixels = slide pixels - bounds offset (tiles limited to bounds);
 * - element space: CSS pixels inside the viewer element.
 *
 * `formatLength` and `umFromPixels` are the ONE place that turns pixels into micrometres and
 * text: the scale bar and every measurement go through them, so they can never disagree.
 */

/**
 * @typedef {{offset_x: number, offset_y: number, scale: number}} ImageToSlide
 *   slide px = image px * scale + offset (as `image_to_slide` of GET /api/slides/<id>)
 */

/** @type {ImageToSlide} */
export const IDENTITY = Object.freeze({ offset_x: 0, offset_y: 0, scale: 1 });

/**
 * Image space (OpenSeadragon) to slide space (level-0 px).
 * @param {{x: number, y: number}} image_pt point in image px
 * @param {ImageToSlide} [transform]
 * @returns {{x: number, y: number}} point in slide px
 */
export function imageToSlide(image_pt, transform = IDENTITY) {
  const scale = transform.scale || 1;
  return { x: image_pt.x * scale + transform.offset_x, y: image_pt.y * scale + transform.offset_y };
}

/**
 * Slide space (level-0 px) to image space (OpenSeadragon).
 * @param {{x: number, y: number}} l0_pt point in slide px
 * @param {ImageToSlide} [transform]
 * @returns {{x: number, y: number}} point in image px
 */
export function slideToImage(l0_pt, transform = IDENTITY) {
  const scale = transform.scale || 1;
  return { x: (l0_pt.x - transform.offset_x) / scale, y: (l0_pt.y - transform.offset_y) / scale };
}

/**
 * Undo a horizontal flip of the view: OpenSeadragon mirrors the drawn canvas, but its
 * pixel-to-viewport maths does not, so pointer positions are mirrored before converting.
 * @param {number} element_x x in element CSS px
 * @param {number} element_width width of the viewer element in CSS px
 * @param {boolean} flipped
 * @returns {number}
 */
export function unflipElementX(element_x, element_width, flipped) {
  return flipped ? element_width - element_x : element_x;
}

/**
 * A usable micrometres-per-pixel value, or null (missing, zero, negative, NaN).
 * @param {unknown} mpp
 * @returns {number|null}
 */
export function validMpp(mpp) {
  const n = typeof mpp === "string" ? Number(mpp) : mpp;
  return typeof n === "number" && Number.isFinite(n) && n > 0 ? n : null;
}

/**
 * Pixels to micrometres.
 * @param {number} px length in slide (level-0) px
 * @param {number|null} mpp micrometres per level-0 px
 * @returns {number|null} micrometres, or null when mpp is unknown
 */
export function umFromPixels(px, mpp) {
  const m = validMpp(mpp);
  return m === null ? null : px * m;
}

/**
 * A length as text: µm below 1 mm, mm from 1 mm, with sensible precision.
 * @param {number} um micrometres
 * @returns {string} e.g. "0.5 µm", "250 µm", "1.25 mm", "12 mm"
 */
export function formatLength(um) {
  const abs = Math.abs(um);
  if (abs >= 1000) {
    return `${trimNumber(um / 1000, abs >= 100000 ? 0 : abs >= 10000 ? 1 : 2)} mm`;
  }
  return `${trimNumber(um, abs >= 100 ? 0 : abs >= 10 ? 1 : 2)} µm`;
}

/**
 * Round to `digits` decimals and drop trailing zeros ("2.50" -> "2.5", "20.0" -> "20").
 * @param {number} value
 * @param {number} digits
 * @returns {string}
 */
export function trimNumber(value, digits) {
  const fixed = value.toFixed(digits);
  const trimmed = fixed.includes(".") ? fixed.replace(/\.?0+$/, "") : fixed;
  return trimmed === "-0" ? "0" : trimmed;
}

/**
 * Choose the scale bar: the longest "nice" length (1, 2, 5 x 10^n µm) no wider than `max_css_px`.
 * @param {number|null} mpp micrometres per slide px
 * @param {number} css_px_per_slide_px screen CSS px per slide px at the current zoom
 * @param {number} [max_css_px=140] widest bar allowed
 * @returns {{um: number, css_px: number, label: string}|null} null when mpp is unknown
 */
export function chooseScaleBar(mpp, css_px_per_slide_px, max_css_px = 140) {
  const m = validMpp(mpp);
  if (m === null || !(css_px_per_slide_px > 0)) {
    return null;
  }
  const um_per_css_px = m / css_px_per_slide_px;
  const max_um = um_per_css_px * max_css_px;
  let um = Math.pow(10, Math.floor(Math.log10(max_um)));
  for (const step of [5, 2]) {
    if (um * step <= max_um * (1 + 1e-9)) {
      um *= step;
      break;
    }
  }
  // Round away floating-point noise (0.1 * 5 = 0.5000000000000001).
  um = Number(um.toPrecision(6));
  return { um, css_px: um / um_per_css_px, label: formatLength(um) };
}

/**
 * The readout of a point in slide space: level-0 px and (with mpp) micrometres.
 * @param {{x: number, y: number}} l0_pt point in slide px
 * @param {number|null} mpp_x
 * @param {number|null} mpp_y
 * @returns {{px: string, um: string|null}} e.g. "x 2,696 · y 2,120 px", "(x 1,348.4 · y 1,060.1 µm)"
 */
export function formatSlidePoint(l0_pt, mpp_x, mpp_y) {
  const x = Math.floor(l0_pt.x);
  const y = Math.floor(l0_pt.y);
  const px = `x ${x.toLocaleString("en-US")} · y ${y.toLocaleString("en-US")} px`;
  const ux = umFromPixels(l0_pt.x, mpp_x);
  const uy = umFromPixels(l0_pt.y, mpp_y ?? mpp_x);
  const fmt = (v) => v.toLocaleString("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  // A position, not a length: always µm (0.1 µm steps), so it can be read against the px value.
  const um = ux === null || uy === null ? null : `(x ${fmt(ux)} · y ${fmt(uy)} µm)`;
  return { px, um };
}

/**
 * Distance between two slide points in micrometres (anisotropic mpp allowed), for measurements.
 * @param {{x: number, y: number}} a slide px
 * @param {{x: number, y: number}} b slide px
 * @param {number|null} mpp_x
 * @param {number|null} mpp_y
 * @returns {number|null} µm, or null when mpp is unknown
 */
export function distanceUm(a, b, mpp_x, mpp_y) {
  const dx = umFromPixels(b.x - a.x, mpp_x);
  const dy = umFromPixels(b.y - a.y, mpp_y ?? mpp_x);
  return dx === null || dy === null ? null : Math.hypot(dx, dy);
}
