/**
 * The pure parts of the layers panel (no DOM): formatting areas and lengths, filtering and
 * sorting the annotation list, review stepping, group counts, and the library's wording of a
 * slide's annotations. Entries are records of `GET set.urls.summary` (`viewer/annotations/
 * summary.py`) with `setId` and `setName` added by the panel.
 */

const UM2_PER_MM2 = 1e6;

/** Readable labels of the CAMELYON classes the summary gives. */
export const CAMELYON_LABELS = Object.freeze({ itc: "ITC", micro: "micro", macro: "macro" });

/**
 * A number with about three significant figures, thousands separated ("12,300", "4.56").
 * @param {number} value
 * @returns {string}
 */
export function formatNumber(value) {
  if (!Number.isFinite(value)) {
    return "–";
  }
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return value.toLocaleString("en-US", { minimumFractionDigits: 0, maximumFractionDigits: digits });
}

/**
 * An area: µm² below 0.01 mm² (10,000 µm²), mm² above; px² when the slide has no mpp.
 * @param {number|null} um2
 * @param {number|null} [px2]
 * @returns {string} "" when there is no area
 */
export function formatArea(um2, px2 = null) {
  if (typeof um2 === "number") {
    return um2 < 1e4 ? `${formatNumber(um2)} µm²` : `${formatNumber(um2 / UM2_PER_MM2)} mm²`;
  }
  return typeof px2 === "number" ? `${formatNumber(px2)} px²` : "";
}

/**
 * A length: µm below 1 mm, mm above; px when the slide has no mpp.
 * @param {number|null} um
 * @param {number|null} [px]
 * @returns {string} "" when there is no length
 */
export function formatLength(um, px = null) {
  if (typeof um === "number") {
    return um < 1000 ? `${formatNumber(um)} µm` : `${formatNumber(um / 1000)} mm`;
  }
  return typeof px === "number" ? `${formatNumber(px)} px` : "";
}

/**
 * What an entry measures, as shown in the list: its area, else its length.
 * @param {object} entry
 * @returns {string}
 */
export function measureText(entry) {
  return formatArea(entry.area_um2, entry.area_px2) || formatLength(entry.length_um, entry.length_px);
}

/**
 * The size an entry sorts by: area in µm² (px² without mpp), else length, else 0.
 * @param {object} entry
 * @returns {number}
 */
export function sizeOf(entry) {
  return entry.area_um2 ?? entry.area_px2 ?? entry.length_um ?? entry.length_px ?? 0;
}

/**
 * Whether an entry matches a filter: every word of the query appears in its name, type, group,
 * comment, set name or CAMELYON class (case-insensitive); `class:macro`-style words compare the
 * class, `type:` the type and `group:` the group exactly.
 * @param {object} entry
 * @param {string} query
 * @returns {boolean}
 */
export function entryMatches(entry, query) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) {
    return true;
  }
  const camelyon = entry.camelyon ? `${entry.camelyon} ${CAMELYON_LABELS[entry.camelyon] ?? ""}` : "";
  const text = [entry.name, entry.type, entry.group ?? "ungrouped", entry.comment ?? "", entry.setName ?? "", camelyon]
    .join("\n").toLowerCase();
  return words.every((word) => {
    const field = /^(class|type|group):(.*)$/.exec(word);
    if (field) {
      const value = field[1] === "class" ? entry.camelyon : field[1] === "type" ? entry.type : entry.group;
      return String(value ?? "").toLowerCase() === field[2];
    }
    return text.includes(word);
  });
}

/** Sort keys of the list, in the order the panel offers them. */
export const SORT_KEYS = Object.freeze({
  order: "Set order",
  name: "Name",
  type: "Type",
  group: "Group",
  size: "Size",
  camelyon: "CAMELYON class",
});

const CAMELYON_RANK = { itc: 1, micro: 2, macro: 3 };
const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });

/**
 * The entries sorted by a key (stable: ties keep set order); `descending` reverses the key.
 * @param {object[]} entries
 * @param {keyof typeof SORT_KEYS} key
 * @param {boolean} [descending=false]
 * @returns {object[]} a new array
 */
export function sortEntries(entries, key, descending = false) {
  const sign = descending ? -1 : 1;
  const compare = {
    order: () => 0,
    name: (a, b) => collator.compare(a.name, b.name),
    type: (a, b) => collator.compare(a.type, b.type),
    group: (a, b) => collator.compare(a.group ?? "", b.group ?? ""),
    size: (a, b) => sizeOf(a) - sizeOf(b),
    camelyon: (a, b) => (CAMELYON_RANK[a.camelyon] ?? 0) - (CAMELYON_RANK[b.camelyon] ?? 0),
  }[key] ?? (() => 0);
  return entries
    .map((entry, index) => ({ entry, index }))
    .sort((a, b) => sign * compare(a.entry, b.entry) || (key === "order" ? sign : 1) * (a.index - b.index))
    .map((x) => x.entry);
}

/**
 * The list the panel shows: entries of shown sets and groups that match the query, sorted.
 * @param {object[]} entries
 * @param {{query?: string, sort?: string, descending?: boolean, isShown?: (entry: object) => boolean}} options
 * @returns {object[]}
 */
export function visibleEntries(entries, { query = "", sort = "order", descending = false, isShown = () => true } = {}) {
  return sortEntries(entries.filter((e) => isShown(e) && entryMatches(e, query)), sort, descending);
}

/**
 * The key of an entry across sets.
 * @param {{setId: number, id: number}} entry
 * @returns {string}
 */
export function entryKey(entry) {
  return `${entry.setId}:${entry.id}`;
}

