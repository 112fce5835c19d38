/**
 * Pure colour rules of annotations (no DOM): colour strings as Qt's `QColor` reads them (the port
 * of `viewer/annotations/geojson.py: parse_color`, checked against Python-written fixtures) and
 * ASAP's display colour: a grouped annotation shows the colour of its **top-most ancestor group**,
 * an ungrouped one its own colour (`QtAnnotation.cpp:47-62`); an unreadable colour is black, as
 * an invalid `QColor`.
 */

/** Colour names QColor accepts that annotation files use (the Python module's table). */
export const NAMED_COLORS = Object.freeze({
  black: [0, 0, 0],
  white: [255, 255, 255],
  red: [255, 0, 0],
  green: [0, 128, 0],
  lime: [0, 255, 0],
  blue: [0, 0, 255],
  yellow: [255, 255, 0],
  cyan: [0, 255, 255],
  magenta: [255, 0, 255],
  gray: [128, 128, 128],
  grey: [128, 128, 128],
  orange: [255, 165, 0],
  purple: [128, 0, 128],
  brown: [165, 42, 42],
  pink: [255, 192, 203],
});

/** What an unreadable colour shows as (an invalid QColor paints black). */
export const INVALID_COLOR = Object.freeze([0, 0, 0]);

/**
 * RGB of a colour string (`#RGB`, `#RRGGBB`, `#AARRGGBB`, `#RRRGGGBBB`, `#RRRRGGGGBBBB`, names),
 * or null when Qt would not read it.
 * @param {unknown} text
 * @returns {[number, number, number]|null}
 */
export function parseColor(text) {
  if (typeof text !== "string") {
    return null;
  }
  const t = text.trim();
  const named = NAMED_COLORS[t.toLowerCase()];
  if (named) {
    return [...named];
  }
  if (!t.startsWith("#") || !/^[0-9a-fA-F]+$/.test(t.slice(1))) {
    return null;
  }
  const d = t.slice(1);
  const hex = (s) => parseInt(s, 16);
  switch (d.length) {
    case 3:
      return [hex(d[0] + d[0]), hex(d[1] + d[1]), hex(d[2] + d[2])];
    case 6:
      return [hex(d.slice(0, 2)), hex(d.slice(2, 4)), hex(d.slice(4, 6))];
    case 8: // AARRGGBB
      return [hex(d.slice(2, 4)), hex(d.slice(4, 6)), hex(d.slice(6, 8))];
    case 9:
      return [0, 3, 6].map((i) => Math.floor((hex(d.slice(i, i + 3)) * 255) / 0xfff));
    case 12:
      return [0, 4, 8].map((i) => hex(d.slice(i, i + 4)) >> 8);
    default:
      return null;
  }
}

/**
 * The top-most ancestor of a group (itself when top level); a parent cycle stops where it would
 * repeat, as ASAP's loader cannot build one.
 * @param {string} name
 * @param {Map<string, {parent: string|null}>} groups by name
 * @returns {string}
 */
export function topAncestor(name, groups) {
  let current = name;
  const seen = new Set([name]);
  for (;;) {
    const parent = groups.get(current)?.parent;
    if (parent === null || parent === undefined || !groups.has(parent) || seen.has(parent)) {
      return current;
    }
    seen.add(parent);
    current = parent;
  }
}

/**
 * The chain from a group up to its top-most ancestor (for visibility: a hidden ancestor hides
 * every descendant).
 * @param {string} name
 * @param {Map<string, {parent: string|null}>} groups
 * @returns {string[]}
 */
export function ancestry(name, groups) {
  const out = [name];
  const seen = new Set(out);
  let current = name;
  for (;;) {
    const parent = groups.get(current)?.parent;
    if (parent === null || parent === undefined || !groups.has(parent) || seen.has(parent)) {
      return out;
    }
    out.push(parent);
    seen.add(parent);
    current = parent;
  }
}

/**
 * ASAP's display colour of an annotation.
 * @param {string|null} group the annotation's direct group (null: ungrouped)
 * @param {string|null} ownColor the annotation's own colour string
 * @param {Map<string, {parent: string|null, color: string}>} groups by name
 * @returns {[number, number, number]}
 */
export function displayColor(group, ownColor, groups) {
  if (group !== null && group !== undefined && groups.has(group)) {
    return parseColor(groups.get(topAncestor(group, groups)).color) ?? [...INVALID_COLOR];
  }
  return parseColor(ownColor) ?? [...INVALID_COLOR];
}

/**
 * A group table from a set body's `asapGroups` ([{name, parent, color}]).
 * @param {Array<{name: string, parent: string|null, color: string}>} list
 * @returns {Map<string, {name: string, parent: string|null, color: string}>}
 */
export function groupTable(list) {
  const out = new Map();
  for (const g of list ?? []) {
    out.set(g.name, { name: g.name, parent: g.parent ?? null, color: g.color });
  }
  return out;
}
