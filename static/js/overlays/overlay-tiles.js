/**
 * Which value tiles a view needs, and a cache of them (pure planning; the cache takes its fetch
 * and dispose functions, so it runs in node too).
 *
 * Value tiles lie on the slide's own Deep Zoom grid (the contract in
 * agents/overlays-interfaces.md): level L has downsample d = 2^(level_count − 1 − L) image px per
 * DZ px, `ceil(width / d)` × `ceil(height / d)` DZ px, tiles of `tile_size` with `overlap` on
 * inner edges; tile (col, row)'s pixel (i, j) covers image px [(x0 + i)·d, (x0 + i + 1)·d) with
 * x0 = col·tile_size − (overlap if col > 0). Only levels ≤ the overlay's `native_level` are
 * fetched (finer ones repeat cells); the layer stretches them.
 *
 * Each tile is drawn over its core (its own tile_size square, without the overlap, clipped to
 * the image), so neighbours never blend twice where they overlap. While a tile is on its way its
 * area shows the nearest coarser tile already here (clipped to that area).
 */

/**
 * @typedef {{width: number, height: number, tile_size: number, overlap: number, level_count: number}} DeepZoom
 * @typedef {{x0: number, y0: number, x1: number, y1: number}} Box image px
 * @typedef {{level: number, col: number, row: number}} TileId
 */

/** @returns {number} image px per DZ px at a level */
export function downsampleOf(dz, level) {
  return 2 ** (dz.level_count - 1 - level);
}

/** @returns {{width: number, height: number}} the level's size in DZ px */
export function levelSize(dz, level) {
  const d = downsampleOf(dz, level);
  return { width: Math.ceil(dz.width / d), height: Math.ceil(dz.height / d) };
}

/** @returns {{cols: number, rows: number}} */
export function tileGrid(dz, level) {
  const { width, height } = levelSize(dz, level);
  return { cols: Math.ceil(width / dz.tile_size), rows: Math.ceil(height / dz.tile_size) };
}

/**
 * DZ px (of its level) of a tile's pixel (0, 0).
 * @returns {{x: number, y: number}}
 */
export function tileOrigin(dz, col, row) {
  return {
    x: col * dz.tile_size - (col > 0 ? dz.overlap : 0),
    y: row * dz.tile_size - (row > 0 ? dz.overlap : 0),
  };
}

/**
 * The image-px box a tile's core covers (clipped to the image).
 * @returns {Box}
 */
export function coreBox(dz, { level, col, row }) {
  const d = downsampleOf(dz, level);
  const ts = dz.tile_size;
  return {
    x0: col * ts * d, y0: row * ts * d,
    x1: Math.min((col + 1) * ts * d, dz.width), y1: Math.min((row + 1) * ts * d, dz.height),
  };
}

/**
 * The level to draw at a zoom: the coarsest whose DZ px is not larger than a device px, but
 * never finer than the overlay's native level.
 * @param {DeepZoom} dz
 * @param {number} nativeLevel
 * @param {number} devicePerImagePx device px per image px (frame.zoom × dpr)
 * @returns {number}
 */
export function levelFor(dz, nativeLevel, devicePerImagePx) {
  const top = dz.level_count - 1;
  const wanted = top - Math.floor(Math.log2(1 / Math.max(devicePerImagePx, 1e-12)) + 1e-9);
  return Math.max(0, Math.min(nativeLevel, top, wanted));
}

/**
 * The finest level to fetch for an overlay: its native level when the map's cells start and end
 * on DZ pixel edges there, else the first finer level where they do (at most 3 levels finer: a DZ
 * px of 1/8 of a cell or more). A slide with a bounds offset that is not a multiple of the cell
 * size (2088 px over 16 px cells) needs it: at the native level each DZ px would straddle two cells
 * and show the one under its centre, half a cell off. Beyond the contract's "levels ≤ native_level"
 * (the server answers every level), so the overlay is registered to a cell's edge at every zoom.
 * @param {DeepZoom} dz
 * @param {{native_level: number, scale: number, origin_x?: number, origin_y?: number}} desc
 * @param {{x: number, y: number}} offset the slide's bounds offset (image px 0 = slide px offset)
 * @returns {number}
 */
export function finestLevel(dz, desc, offset) {
  const top = dz.level_count - 1;
  const multiple = (v, d) => Math.abs(v / d - Math.round(v / d)) < 1e-9;
  const edges = [desc.scale, (desc.origin_x ?? 0) - offset.x, (desc.origin_y ?? 0) - offset.y];
  let level = Math.min(desc.native_level, top);
  while (level < top && downsampleOf(dz, level) > desc.scale / 8 &&
         !edges.every((v) => multiple(v, downsampleOf(dz, level)))) {
    level += 1;
  }
  return level;
}

/**
 * The tiles of a level over a box (image px), row by row from the top-left.
 * @param {DeepZoom} dz
 * @param {number} level
 * @param {Box} box
 * @param {number} [limit=400] at most this many (a guard against a degenerate box)
 * @returns {TileId[]}
 */
export function tilesOver(dz, level, box, limit = 400) {
  const span = dz.tile_size * downsampleOf(dz, level);
  const { cols, rows } = tileGrid(dz, level);
  const c0 = Math.max(0, Math.floor(box.x0 / span));
  const r0 = Math.max(0, Math.floor(box.y0 / span));
  const c1 = Math.min(cols - 1, Math.floor(box.x1 / span));
  const r1 = Math.min(rows - 1, Math.floor(box.y1 / span));
  const out = [];
  for (let row = r0; row <= r1; row++) {
    for (let col = c0; col <= c1 && out.length < limit; col++) {
      out.push({ level, col, row });
    }
  }
  return out;
}

