/**
 * The display settings of a slide's value overlays and their URL state (pure, no DOM).
 *
 * URL: one `ov` parameter per overlay (`lov`/`rov` for compare mode's panes), in drawing order
 * (the first is drawn at the bottom): `ov=<id>:<visible 1|0>:<colormap>:<min>:<max>:<threshold>:<opacity>:<n|s>`
 * (n nearest, s smooth), e.g. `ov=lm-3f2a9c0d1e:1:magma:0:255:127.5:0.5:n`. Nothing is written
 * while every overlay has its defaults in the server's order, so a plain link shows the defaults.
 * Malformed entries and unknown ids are ignored; a field that does not parse keeps its default.
 *
 * Defaults: visible, so that a new user opening a slide with a result image (the demo's
 * likelihood map, attached beside it) sees the feature at once, not a hidden switch; heatmaps in
 * jet (ASAP's look, and over pink H&E its green-yellow-red reads better than magma's pinks) over
 * the whole value range, threshold at half the range (a model's 0.5 probability cut-off: below
 * it stays clear, so the tissue is seen), opacity 0.5, nearest (the stored cells as they are);
 * label maps the categorical palette, no threshold.
 */

import { COLORMAPS } from "./colormaps.js";

/**
 * @typedef {import("./value-codec.js").Settings} Settings
 * @typedef {{id: string, kind: string, value_range: {min: number, max: number}}} Descriptor
 */

/**
 * The default settings of an overlay.
 * @param {Descriptor} desc
 * @returns {Settings}
 */
export function defaultSettings(desc) {
  const { min, max } = desc.value_range;
  const labels = desc.kind === "labels";
  return {
    visible: true,
    colormap: labels ? "labels" : "jet",
    min,
    max,
    threshold: labels ? min : min + 0.5 * (max - min),
    opacity: 0.5,
    smooth: false,
  };
}

const num = (v) => String(Number(Number(v).toPrecision(7)));

/**
 * One overlay's entry of the `ov` parameter.
 * @param {string} id
 * @param {Settings} s
 * @returns {string}
 */
export function encodeEntry(id, s) {
  return [id, s.visible ? "1" : "0", s.colormap, num(s.min), num(s.max), num(s.threshold), num(s.opacity),
    s.smooth ? "s" : "n"].join(":");
}

/**
 * Parse one entry; null unless it names an id.
 * @param {string} text
 * @returns {{id: string, settings: Partial<Settings>}|null}
 */
export function decodeEntry(text) {
  const parts = String(text).split(":");
  const id = parts[0];
  if (!/^[a-z0-9-]{1,64}$/.test(id ?? "")) {
    return null;
  }
  const settings = {};
  const number = (raw) => {
    if (raw === undefined || raw.trim() === "") {
      return undefined;
    }
    const n = Number(raw);
    return Number.isFinite(n) ? n : undefined;
  };
  if (parts[1] === "0" || parts[1] === "1") {
    settings.visible = parts[1] === "1";
  }
  if (COLORMAPS.includes(parts[2])) {
    settings.colormap = parts[2];
  }
  for (const [key, index] of [["min", 3], ["max", 4], ["threshold", 5], ["opacity", 6]]) {
    const n = number(parts[index]);
    if (n !== undefined) {
      settings[key] = key === "opacity" ? Math.min(1, Math.max(0, n)) : n;
    }
  }
  if (parts[7] === "s" || parts[7] === "n") {
    settings.smooth = parts[7] === "s";
  }
  return { id, settings };
}

/**
 * The overlays in drawing order with their settings: those the URL names first (in its order,
 * their settings over the defaults), then the others in the server's order with their defaults.
 * @param {Descriptor[]} descriptors the slide's `overlays`
 * @param {URLSearchParams|string} params
 * @param {string} [prefix=""] "l" / "r" in compare mode
 * @returns {Array<{desc: Descriptor, settings: Settings}>}
 */
export function decodeOverlayState(descriptors, params, prefix = "") {
  const p = typeof params === "string" ? new URLSearchParams(params) : params;
  const byId = new Map(descriptors.map((d) => [d.id, d]));
  const out = [];
  const seen = new Set();
  for (const raw of p.getAll(`${prefix}ov`)) {
    const entry = decodeEntry(raw);
    const desc = entry && byId.get(entry.id);
    if (desc && !seen.has(desc.id)) {
      seen.add(desc.id);
      const settings = { ...defaultSettings(desc), ...entry.settings };
      if (settings.max < settings.min) {
        [settings.min, settings.max] = [settings.max, settings.min];
      }
      out.push({ desc, settings });
    }
  }
  for (const desc of descriptors) {
    if (!seen.has(desc.id)) {
      out.push({ desc, settings: defaultSettings(desc) });
    }
  }
  return out;
}

/**
 * Whether every overlay has its defaults and the server's order (nothing to write).
 * @param {Array<{desc: Descriptor, settings: Settings}>} entries
 * @param {Descriptor[]} descriptors
 * @returns {boolean}
 */
export function isDefault(entries, descriptors) {
  return entries.every((e, i) => descriptors[i]?.id === e.desc.id &&
    encodeEntry(e.desc.id, e.settings) === encodeEntry(e.desc.id, defaultSettings(e.desc)));
}

/**
 * Write the overlays' settings into URL parameters (other parameters kept).
 * @param {Array<{desc: Descriptor, settings: Settings}>} entries in drawing order
 * @param {Descriptor[]} descriptors the server's list (its order is the default)
 * @param {URLSearchParams} [params] not modified
 * @param {string} [prefix=""]
 * @returns {URLSearchParams}
 */
export function encodeOverlayState(entries, descriptors, params = new URLSearchParams(), prefix = "") {
  const out = new URLSearchParams(params);
  out.delete(`${prefix}ov`);
  if (!isDefault(entries, descriptors)) {
    for (const e of entries) {
      out.append(`${prefix}ov`, encodeEntry(e.desc.id, e.settings));
    }
  }
  return out;
}
