/**
 * Pure view maths of the overlay layers (no DOM, no OpenSeadragon): the affine map from slide
 * space to the overlay canvas, local origins, level of detail and the region tiles a view needs.
 *
 * Spaces: **slide** = level-0 px of the full slide (the API's); **image** = OpenSeadragon's
 * (slide − bounds offset, / scale); **element** = CSS px of the viewer element; **device** = the
 * canvas's pixels (element × devicePixelRatio); **clip** = WebGL's [-1, 1].
 *
 * An `Affine` is `{a, b, c, d, e, f}`: `X = a·x + c·y + e`, `Y = b·x + d·y + f` (Canvas 2D's
 * `setTransform` order). It is computed in double precision; a batch of geometry stores its
 * vertices relative to its own origin and gets `rebase(affine, origin)`, so the float32 numbers
 * on the GPU stay small at any zoom (no jitter at 2× past native on a 200,000 px slide).
 *
 * Level of detail `lod`: 0 = exact geometry, for zooms above 1 screen px per slide px; `lod ≥ 1`
 * = the store's Douglas-Peucker at `2^(lod-1)` slide px, for zooms of `2^-lod` … `2^-(lod-1)`, so
 * simplification never moves an outline by more than about one screen px. Regions are square tiles
 * of `TILE_SCREEN_PX · 2^lod` slide px, so a view needs 1–4 tiles at any zoom, and panning back
 * to a tile already fetched costs nothing.
 */

/** @typedef {{a: number, b: number, c: number, d: number, e: number, f: number}} Affine */
/** @typedef {{x0: number, y0: number, x1: number, y1: number}} Rect slide px, x1/y1 exclusive */

/** Side of a region tile in screen px at the finest zoom of its level of detail. */
export const TILE_SCREEN_PX = 1024;

/**
 * The affine map through three images of points: `o` = image of (0, 0), `ex` = of (1, 0),
 * `ey` = of (0, 1).
 * @returns {Affine}
 */
export function affineFromBasis(o, ex, ey) {
  return { a: ex.x - o.x, b: ex.y - o.y, c: ey.x - o.x, d: ey.y - o.y, e: o.x, f: o.y };
}

/**
 * Apply an affine map.
 * @param {Affine} m
 * @param {{x: number, y: number}} p
 * @returns {{x: number, y: number}}
 */
export function applyAffine(m, p) {
  return { x: m.a * p.x + m.c * p.y + m.e, y: m.b * p.x + m.d * p.y + m.f };
}

/**
 * Inverse of an affine map (null when singular).
 * @param {Affine} m
 * @returns {Affine|null}
 */
export function invertAffine(m) {
  const det = m.a * m.d - m.b * m.c;
  if (!det || !Number.isFinite(det)) {
    return null;
  }
  const a = m.d / det;
  const b = -m.b / det;
  const c = -m.c / det;
  const d = m.a / det;
  return { a, b, c, d, e: -(a * m.e + c * m.f), f: -(b * m.e + d * m.f) };
}

/**
 * The same map for coordinates given relative to `origin` (so vertices can be small floats).
 * @param {Affine} m
 * @param {{x: number, y: number}} origin
 * @returns {Affine}
 */
export function rebase(m, origin) {
  return { ...m, e: m.a * origin.x + m.c * origin.y + m.e, f: m.b * origin.x + m.d * origin.y + m.f };
}

/**
 * Compose: first `inner`, then `outer`.
 * @param {Affine} outer
 * @param {Affine} inner
 * @returns {Affine}
 */
export function compose(outer, inner) {
  return {
    a: outer.a * inner.a + outer.c * inner.b,
    b: outer.b * inner.a + outer.d * inner.b,
    c: outer.a * inner.c + outer.c * inner.d,
    d: outer.b * inner.c + outer.d * inner.d,
    e: outer.a * inner.e + outer.c * inner.f + outer.e,
    f: outer.b * inner.e + outer.d * inner.f + outer.f,
  };
}

/**
 * Screen px per slide px of an affine map (its linear part's scale; rotation and flip keep it).
 * @param {Affine} m
 * @returns {number}
 */
export function affineScale(m) {
  return Math.sqrt(Math.abs(m.a * m.d - m.b * m.c));
}

/**
 * The level of detail for a zoom.
 * @param {number} zoom screen px per slide px
 * @param {number} [maxLod=20]
 * @returns {number}
 */
export function lodForZoom(zoom, maxLod = 20) {
  if (!(zoom > 0)) {
    return maxLod;
  }
  if (zoom > 1) {
    return 0;
  }
  // 2^-lod < zoom ≤ 2^-(lod-1); the epsilon keeps exact powers of two on the finer level.
  const lod = Math.floor(Math.log2(1 / zoom) + 1e-9) + 1;
  return Math.min(Math.max(lod, 1), maxLod);
}

