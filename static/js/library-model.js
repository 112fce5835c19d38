/**
 * Pure logic of the slide library page (no DOM): filter, sort, group and format slide entries
 * of GET /api/slides (slides being prepared included).
 */

import { formatLength, trimNumber, validMpp } from "./coords.js";
import { formatMagnification, nativeMagnification } from "./magnification.js";

/** Sort keys offered by the library, with their labels. */
export const SORT_KEYS = Object.freeze({
  name: "Name",
  folder: "Folder",
  size: "Dimensions",
  mpp: "Resolution",
  vendor: "Vendor",
  annotations: "Annotations",
});

/**
 * Slides whose name, folder, id or vendor contain every word of `query` (case-insensitive).
 * @param {object[]} slides entries of /api/slides
 * @param {string} query
 * @returns {object[]}
 */
export function filterSlides(slides, query) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) {
    return slides.slice();
  }
  return slides.filter((slide) => {
    const haystack = [slide.id, slide.name, slide.folder, slide.vendor, slide.error]
      .filter(Boolean)
      .join(" ")
      .toLowerCase();
    return words.every((word) => haystack.includes(word));
  });
}

const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });

/**
 * The value a slide sorts by; unknown values sort last.
 * @param {object} slide
 * @param {string} key one of SORT_KEYS
 * @returns {string|number|null}
 */
function sortValue(slide, key) {
  switch (key) {
    case "folder":
      return `${slide.folder ?? ""}/${slide.name}`;
    case "size":
      return slide.error ? null : slide.width * slide.height;
    case "mpp":
      return validMpp(slide.mpp_x);
    case "vendor":
      return slide.vendor || null;
    case "annotations":
      return typeof slide.annotation_count === "number" ? slide.annotation_count : null;
    default:
      return slide.name;
  }
}

/**
 * A sorted copy; ties break on the slide id so the order is stable and total.
 * @param {object[]} slides
 * @param {string} key one of SORT_KEYS
 * @param {"asc"|"desc"} [direction="asc"]
 * @returns {object[]}
 */
export function sortSlides(slides, key, direction = "asc") {
  const sign = direction === "desc" ? -1 : 1;
  return slides.slice().sort((a, b) => {
    const va = sortValue(a, key);
    const vb = sortValue(b, key);
    if (va === null || vb === null) {
      if (va !== vb) {
        return va === null ? 1 : -1; // unknown last in both directions
      }
    } else {
      const c = typeof va === "number" ? va - vb : collator.compare(va, vb);
      if (c !== 0) {
        return sign * c;
      }
    }
    return collator.compare(a.id, b.id);
  });
}

/**
 * Group slides by folder, keeping their order inside each group; groups sorted by folder name
 * ("" = the slide directory itself, first).
 * @param {object[]} slides
 * @returns {{folder: string, slides: object[]}[]}
 */
export function groupByFolder(slides) {
  const groups = new Map();
  for (const slide of slides) {
    const folder = slide.folder ?? "";
    if (!groups.has(folder)) {
      groups.set(folder, []);
    }
    groups.get(folder).push(slide);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : collator.compare(a, b)))
    .map(([folder, items]) => ({ folder, slides: items }));
}

/**
 * "2,220 × 2,967 px" (level 0).
 * @param {object} slide
 * @returns {string}
 */
export function formatDimensions(slide) {
  if (!(slide.width > 0 && slide.height > 0)) {
    return "–";
  }
  return `${slide.width.toLocaleString("en-US")} × ${slide.height.toLocaleString("en-US")} px`;
}

/**
 * The physical size, e.g. "1.11 × 1.48 mm", or "" without mpp.
 * @param {object} slide
 * @returns {string}
 */
export function formatPhysicalSize(slide) {
  const mx = validMpp(slide.mpp_x);
  const my = validMpp(slide.mpp_y) ?? mx;
  if (mx === null || !(slide.width > 0)) {
    return "";
  }
  return `${formatLength(slide.width * mx)} × ${formatLength(slide.height * my)}`;
}

/**
 * "20× · 0.499 µm/px", "40× (nominal)" or "unknown".
 * @param {object} slide
 * @returns {string}
 */
export function formatResolution(slide) {
  const mpp = validMpp(slide.mpp_x);
  const native = nativeMagnification(mpp, slide.objective_power);
  if (native === null) {
    return "unknown";
  }
  const mag = formatMagnification(native.mag);
  if (native.source === "objective") {
    return `${mag} (nominal, no mpp)`;
  }
  return `${mag} · ${trimNumber(mpp, mpp >= 10 ? 1 : 3)} µm/px`;
}

/**
 * Whether a listing entry is a slide not ready yet (the built-in demo while it is generated, or
 * after its generation failed): it has no tiles to open.
 * @param {object} slide
 * @returns {boolean}
 */
export function isPending(slide) {
  return slide.status === "preparing" || slide.status === "failed";
}

/**
 * A key that changes when the listing needs a new table (a slide added, removed, or one that
 * became ready), and not when only the progress of a slide being prepared moved.
 * @param {object[]} slides
 * @returns {string}
 */
export function listingShape(slides) {
  return slides.map((s) => `${s.id}\u0000${s.status ?? "ready"}`).sort().join("\u0001");
}
