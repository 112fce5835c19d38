/**
 * Colour lookup tables of the value overlays (pure, no DOM): each a 256-entry RGBA8 table
 * (`Uint8Array(1024)`), entry i the colour of the normalised value i/255 of the overlay's display
 * range (heatmaps) or of class id i (label maps). The WebGL layer uploads it as a 256×1 texture,
 * the Canvas 2D fallback reads it on the CPU.
 *
 * - `viridis`, `magma`: matplotlib's perceptually uniform maps, interpolated from nine stops
 *   (every 1/8 of the range; the largest difference to matplotlib's 256 entries is below 2/255).
 * - `jet`: the rainbow ASAP shows result images with (dark blue → cyan → yellow → dark red),
 *   MATLAB's piecewise-linear definition.
 * - `grey`: black to white.
 * - `labels`: a categorical palette (Tableau 10, then a lighter round), class 0 transparent
 *   (background), or the overlay's own class colours when it has them.
 */

/** Names of the colormaps, in the order the panel lists them. */
export const COLORMAPS = Object.freeze(["magma", "viridis", "jet", "grey", "labels"]);

const STOPS = {
  viridis: ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"],
  magma: ["#000004", "#1c1044", "#4f127b", "#812581", "#b5367a", "#e55964", "#fb8761", "#fec287", "#fcfdbf"],
  grey: ["#000000", "#ffffff"],
};

/** The categorical palette (class 1 onwards; class 0 is transparent). */
export const CATEGORICAL = Object.freeze([
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
  "#a0cbe8", "#ffbe7d", "#ff9d9a", "#8cd17d", "#f1ce63", "#d4a6c8", "#fabfd2", "#d7b5a6", "#86bcb6", "#79706e",
]);

/**
 * "#rrggbb" → [r, g, b] (0..255); anything else → null.
 * @param {string} hex
 * @returns {number[]|null}
 */
export function parseHex(hex) {
  const m = /^#?([0-9a-f]{6})$/i.exec(String(hex ?? "").trim());
  if (!m) {
    return null;
  }
  const n = parseInt(m[1], 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function fromStops(stops) {
  const rgb = stops.map(parseHex);
  const lut = new Uint8Array(1024);
  const segments = rgb.length - 1;
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * segments;
    const k = Math.min(Math.floor(t), segments - 1);
    const f = t - k;
    for (let c = 0; c < 3; c++) {
      lut[i * 4 + c] = Math.round(rgb[k][c] + (rgb[k + 1][c] - rgb[k][c]) * f);
    }
    lut[i * 4 + 3] = 255;
  }
  return lut;
}

function jet() {
  const lut = new Uint8Array(1024);
  const clamp = (v) => Math.min(1, Math.max(0, v));
  for (let i = 0; i < 256; i++) {
    const x = i / 255;
    lut[i * 4] = Math.round(255 * clamp(1.5 - Math.abs(4 * x - 3)));
    lut[i * 4 + 1] = Math.round(255 * clamp(1.5 - Math.abs(4 * x - 2)));
    lut[i * 4 + 2] = Math.round(255 * clamp(1.5 - Math.abs(4 * x - 1)));
    lut[i * 4 + 3] = 255;
  }
  return lut;
}

/**
 * The categorical table: class 0 transparent (background), class k the overlay's colour for k when it has one,
 * else the palette's entry (cycling).
 * @param {Array<{value: number, color: string}>|null} [classes]
 * @returns {Uint8Array}
 */
export function categoricalLut(classes = null) {
  const lut = new Uint8Array(1024);
  for (let i = 1; i < 256; i++) {
    const [r, g, b] = parseHex(CATEGORICAL[(i - 1) % CATEGORICAL.length]);
    lut.set([r, g, b, 255], i * 4);
  }
  for (const c of classes ?? []) {
    const rgb = parseHex(c.color);
    if (rgb && Number.isInteger(c.value) && c.value >= 0 && c.value < 256) {
      lut.set([...rgb, c.value === 0 ? 0 : 255], c.value * 4); // class 0: background, not drawn
    }
  }
  return lut;
}

const cache = new Map();

/**
 * The lookup table of a colormap (the same array for the same name; do not modify it).
 * @param {string} name one of COLORMAPS (unknown names give magma)
 * @param {Array<{value: number, color: string}>|null} [classes] label classes (for `labels`)
 * @returns {Uint8Array} 1024 bytes: 256 × RGBA
 */
export function colormapLut(name, classes = null) {
  if (name === "labels") {
    return categoricalLut(classes);
  }
  const key = COLORMAPS.includes(name) ? name : "magma";
  if (!cache.has(key)) {
    cache.set(key, key === "jet" ? jet() : fromStops(STOPS[key]));
  }
  return cache.get(key);
}

/**
 * A CSS colour of the table at t ∈ [0, 1] (legends).
 * @param {Uint8Array} lut
 * @param {number} t
 * @returns {string}
 */
export function lutCss(lut, t) {
  const i = Math.min(255, Math.max(0, Math.round(t * 255))) * 4;
  return `rgba(${lut[i]}, ${lut[i + 1]}, ${lut[i + 2]}, ${(lut[i + 3] / 255).toFixed(3)})`;
}
