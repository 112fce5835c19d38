/**
 * Value tiles decoded (pure, no DOM): the contract's PNG encodings, value ↔ code, and the colour
 * of a value under an overlay's display settings. The WebGL shader (`overlay-layer.js`) does the
 * same arithmetic per pixel; the Canvas 2D fallback and the tests use these functions.
 *
 * - `u8`: PNG LA, code = L (0..255), A = 0 nodata; value = min + code/255 · (max − min).
 * - `u16`: PNG RGBA, code = R·256 + G (0..65535), A = 0 nodata; value = min + code/65535 · (max − min).
 * Decoded from an ImageBitmap made with `premultiplyAlpha: "none"`, an LA tile reads as
 * R = G = B = L, so `R` is the code of both encodings' high part.
 */

/**
 * @typedef {{encoding: "u8"|"u16", value_range: {min: number, max: number}, kind: string}} Descriptor
 * @typedef {{visible: boolean, colormap: string, min: number, max: number, threshold: number,
 *   opacity: number, smooth: boolean}} Settings display settings of one overlay (overlay-state.js)
 * @typedef {{vmin: number, vmax: number, maxCode: number, lo: number, hi: number,
 *   threshold: number, opacity: number, labels: boolean}} Style what the shader's uniforms hold
 */

/**
 * The largest code of an encoding.
 * @param {string} encoding
 * @returns {number} 255 or 65535
 */
export function maxCode(encoding) {
  return encoding === "u16" ? 65535 : 255;
}

/**
 * The code of one decoded pixel, or -1 for nodata.
 * @param {string} encoding
 * @param {number} r
 * @param {number} g
 * @param {number} a
 * @returns {number}
 */
export function pixelCode(encoding, r, g, a) {
  if (a === 0) {
    return -1;
  }
  return encoding === "u16" ? r * 256 + g : r;
}

/**
 * Every pixel's code of a decoded tile (RGBA bytes, row-major), -1 for nodata.
 * @param {string} encoding
 * @param {Uint8ClampedArray|Uint8Array} rgba
 * @returns {Int32Array}
 */
export function decodeCodes(encoding, rgba) {
  const n = rgba.length >> 2;
  const out = new Int32Array(n);
  const u16 = encoding === "u16";
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    out[i] = rgba[j + 3] === 0 ? -1 : (u16 ? rgba[j] * 256 + rgba[j + 1] : rgba[j]);
  }
  return out;
}

/**
 * A code's value.
 * @param {number} code
 * @param {Descriptor} desc
 * @returns {number|null} null for nodata (-1)
 */
export function codeToValue(code, desc) {
  if (code < 0) {
    return null;
  }
  const { min, max } = desc.value_range;
  return min + (code / maxCode(desc.encoding)) * (max - min);
}

/**
 * The nearest code of a value (clamped to the encoding).
 * @param {number} value
 * @param {Descriptor} desc
 * @returns {number}
 */
export function valueToCode(value, desc) {
  const { min, max } = desc.value_range;
  const top = maxCode(desc.encoding);
  if (max === min) {
    return 0;
  }
  return Math.min(top, Math.max(0, Math.round(((value - min) / (max - min)) * top)));
}

/**
 * The uniforms of an overlay's style: the descriptor's mapping and the display settings.
 * @param {Descriptor} desc
 * @param {Settings} settings
 * @returns {Style}
 */
export function styleOf(desc, settings) {
  const labels = desc.kind === "labels";
  return {
    vmin: desc.value_range.min, vmax: desc.value_range.max, maxCode: maxCode(desc.encoding),
    lo: settings.min, hi: settings.max,
    // label maps have classes, not a scale: no threshold (class 0, the background, is transparent)
    threshold: labels ? -Infinity : settings.threshold,
    opacity: settings.opacity, labels,
  };
}

/**
 * The LUT index of a value under a style, or -1 when it is not drawn (below the threshold).
 * @param {number} value
 * @param {Style} style
 * @returns {number} 0..255 or -1
 */
export function lutIndex(value, style) {
  if (style.labels) {
    const code = Math.round(((value - style.vmin) / ((style.vmax - style.vmin) || 1)) * style.maxCode);
    return Math.min(255, Math.max(0, code));
  }
  if (value < style.threshold) {
    return -1;
  }
  const span = style.hi - style.lo;
  const t = span > 0 ? (value - style.lo) / span : (value > style.hi ? 1 : 0); // the shader's rule
  return Math.round(Math.min(1, Math.max(0, t)) * 255);
}

/**
 * Colour decoded codes into RGBA (straight alpha, the Canvas 2D fallback's ImageData).
 * @param {Int32Array} codes from decodeCodes
 * @param {Uint8ClampedArray} out RGBA, 4 × codes.length
 * @param {Uint8Array} lut 256 × RGBA
 * @param {Style} style
 */
export function colorize(codes, out, lut, style) {
  // one entry per code: a tile is 256² px but an encoding has at most 65536 codes, each the same
  // colour wherever it is, so the table is computed once per call (u8: 256 entries)
  const top = style.maxCode;
  const table = new Int32Array(top + 1);
  for (let c = 0; c <= top; c++) {
    const value = style.vmin + (c / top) * (style.vmax - style.vmin);
    table[c] = lutIndex(value, style);
  }
  const alphaScale = Math.min(1, Math.max(0, style.opacity));
  for (let i = 0, j = 0; i < codes.length; i++, j += 4) {
    const code = codes[i];
    const k = code < 0 ? -1 : table[code];
    if (k < 0) {
      out[j] = out[j + 1] = out[j + 2] = out[j + 3] = 0;
    } else {
      const l = k * 4;
      out[j] = lut[l];
      out[j + 1] = lut[l + 1];
      out[j + 2] = lut[l + 2];
      out[j + 3] = Math.round(lut[l + 3] * alphaScale);
    }
  }
}

/**
 * The number of decimals that shows a value of this overlay exactly enough: integers for
 * integer encodings of integer ranges (uint8, uint16, labels), else enough for one code step.
 * @param {Descriptor} desc
 * @returns {number}
 */
export function valueDecimals(desc) {
  const { min, max } = desc.value_range;
  const step = (max - min) / maxCode(desc.encoding);
  if (Number.isInteger(min) && Number.isInteger(step)) {
    return 0;
  }
  return Math.min(6, Math.max(0, Math.ceil(-Math.log10(Math.abs(step) || 1))));
}

/**
 * A value as the legend and the readout show it.
 * @param {number|null} value
 * @param {Descriptor} desc
 * @returns {string}
 */
export function formatValue(value, desc) {
  if (value === null || value === undefined || !Number.isFinite(value)) {
    return "–";
  }
  return value.toFixed(valueDecimals(desc));
}
