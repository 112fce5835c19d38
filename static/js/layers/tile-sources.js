/**
 * Which loaded region tiles draw a tile the view needs (pure: no DOM, no WebGL): the tile itself,
 * else the nearest coarser one holding it, else its finer children, so zooming never blanks the
 * layer while a tile is on its way.
 */

import { tileKey } from "./view.js";

/**
 * @param {Map<string, {lod: number}>} tiles the loaded tiles by `tileKey`
 * @param {{key: string, lod: number, tx: number, ty: number}} need
 * @param {number} maxLod the coarsest level of detail
 * @returns {object[]} the tiles to draw (empty: none loaded)
 */
export function tileSources(tiles, need, maxLod) {
  const own = tiles.get(need.key);
  if (own) {
    return [own];
  }
  for (let lod = need.lod + 1; lod <= maxLod; lod++) {
    const s = 2 ** (lod - need.lod);
    const parent = tiles.get(tileKey(lod, Math.floor(need.tx / s), Math.floor(need.ty / s)));
    if (parent) {
      return [parent];
    }
  }
  if (need.lod > 0) {
    const children = [];
    for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
      const child = tiles.get(tileKey(need.lod - 1, need.tx * 2 + dx, need.ty * 2 + dy));
      if (child) {
        children.push(child);
      }
    }
    return children;
  }
  return [];
}