/** @returns {string} a tile's key */
export function tileKey({ level, col, row }) {
  return `${level}/${col}_${row}`;
}

/**
 * A tile's URL from the descriptor's template (`{level}`, `{col}`, `{row}`).
 * @param {string} template urls.tiles
 * @param {TileId} tile
 * @returns {string}
 */
export function tileUrl(template, { level, col, row }) {
  return template.replace("{level}", String(level)).replace("{col}", String(col)).replace("{row}", String(row));
}

/**
 * What to draw for a view and what to fetch.
 * @param {DeepZoom} dz
 * @param {number} level from levelFor
 * @param {Box} box the view in image px
 * @param {(tile: TileId) => boolean} has whether a tile is here (decoded)
 * @param {number} [coarser=6] how many levels up to look for a stand-in
 * @returns {{draws: Array<{tile: TileId, box: Box}>, wanted: TileId[]}} draws: a tile and the
 *   image box of it to draw; wanted: the view's tiles not here, in order
 */
export function planView(dz, level, box, has, coarser = 6) {
  const draws = [];
  const wanted = [];
  for (const tile of tilesOver(dz, level, box)) {
    const core = coreBox(dz, tile);
    if (has(tile)) {
      draws.push({ tile, box: core });
      continue;
    }
    wanted.push(tile);
    for (let k = 1; k <= coarser && level - k >= 0; k++) {
      const up = { level: level - k, col: Math.floor(tile.col / 2 ** k), row: Math.floor(tile.row / 2 ** k) };
      if (has(up)) {
        draws.push({ tile: up, box: core });
        break;
      }
    }
  }
  // stand-ins first: a finer tile drawn later never hides under a coarse one
  draws.sort((a, b) => a.tile.level - b.tile.level);
  return { draws, wanted };
}

/**
 * Decoded value tiles of one overlay, least recently used dropped first, fetched a few at a time.
 * `want(tiles)` replaces the queue with the tiles the view needs (in order); `get(tile)` gives
 * a tile's decoded value (and marks it used), or null.
 */
export class TileCache {
  /**
   * @param {{template: string, load: (url: string, signal?: AbortSignal) => Promise<any>,
   *   dispose?: (value: any) => void, onLoad?: () => void, maxTiles?: number, concurrency?: number}} options
   *   load: fetch and decode a tile (its value is what `get` returns); dispose: free one
   */
  constructor(options) {
    this.template = options.template;
    this.load = options.load;
    this.dispose = options.dispose ?? (() => {});
    this.onLoad = options.onLoad ?? (() => {});
    this.maxTiles = options.maxTiles ?? 192;
    this.concurrency = options.concurrency ?? 4;
    this.tiles = new Map(); // key -> value, in use order (oldest first)
    this.queue = [];
    this.inFlight = new Set();
    this.failures = new Map(); // key -> {count, until}
    this.requests = 0;
  }

  /** @returns {any|null} the decoded tile, marked as just used */
  get(tile) {
    const key = tileKey(tile);
    const value = this.tiles.get(key);
    if (value === undefined) {
      return null;
    }
    this.tiles.delete(key);
    this.tiles.set(key, value);
    return value;
  }

  /** @returns {boolean} whether a tile is here (does not mark it used) */
  has(tile) {
    return this.tiles.has(tileKey(tile));
  }

  /** @returns {boolean} whether tiles are on their way or queued */
  busy() {
    return this.inFlight.size > 0 || this.queue.length > 0;
  }

  /**
   * The tiles the view needs now, most needed first: those not here nor on their way are queued
   * (the previous queue is dropped: a view that moved on no longer needs it).
   * @param {TileId[]} tiles
   * @param {number} [now]
   */
  want(tiles, now = Date.now()) {
    this.queue = tiles.filter((t) => {
      const key = tileKey(t);
      const failed = this.failures.get(key);
      return !this.tiles.has(key) && !this.inFlight.has(key) && !(failed && failed.until > now);
    });
    this.#pump();
  }

  #pump() {
    while (this.inFlight.size < this.concurrency && this.queue.length) {
      const tile = this.queue.shift();
      const key = tileKey(tile);
      this.inFlight.add(key);
      this.requests += 1;
      Promise.resolve().then(() => this.load(tileUrl(this.template, tile))).then((value) => {
        this.inFlight.delete(key);
        this.failures.delete(key);
        this.tiles.set(key, value);
        this.#evict();
        this.onLoad(tile);
      }, () => {
        this.inFlight.delete(key);
        // a busy server or a dropped connection: ask again later, waiting longer each time
        const count = (this.failures.get(key)?.count ?? 0) + 1;
        this.failures.set(key, { count, until: Date.now() + Math.min(8000, 250 * 2 ** count) });
        this.onLoad(null);
      }).finally(() => this.#pump());
    }
  }

  #evict() {
    for (const [key, value] of this.tiles) {
      if (this.tiles.size <= this.maxTiles) {
        break;
      }
      this.tiles.delete(key);
      this.dispose(value);
    }
  }

  /** Free every tile. */
  clear() {
    for (const value of this.tiles.values()) {
      this.dispose(value);
    }
    this.tiles.clear();
    this.queue = [];
  }
}