/**
 * Review stepping: the entry `delta` places after the current one in the list, wrapping at the
 * ends; with no current entry (or one no longer listed), the first (forward) or last (back).
 * @param {object[]} list
 * @param {string|null} currentKey entryKey of the current entry
 * @param {number} delta +1 next, -1 previous
 * @returns {object|null}
 */
export function reviewStep(list, currentKey, delta) {
  if (!list.length) {
    return null;
  }
  const at = currentKey === null ? -1 : list.findIndex((e) => entryKey(e) === currentKey);
  if (at < 0) {
    return delta >= 0 ? list[0] : list[list.length - 1];
  }
  const n = list.length;
  return list[(((at + delta) % n) + n) % n];
}

/**
 * Annotations per group name (ungrouped: null) of one set's entries.
 * @param {object[]} entries
 * @returns {Map<string|null, number>}
 */
export function groupCounts(entries) {
  const counts = new Map();
  for (const e of entries) {
    counts.set(e.group ?? null, (counts.get(e.group ?? null) ?? 0) + 1);
  }
  return counts;
}

/**
 * Groups as a tree in their list order: `[{group, depth}]`, children after their parent (a
 * parent missing from the list, or a cycle, makes a group top-level).
 * @param {Array<{name: string, parent: string|null}>} groups
 * @returns {Array<{group: object, depth: number}>}
 */
export function groupTree(groups) {
  const names = new Set(groups.map((g) => g.name));
  const children = new Map();
  const roots = [];
  for (const g of groups) {
    if (g.parent !== null && g.parent !== g.name && names.has(g.parent)) {
      if (!children.has(g.parent)) {
        children.set(g.parent, []);
      }
      children.get(g.parent).push(g);
    } else {
      roots.push(g);
    }
  }
  const out = [];
  const seen = new Set();
  const visit = (g, depth) => {
    if (seen.has(g)) {
      return;
    }
    seen.add(g);
    out.push({ group: g, depth });
    for (const c of children.get(g.name) ?? []) {
      visit(c, depth + 1);
    }
  };
  roots.forEach((g) => visit(g, 0));
  groups.filter((g) => !seen.has(g)).forEach((g) => visit(g, 0)); // parents in a cycle
  return out;
}

/**
 * How the library counts a slide's annotations: "2 sets · 14 annotations", "1 set · 1 annotation",
 * "no annotations".
 * @param {number|null|undefined} sets
 * @param {number|null|undefined} annotations
 * @returns {string}
 */
export function setsAndAnnotationsText(sets, annotations) {
  const plural = (n, word) => `${n.toLocaleString("en-US")} ${word}${n === 1 ? "" : "s"}`;
  if (typeof annotations !== "number") {
    return "–";
  }
  if (typeof sets !== "number") {
    return plural(annotations, "annotation");
  }
  if (!sets) {
    return "no annotations";
  }
  return `${plural(sets, "set")} · ${plural(annotations, "annotation")}`;
}

/**
 * The groups a group may be nested under: every other group except its descendants (a cycle).
 * @param {Array<{name: string, parent: string|null}>} groups
 * @param {string|null} name the group being edited (null: a new group, which has no descendants)
 * @returns {string[]} names, in list order, each once
 */
export function parentChoices(groups, name) {
  const parentOf = new Map(groups.map((g) => [g.name, g.parent]));
  const below = (candidate) => {
    for (let n = candidate, i = 0; n !== null && n !== undefined && i < 100; i++) {
      if (n === name) {
        return true;
      }
      n = parentOf.get(n) ?? null;
    }
    return false;
  };
  return [...new Set(groups.map((g) => g.name))].filter((n) => name === null || !below(n));
}

/**
 * The stored group a name stands for: of groups sharing a name, the last one (it holds the
 * members, as in ASAP).
 * @param {Array<{id: number, name: string}>} records `groups` of `GET set.urls.self`
 * @param {string} name
 * @returns {object|null}
 */
export function groupRecord(records, name) {
  return records.filter((g) => g.name === name).at(-1) ?? null;
}

/**
 * What a delete of a group would leave behind: its annotations and its child groups.
 * @param {object[]} entries the set's summary records
 * @param {Array<{name: string, parent: string|null}>} groups
 * @param {string} name
 * @returns {{annotations: object[], children: string[]}}
 */
export function groupMembers(entries, groups, name) {
  return {
    annotations: entries.filter((e) => e.group === name),
    children: [...new Set(groups.filter((g) => g.parent === name && g.name !== name).map((g) => g.name))],
  };
}

/**
 * One line of a set's history: "v3 · ann · 2026-12-02 03:14:07 UTC · update · +0 ~1 −0 · message".
 * @param {{version: number, who: string, at: string, kind: string, message: string, created: number, updated: number, deleted: number}} change
 * @returns {string}
 */
export function historyLine(change) {
  const at = new Date(change.at);
  const when = Number.isNaN(at.getTime()) ? change.at : `${at.toISOString().slice(0, 19).replace("T", " ")} UTC`;
  const counts = `+${change.created} ~${change.updated} −${change.deleted}`;
  return [`v${change.version}`, change.who, when, change.kind, counts, change.message].filter(Boolean).join(" · ");
}

/**
 * The hex colour an `<input type="color">` takes ("#rrggbb") from an ASAP colour, and back
 * (ASAP writes "#RRGGBB").
 * @param {string|null|undefined} color
 * @returns {string}
 */
export function colorInputValue(color) {
  return /^#[0-9a-f]{6}$/i.test(color ?? "") ? color.toLowerCase() : "#64fe2e";
}
