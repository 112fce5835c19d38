/**
 * Live measures of a draft (pure): area in µm²/mm², length in µm/mm and the CAMELYON class of a
 * metastasis, with ASAP's own measures (`layers/geometry.js`). Without a resolution (mpp), px.
 */

import { asapArea, flattenSpline, longestDiameter, metastasisCategory } from "../layers/geometry.js";

const AREA_TYPES = new Set(["Polygon", "Rectangle", "Spline"]);
const CLASS_NAMES = { itc: "ITC", micro: "micrometastasis", macro: "macrometastasis" };

/**
 * A number with a few significant digits and thousands separators.
 * @param {number} v
 * @returns {string}
 */
function num(v) {
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/**
 * An area as shown: µm² below 0.01 mm², else mm²; px² without mpp.
 * @param {number} px2
 * @param {number|null} mppX
 * @param {number|null} mppY
 * @returns {string}
 */
export function formatArea(px2, mppX, mppY) {
  if (!mppX || !mppY) {
    return `${num(px2)} px²`;
  }
  const um2 = px2 * mppX * mppY;
  return um2 < 10000 ? `${num(um2)} µm²` : `${num(um2 / 1e6)} mm²`;
}

/**
 * A length as shown: µm below 1 mm, else mm; px without mpp.
 * @param {number} um length in µm (or px without mpp)
 * @param {boolean} physical
 * @returns {string}
 */
export function formatLength(um, physical) {
  if (!physical) {
    return `${num(um)} px`;
  }
  return um < 1000 ? `${num(um)} µm` : `${num(um / 1000)} mm`;
}

/**
 * Length of a polyline in µm (px without mpp), anisotropic pixels scaled first.
 * @param {number[][]} points
 * @param {number|null} mppX
 * @param {number|null} mppY
 * @returns {number}
 */
export function polylineLength(points, mppX, mppY) {
  const sx = mppX && mppY ? mppX : 1;
  const sy = mppX && mppY ? mppY : 1;
  let total = 0;
  for (let i = 1; i < points.length; i++) {
    total += Math.hypot((points[i][0] - points[i - 1][0]) * sx, (points[i][1] - points[i - 1][1]) * sy);
  }
  return total;
}

/**
 * The measures of a draft: `{area?, length?, diameter?, camelyon?, label}`; label is what the
 * editor writes next to it ("1.23 mm² · Ø 1.6 mm · micrometastasis", "412 µm").
 * @param {string} type ASAP type
 * @param {number[][]} points slide px (rings open)
 * @param {number|null} mppX
 * @param {number|null} mppY
 * @returns {{label: string, areaPx2?: number, lengthUm?: number, diameterUm?: number, camelyon?: string}}
 */
export function measureDraft(type, points, mppX, mppY) {
  const physical = Boolean(mppX && mppY);
  if (type === "Measurement") {
    const lengthUm = polylineLength(points, mppX, mppY);
    return { label: formatLength(lengthUm, physical), lengthUm };
  }
  if (type === "PointSet") {
    return { label: `${points.length} point${points.length === 1 ? "" : "s"}` };
  }
  if (!AREA_TYPES.has(type) || points.length < 3) {
    return { label: "" };
  }
  const outline = type === "Spline" ? flattenSpline(points, true) : points;
  const areaPx2 = asapArea(outline);
  const parts = [formatArea(areaPx2, mppX, mppY)];
  const result = { label: "", areaPx2 };
  if (physical) {
    const diameterUm = longestDiameter(outline, [mppX, mppY]);
    const camelyon = metastasisCategory(diameterUm);
    parts.push(`Ø ${formatLength(diameterUm, true)}`, CLASS_NAMES[camelyon]);
    Object.assign(result, { diameterUm, camelyon });
  }
  result.label = parts.join(" · ");
  return result;
}
