/**
 * The overlay's values inside each annotation, for the layers panel's list (issue 14): max and
 * mean of the slide's first heatmap over the cells whose centre is inside each closed annotation
 * (`GET overlay.urls.statistics?set=<id>`; the server answers 304 while neither the overlay nor
 * the set changed). Pure logic and one fetch per set version; the panel draws the text.
 */

import { getJson } from "./api.js";

/**
 * The overlay whose values the list shows: the slide's first heatmap (the attached likelihood map
 * comes first), none for a slide without one. Label maps are left out: a mean class id means
 * nothing.
 * @param {{overlays?: object[]}|null|undefined} slide the slide detail (`slide.overlays`)
 * @returns {object|null} its descriptor
 */
export function statisticsOverlay(slide) {
  return (slide?.overlays ?? []).find((o) => o.kind === "heatmap" && o.urls?.statistics) ?? null;
}

/**
 * @param {object} overlay descriptor
 * @param {number} setId
 * @returns {string} the statistics URL of one set
 */
export function statisticsUrl(overlay, setId) {
  return `${overlay.urls.statistics}?set=${encodeURIComponent(String(setId))}`;
}

/**
 * A value as the list shows it: 3 significant digits, no trailing zeros ("0.98", "0.5", "1200").
 * @param {number} value
 * @returns {string}
 */
export function formatStatistic(value) {
  if (!Number.isFinite(value)) {
    return "–";
  }
  const abs = Math.abs(value);
  const text = abs !== 0 && (abs >= 1e6 || abs < 1e-3) ? value.toExponential(2) : String(Number(value.toPrecision(3)));
  return text.replace(/\.?0+e/, "e");
}

/**
 * One annotation's line: "likelihood max 0.98 · mean 0.81"; null without cells (no entry shown).
 * @param {{max: number|null, mean: number|null, cells: number}|null|undefined} stats
 * @param {string} name the overlay's name
 * @returns {string|null}
 */
export function statisticsText(stats, name) {
  if (!stats || !stats.cells || stats.max === null || stats.mean === null) {
    return null;
  }
  return `${name} max ${formatStatistic(stats.max)} · mean ${formatStatistic(stats.mean)}`;
}

/** The statistics of one overlay for the sets of the panel, kept per set version. */
export class OverlayStatistics {
  /**
   * @param {object} overlay descriptor (`urls.statistics`, `name`)
   * @param {(url: string) => Promise<any>} [fetchJson] GET as JSON (default: api.js's getJson)
   */
  constructor(overlay, fetchJson = getJson) {
    this.overlay = overlay;
    this.fetchJson = fetchJson;
    this.bySet = new Map(); // setId -> {version, annotations: {id: {max, mean, cells}}}
  }

  /**
   * Fetch a set's statistics unless those of *version* are held.
   * @param {number} setId
   * @param {number} version the set's version the list shows
   * @returns {Promise<boolean>} whether anything new arrived (redraw the list then)
   */
  async load(setId, version) {
    const held = this.bySet.get(setId);
    if (held && held.version >= version) {
      return false;
    }
    const body = await this.fetchJson(statisticsUrl(this.overlay, setId));
    const now = this.bySet.get(setId);
    if (now && now.version >= body.set_version) {
      return false; // an answer for a later version came first
    }
    this.bySet.set(setId, { version: body.set_version, annotations: body.annotations ?? {} });
    return true;
  }

  /** @returns {{max: number|null, mean: number|null, cells: number}|null} */
  get(setId, id) {
    return this.bySet.get(setId)?.annotations[String(id)] ?? null;
  }

  /** @returns {string|null} the list's text for an annotation (see `statisticsText`) */
  text(setId, id) {
    return statisticsText(this.get(setId, id), this.overlay.name);
  }
}
