/**
 * Pure objective-magnification maths (no DOM, no OpenSeadragon).
 *
 * Convention of pathology viewers: a 10x eyepiece over an objective of N x shows 10/N µm per
 * screen pixel equivalent, so 0.25 µm/px ~ 40x, 0.5 µm/px ~ 20x, 1 µm/px ~ 10x. "Zoom" below is
 * the image zoom: screen CSS px per slide (level-0) px; 1 = native resolution ("1:1").
 */

import { trimNumber, validMpp } from "./coords.js";

/** The objective buttons every pathology viewer offers, in order (keys 1-6). */
export const MAGNIFICATIONS = Object.freeze([1.25, 2.5, 5, 10, 20, 40]);

/** How far past native resolution the viewer may zoom (screen px per slide px). */
export const MAX_OVERZOOM = 2;

/** µm per pixel of a 1x objective equivalent (10 µm/px). */
const UM_PER_PX_AT_1X = 10;

/**
 * The slide's native magnification, from mpp (preferred) or the scanner's objective power.
 * @param {number|null} mpp micrometres per slide px
 * @param {number|null} [objective_power] nominal objective from the slide's metadata
 * @returns {{mag: number, source: "mpp"|"objective"}|null} null when neither is known
 */
export function nativeMagnification(mpp, objective_power = null) {
  const m = validMpp(mpp);
  if (m !== null) {
    return { mag: UM_PER_PX_AT_1X / m, source: "mpp" };
  }
  const power = validMpp(objective_power);
  return power === null ? null : { mag: power, source: "objective" };
}

/**
 * Magnification shown at an image zoom.
 * @param {number} zoom screen CSS px per slide px
 * @param {number} native native magnification (see nativeMagnification)
 * @returns {number}
 */
export function zoomToMagnification(zoom, native) {
  return zoom * native;
}

/**
 * Image zoom giving a magnification.
 * @param {number} mag wanted magnification, e.g. 20
 * @param {number} native native magnification
 * @returns {number} screen CSS px per slide px
 */
export function magnificationToZoom(mag, native) {
  return mag / native;
}

/**
 * Whether a magnification button can be reached within the overzoom cap.
 * @param {number} mag
 * @param {number} native
 * @returns {boolean}
 */
export function isReachable(mag, native) {
  return magnificationToZoom(mag, native) <= MAX_OVERZOOM * (1 + 1e-9);
}

/**
 * A magnification as text: "40×", "2.5×", "1.25×", "0.31×".
 * @param {number} mag
 * @returns {string}
 */
export function formatMagnification(mag) {
  if (!(mag > 0) || !Number.isFinite(mag)) {
    return "–";
  }
  return `${trimNumber(mag, mag >= 10 ? 1 : 2)}×`;
}

/**
 * A zoom as a percentage of native resolution, for slides without mpp: "100%", "12.5%".
 * @param {number} zoom screen CSS px per slide px
 * @returns {string}
 */
export function formatZoomPercent(zoom) {
  const pct = zoom * 100;
  return `${trimNumber(pct, pct >= 10 ? 0 : 1)}%`;
}

/**
 * The button (if any) that matches the current magnification within 2 %.
 * @param {number} mag current magnification
 * @param {readonly number[]} [choices=MAGNIFICATIONS]
 * @returns {number|null}
 */
export function matchingMagnification(mag, choices = MAGNIFICATIONS) {
  for (const choice of choices) {
    if (Math.abs(mag / choice - 1) < 0.02) {
      return choice;
    }
  }
  return null;
}