/**
 * The `simplify` tolerance (slide px) the store is asked for at a level of detail (0 = exact).
 * @param {number} lod
 * @returns {number}
 */
export function toleranceForLod(lod) {
  return lod <= 0 ? 0 : 2 ** (lod - 1);
}

/**
 * Side of a region tile in slide px.
 * @param {number} lod
 * @returns {number}
 */
export function tileSize(lod) {
  return TILE_SCREEN_PX * 2 ** lod;
}

/**
 * The coarsest level worth having: one tile covers the slide.
 * @param {number} width slide px
 * @param {number} height slide px
 * @returns {number}
 */
export function maxLodFor(width, height) {
  const side = Math.max(width, height, 1);
  return Math.max(1, Math.ceil(Math.log2(side / TILE_SCREEN_PX)));
}

/**
 * The slide rectangle of a tile.
 * @param {number} lod
 * @param {number} tx
 * @param {number} ty
 * @returns {Rect}
 */
export function tileRect(lod, tx, ty) {
  const s = tileSize(lod);
  return { x0: tx * s, y0: ty * s, x1: (tx + 1) * s, y1: (ty + 1) * s };
}

/**
 * The tiles of a level that meet a slide-space box, clamped to the slide.
 * @param {Rect} box
 * @param {number} lod
 * @param {number} width slide px
 * @param {number} height slide px
 * @param {number} [limit=64] most tiles returned (a safety cap, far above what a view needs)
 * @returns {Array<{lod: number, tx: number, ty: number, key: string}>}
 */
export function tilesForBox(box, lod, width, height, limit = 64) {
  const s = tileSize(lod);
  const maxTx = Math.max(0, Math.ceil(width / s) - 1);
  const maxTy = Math.max(0, Math.ceil(height / s) - 1);
  const clamp = (v, hi) => Math.min(Math.max(v, 0), hi);
  const tx0 = clamp(Math.floor(box.x0 / s), maxTx);
  const tx1 = clamp(Math.floor(box.x1 / s), maxTx);
  const ty0 = clamp(Math.floor(box.y0 / s), maxTy);
  const ty1 = clamp(Math.floor(box.y1 / s), maxTy);
  const out = [];
  for (let ty = ty0; ty <= ty1; ty++) {
    for (let tx = tx0; tx <= tx1; tx++) {
      if (out.length >= limit) {
        return out;
      }
      out.push({ lod, tx, ty, key: tileKey(lod, tx, ty) });
    }
  }
  return out;
}

/**
 * @returns {string} the cache key of a tile
 */
export function tileKey(lod, tx, ty) {
  return `${lod}/${tx}/${ty}`;
}

/**
 * The slide-space bounding box of the element rectangle [0, w] × [0, h] under an inverse map.
 * @param {Affine} elementToSlide
 * @param {number} w
 * @param {number} h
 * @returns {Rect}
 */
export function visibleBox(elementToSlide, w, h) {
  const corners = [[0, 0], [w, 0], [0, h], [w, h]].map(([x, y]) => applyAffine(elementToSlide, { x, y }));
  const xs = corners.map((p) => p.x);
  const ys = corners.map((p) => p.y);
  return { x0: Math.min(...xs), y0: Math.min(...ys), x1: Math.max(...xs), y1: Math.max(...ys) };
}

/**
 * Margin (slide px) by which a tile's query and culling box grows, so that a stroke or a dot
 * just outside the tile still paints its pixels inside it: the widest mark (a selected dot, 7.5
 * screen px) at the level's coarsest zoom, rounded up.
 * @param {number} lod
 * @returns {number}
 */
export function tileMargin(lod) {
  return 16 * 2 ** Math.max(lod - 1, -1);
}

/**
 * The zoom that shows a slide box whole in a view of `w` × `h` CSS px at a rotation, with a
 * margin around it.
 * @param {Rect} box
 * @param {number} w
 * @param {number} h
 * @param {number} rotationDeg
 * @param {number} [fill=0.8] share of the view the box may take
 * @returns {number} screen px per slide px
 */
export function zoomToFit(box, w, h, rotationDeg, fill = 0.8) {
  const a = (rotationDeg * Math.PI) / 180;
  const c = Math.abs(Math.cos(a));
  const s = Math.abs(Math.sin(a));
  const bw = Math.max(box.x1 - box.x0, 1);
  const bh = Math.max(box.y1 - box.y0, 1);
  const rw = c * bw + s * bh;
  const rh = s * bw + c * bh;
  return Math.min((w * fill) / rw, (h * fill) / rh);
}
