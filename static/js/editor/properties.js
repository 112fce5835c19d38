/**
 * The selection's properties: a small panel over the slide, shown while annotations are selected,
 * with the name (one selected), the group (from the set's groups) and the colour (ASAP's hex,
 * `#RRGGBB`). Each change is one undoable action of `set-properties` ops (one per annotation
 * that changes), applied through `editor.apply`, so it is saved like every other edit.
 *
 * `propertyOps` and `asapHex` are pure (node tests); `PropertiesPanel` is the DOM.
 */

import { propertiesOf } from "./document.js";

/**
 * A colour as ASAP writes it (`#RRGGBB`, upper case), or null when it is not a 6-digit hex colour.
 * @param {string} text
 * @returns {string|null}
 */
export function asapHex(text) {
  const m = /^#?([0-9a-f]{6})$/i.exec(String(text ?? "").trim());
  return m ? `#${m[1].toUpperCase()}` : null;
}

/**
 * The `set-properties` ops giving entries a property value (none for entries that have it already).
 * @param {object[]} entries the document's entries
 * @param {"name"|"group"|"color"|"comment"} key
 * @param {string|null} value
 * @returns {object[]}
 */
export function propertyOps(entries, key, value) {
  const v = key === "color" ? asapHex(value) : key === "group" ? value || null : String(value ?? "");
  if (key === "color" && v === null) {
    throw new RangeError(`not a colour: ${value}`);
  }
  return entries
    .filter((e) => propertiesOf(e.feature)[key] !== v)
    .map((e) => ({ kind: "set-properties", localId: e.localId, properties: { [key]: v } }));
}

/**
 * The group names every entry's set has (in the first set's order): what the selection can be given.
 * @param {object[]} entries
 * @param {(setId: number) => string[]} groupsOf
 * @returns {string[]}
 */
export function commonGroups(entries, groupsOf) {
  if (!entries.length) {
    return [];
  }
  const sets = [...new Set(entries.map((e) => e.setId))];
  const [first, ...rest] = sets.map((s) => groupsOf(s) ?? []);
  return first.filter((g) => rest.every((names) => names.includes(g)));
}

/** The value all entries share, or undefined when they differ. */
function shared(entries, key) {
  const values = new Set(entries.map((e) => propertiesOf(e.feature)[key]));
  return values.size === 1 ? [...values][0] : undefined;
}

export class PropertiesPanel {
  /**
   * @param {import("./editor.js").Editor} editor
   * @param {{host?: HTMLElement, groupsOf?: (setId: number) => string[]}} [options] `host`: where the
   *   panel goes (the viewer's pane); `groupsOf`: the group names of a set (its layer's groups)
   */
  constructor(editor, options = {}) {
    this.editor = editor;
    this.groupsOf = options.groupsOf ?? ((setId) => editor.annotations?.layer(setId)?.groups().map((g) => g.name) ?? []);
    const root = document.createElement("section");
    root.className = "properties-panel";
    root.dataset.propertiesPanel = "";
    root.setAttribute("aria-label", "Selected annotations");
    root.hidden = true;
    root.innerHTML = `
      <p class="properties-title" data-properties-title></p>
      <label>Name <input class="input" type="text" data-prop="name" maxlength="500" autocomplete="off"></label>
      <label>Group <select class="input" data-prop="group"></select></label>
      <label>Colour <input type="color" data-prop="color"> <output data-prop-hex></output></label>`;
    (options.host ?? editor.viewer.pane).append(root);
    this.root = root;
    this.fields = {
      name: root.querySelector('[data-prop="name"]'),
      group: root.querySelector('[data-prop="group"]'),
      color: root.querySelector('[data-prop="color"]'),
    };
    for (const [key, el] of Object.entries(this.fields)) {
      el.addEventListener("change", () => this.#set(key, el.value));
      // the viewer's and editor's keys must not act on what is typed here
      el.addEventListener("keydown", (event) => {
        event.stopPropagation();
        if (event.key === "Enter" && key === "name") {
          el.blur();
        }
      });
    }
    editor.addEventListener("selection", () => this.render());
    editor.addEventListener("applied", () => this.render());
    editor.addEventListener("loaded", () => this.render()); // the selection's exact copies (the select tool loads them)
    editor.doc.addEventListener("change", () => this.render());
  }

  /** The selected entries (those loaded into the document). */
  entries() {
    return [...this.editor.selection].map((id) => this.editor.doc.get(id)).filter(Boolean);
  }

  #set(key, value) {
    const entries = this.entries();
    let ops;
    try {
      ops = propertyOps(entries, key, value);
    } catch (err) {
      this.root.dataset.error = err.message;
      return;
    }
    if (ops.length) {
      this.editor.apply(ops, { label: `Set ${key}` });
    }
  }

  /** Show the selection's properties (hidden when nothing is selected). */
  render() {
    const ids = [...this.editor.selection];
    this.root.hidden = ids.length === 0;
    if (!ids.length) {
      return;
    }
    const entries = this.entries();
    const title = this.root.querySelector("[data-properties-title]");
    const types = [...new Set(entries.map((e) => propertiesOf(e.feature).type))];
    title.textContent = entries.length < ids.length
      ? `${ids.length} selected · loading…`
      : `${ids.length} selected${types.length === 1 ? ` · ${types[0]}` : ""}`;
    const disabled = entries.length === 0 || entries.length < ids.length;
    const { name, group, color } = this.fields;
    // the name of one annotation; several keep their own names
    name.disabled = disabled || entries.length !== 1;
    if (document.activeElement !== name) {
      name.value = entries.length === 1 ? propertiesOf(entries[0].feature).name : "";
      name.placeholder = entries.length > 1 ? "(each its own)" : "";
    }
    const current = shared(entries, "group");
    const names = commonGroups(entries, this.groupsOf);
    if (current && !names.includes(current)) {
      names.push(current);
    }
    group.replaceChildren(...[["", "(no group)"], ...names.map((g) => [g, g])].map(([value, text]) => {
      const o = document.createElement("option");
      o.value = value;
      o.textContent = text;
      return o;
    }));
    if (current === undefined) {
      const mixed = document.createElement("option");
      mixed.value = "\u0000mixed";
      mixed.textContent = "(several)";
      mixed.disabled = true;
      group.prepend(mixed);
    }
    group.value = current === undefined ? "\u0000mixed" : current ?? "";
    group.disabled = disabled;
    const hex = shared(entries, "color");
    color.value = (asapHex(hex) ?? "#F4FA58").toLowerCase();
    color.disabled = disabled;
    this.root.querySelector("[data-prop-hex]").textContent = hex === undefined ? "(several)" : asapHex(hex) ?? "";
  }
}
