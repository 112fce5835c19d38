/**
 * Pure encoding of a view in the URL query (no DOM): centre in slide space, zoom, rotation, flip.
 *
 * Keys: `x`, `y` = view centre in slide (level-0) px; `z` = image zoom (screen CSS px per slide
 * px); `r` = rotation in degrees [0, 360); `flip=1` when mirrored. A prefix (`l`/`r` in compare
 * mode) keeps two views in one URL. Slide coordinates (not OpenSeadragon's viewport units) make
 * links survive changes of tile settings such as LIMIT_BOUNDS.
 */

/**
 * @typedef {{x: number, y: number, zoom: number, rotation: number, flip: boolean}} ViewState
 */

/**
 * Normalise degrees into [0, 360).
 * @param {number} degrees
 * @returns {number}
 */
export function normalizeRotation(degrees) {
  const r = ((degrees % 360) + 360) % 360;
  return Math.abs(r - 360) < 1e-9 ? 0 : r;
}

/**
 * Write a view into URL query parameters (other parameters are kept).
 * @param {ViewState} state
 * @param {URLSearchParams} [params] existing parameters (not modified)
 * @param {string} [prefix=""]
 * @returns {URLSearchParams}
 */
export function encodeViewState(state, params = new URLSearchParams(), prefix = "") {
  const out = new URLSearchParams(params);
  out.set(`${prefix}x`, String(Math.round(state.x)));
  out.set(`${prefix}y`, String(Math.round(state.y)));
  out.set(`${prefix}z`, String(Number(state.zoom.toPrecision(4))));
  const rotation = Number(normalizeRotation(state.rotation).toFixed(1));
  if (rotation) {
    out.set(`${prefix}r`, String(rotation));
  } else {
    out.delete(`${prefix}r`);
  }
  if (state.flip) {
    out.set(`${prefix}flip`, "1");
  } else {
    out.delete(`${prefix}flip`);
  }
  return out;
}

/**
 * Read a view from URL query parameters; anything missing or invalid is null / default.
 * @param {URLSearchParams|string} params
 * @param {string} [prefix=""]
 * @returns {ViewState|null} null unless a centre and a positive zoom are present
 */
export function decodeViewState(params, prefix = "") {
  const p = typeof params === "string" ? new URLSearchParams(params) : params;
  const num = (key) => {
    const raw = p.get(`${prefix}${key}`);
    if (raw === null || raw.trim() === "") {
      return null;
    }
    const n = Number(raw);
    return Number.isFinite(n) ? n : null;
  };
  const x = num("x");
  const y = num("y");
  const zoom = num("z");
  if (x === null || y === null || zoom === null || zoom <= 0) {
    return null;
  }
  return {
    x,
    y,
    zoom,
    rotation: normalizeRotation(num("r") ?? 0),
    flip: p.get(`${prefix}flip`) === "1",
  };
}

/**
 * Whether two states differ enough to be worth a new URL (avoids churn during animations).
 * @param {ViewState|null} a
 * @param {ViewState|null} b
 * @returns {boolean}
 */
export function sameView(a, b) {
  if (!a || !b) {
    return a === b;
  }
  return (
    Math.round(a.x) === Math.round(b.x) &&
    Math.round(a.y) === Math.round(b.y) &&
    Number(a.zoom.toPrecision(4)) === Number(b.zoom.toPrecision(4)) &&
    normalizeRotation(a.rotation).toFixed(1) === normalizeRotation(b.rotation).toFixed(1) &&
    a.flip === b.flip
  );
}

/**
 * @typedef {{hiddenSets: number[], hiddenGroups: Array<[number, string]>}} LayerState
 * Which annotation sets and groups are hidden (everything else is shown).
 */

/**
 * Write which sets and groups are hidden into URL query parameters (other parameters kept):
 * `hide=3,5` (set ids) and one `hg=<set id>:<group name>` per hidden group; nothing when all
 * are shown, so a plain link shows everything.
 * @param {LayerState} state
 * @param {URLSearchParams} [params] existing parameters (not modified)
 * @param {string} [prefix=""]
 * @returns {URLSearchParams}
 */
export function encodeLayerState(state, params = new URLSearchParams(), prefix = "") {
  const out = new URLSearchParams(params);
  out.delete(`${prefix}hide`);
  out.delete(`${prefix}hg`);
  const sets = [...new Set(state.hiddenSets.map(Number))].sort((a, b) => a - b);
  if (sets.length) {
    out.set(`${prefix}hide`, sets.join(","));
  }
  const seen = new Set();
  for (const [setId, name] of state.hiddenGroups) {
    const value = `${Number(setId)}:${name}`;
    if (!seen.has(value)) {
      seen.add(value);
      out.append(`${prefix}hg`, value);
    }
  }
  return out;
}

/**
 * Read which sets and groups are hidden; malformed entries are ignored.
 * @param {URLSearchParams|string} params
 * @param {string} [prefix=""]
 * @returns {LayerState}
 */
export function decodeLayerState(params, prefix = "") {
  const p = typeof params === "string" ? new URLSearchParams(params) : params;
  const hiddenSets = (p.get(`${prefix}hide`) ?? "").split(",")
    .filter((s) => /^\d+$/.test(s.trim())).map((s) => Number(s));
  const hiddenGroups = [];
  for (const value of p.getAll(`${prefix}hg`)) {
    const colon = value.indexOf(":");
    const id = value.slice(0, colon);
    if (colon > 0 && /^\d+$/.test(id)) {
      hiddenGroups.push([Number(id), value.slice(colon + 1)]);
    }
  }
  return { hiddenSets, hiddenGroups };
}
