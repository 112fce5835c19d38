/**
 * The layers panel of the viewer page (issue 12): the slide's annotation sets (show/hide,
 * opacity), each set's group tree (colour swatch, count, show/hide, show only this), and the list
 * of every annotation (`GET set.urls.summary`: name, type, group, area or length, CAMELYON class,
 * comment), filterable and sortable; a click on an entry flies to it and selects it; review keys
 * (`.` and `,`) step through the list one annotation at a time. On the slide: a hover shows a
 * tooltip, a click selects (and selects the list entry). Which sets and groups are hidden is in
 * the URL (`url-state.js`; with a prefix per pane in compare mode). Changes made elsewhere
 * (`ChangeWatcher`) reload a set's layer and list. Editing (issue 13, unless `config.readOnly`):
 * groups and new sets (`groups-panel.js`), the active set and group the editor draws into
 * (`panel.activeSet()`, `panel.activeGroup(setId)`; events `active-set` {setId} and
 * `active-group` {setId, name}); each set's history with preview and restore (`history-panel.js`).
 * Nothing happens at import; `viewer-page.js` and `compare-page.js` make them (`mountLayersPanel`).
 */

import { getJson } from "./api.js";
import { CHECK_INTERVAL_MS, ChangeWatcher } from "./change-watcher.js";
import { GroupEditor } from "./groups-panel.js";
import { HistoryPanel } from "./history-panel.js";
import { OverlayStatistics, statisticsOverlay } from "./overlay-statistics.js";
import { activeSetChoice, notEditableReason, sharingText } from "./layers/sharing.js";
import { el, rgb } from "./panel-dom.js";
import { displayColor, groupTable } from "./layers/colors.js";
import {
  CAMELYON_LABELS, SORT_KEYS, entryKey, groupCounts, groupTree, measureText, reviewStep, visibleEntries,
} from "./layers/panel-model.js";
import { decodeLayerState, encodeLayerState } from "./url-state.js";

export { CHECK_INTERVAL_MS, ChangeWatcher };

const LIST_LIMIT = 2000; // rows drawn at once; the filter narrows a longer list

/** The page's data-config (absent or unreadable: {}). */
function pageConfig() {
  try {
    return JSON.parse(document.body.dataset.config ?? "{}");
  } catch {
    return {};
  }
}

/** Whether the page is read-only (`config.readOnly` of the body's data-config; absent: no). */
export function pageReadOnly() {
  return pageConfig().readOnly === true;
}

export class LayersPanel extends EventTarget {
  /**
   * @param {HTMLElement} root the panel element ([data-layers-panel])
   * @param {import("./layers/annotations.js").AnnotationOverlay} overlay
   * @param {import("./slide-viewer.js").SlideViewer} viewer
   * @param {{prefix?: string, readOnly?: boolean, activeControls?: boolean}} [options] prefix of
   *   the URL keys (compare mode: "l" / "r"); readOnly hides the editing controls (default: the
   *   page's config); activeControls false hides the active set / group choice (no editor there)
   */
  constructor(root, overlay, viewer, options = {}) {
    super();
    this.root = root;
    this.overlay = overlay;
    this.viewer = viewer;
    this.prefix = options.prefix ?? "";
    this.readOnly = options.readOnly ?? pageReadOnly();
    this.activeControls = !this.readOnly && options.activeControls !== false;
    this.groupRecords = new Map(); // setId -> [{id, version, name, parent, color, attributes}]
    this.activeSetId = null; // null: the first set
    this.activeGroups = new Map(); // setId -> group name (absent: ungrouped)
    this.entries = new Map(); // setId -> summary records (+ setId, setName)
    this.groups = new Map(); // setId -> [{name, parent, color}]
    this.versions = new Map(); // setId -> version of the list shown
    this.query = "";
    this.sort = "order";
    this.descending = false;
    this.current = null; // entryKey of the selected / reviewed entry
    this.marked = new Set(); // entryKeys the editor has selected (shown selected in the list too)
    const heatmap = statisticsOverlay(viewer.slide); // max/mean of the slide's first heatmap per entry
    this.statistics = heatmap ? new OverlayStatistics(heatmap) : null;
    const state = decodeLayerState(location.search, this.prefix);
    this.hiddenSets = new Set(state.hiddenSets);
    this.hiddenGroups = new Set(state.hiddenGroups.map(([s, g]) => `${s}:${g}`));
    this.#build();
  }

  #build() {
    const body = this.root.querySelector("[data-layers-body]");
    this.errorBox = el("p", { className: "notice layer-error", role: "alert", hidden: true });
    this.errorBox.dataset.layerError = "";
    this.setsBox = el("div", { className: "layer-sets", dataset: { layerSets: "" } });
    this.filter = el("input", {
      type: "search", className: "input", placeholder: "Filter: name, group, comment, class:macro…",
      "aria-label": "Filter the annotations",
    });
    this.filter.dataset.layerFilter = "";
    this.sortSelect = el("select", { className: "input", "aria-label": "Sort the annotations by" });
    this.sortSelect.dataset.layerSort = "";
    for (const [key, label] of Object.entries(SORT_KEYS)) {
      this.sortSelect.append(new Option(label, key));
    }
    this.orderButton = el("button", {
      type: "button", className: "btn", textContent: "↑", title: "Ascending (click for descending)",
      "aria-label": "Sort descending", "aria-pressed": "false",
    });
    this.orderButton.dataset.layerOrder = "";
    this.status = el("p", { className: "muted layer-status", role: "status" });
    this.status.dataset.layerStatus = "";
    this.list = el("ul", { className: "layer-list", role: "listbox", "aria-label": "Annotations", "aria-multiselectable": "true" });
    this.list.dataset.layerList = "";
    const review = el("div", { className: "layer-review" },
      el("button", { type: "button", className: "btn", textContent: "‹ Previous", title: "Previous annotation (,)" }),
      el("button", { type: "button", className: "btn", textContent: "Next ›", title: "Next annotation (.)" }));
    review.children[0].dataset.review = "-1";
    review.children[1].dataset.review = "1";
    review.addEventListener("click", (event) => {
      const b = event.target.closest("[data-review]");
      if (b) {
        this.review(Number(b.dataset.review));
      }
    });
    this.editor = this.readOnly ? null : new GroupEditor(this);
    this.history = new HistoryPanel(this);
    body.append(
      this.errorBox,
      el("section", {}, el("h3", { textContent: "Sets and groups" }),
        this.activeControls ? el("p", { className: "muted layer-hint", textContent: "◉ active set and group: new annotations go there" }) : "",
        this.setsBox, this.editor?.newSetForm ?? ""),
      this.history.root,
      el("section", {}, el("h3", { textContent: "Annotations" }),
        el("div", { className: "layer-tools" }, this.filter, this.sortSelect, this.orderButton),
        review, this.status, this.list),
    );
    this.filter.addEventListener("input", () => {
      this.query = this.filter.value;
      this.renderList();
    });
    this.sortSelect.addEventListener("change", () => {
      this.sort = this.sortSelect.value;
      this.renderList();
    });
    this.orderButton.addEventListener("click", () => {
      this.descending = !this.descending;
      this.orderButton.textContent = this.descending ? "↓" : "↑";
      this.orderButton.setAttribute("aria-pressed", String(this.descending));
      this.renderList();
    });
    this.list.addEventListener("click", (event) => {
      const item = event.target.closest("[data-entry]");
      const entry = item && this.#entry(item.dataset.entry);
      if (entry) {
        this.choose(entry, true);
      }
    });
    this.setsBox.addEventListener("input", (event) => this.#onSetsInput(event));
    this.setsBox.addEventListener("click", (event) => this.#onSetsClick(event));
  }

  /** @returns {boolean} whether the panel is open */
  get isOpen() { return !this.root.hidden; }

  // ---------------------------------------------------------------------------------------------
  // Data

  /** Follow one more layer: apply the URL's visibility, load its list, reload it on changes. */
  attach(layer) {
    layer.setVisible(!this.hiddenSets.has(layer.setId));
    for (const key of this.hiddenGroups) {
      const [id, ...name] = key.split(":");
      if (Number(id) === layer.setId) {
        layer.setGroupVisible(name.join(":"), false);
      }
    }
    layer.addEventListener("data-change", () => this.load(layer));
    this.load(layer);
  }

  /** Fetch a set's summary and groups (the browser revalidates them: a 304 while unchanged). */
  async load(layer) {
    if (!this.entries.has(layer.setId)) {
      // a large set is measured once per version on the server (seconds for 10^6 vertices)
      this.status.textContent = `Listing ${layer.set.name}…`;
    }
    try {
      const [summary, head] = await Promise.all([
        getJson(layer.set.urls.summary), getJson(`${layer.set.urls.self}?bbox=0,0,0,0`),
      ]);
      this.entries.set(layer.setId, summary.annotations.map((a) => ({ ...a, setId: layer.setId, setName: layer.set.name })));
      this.groups.set(layer.setId, head.asapGroups ?? []);
      this.groupRecords.set(layer.setId, head.groups ?? []);
      this.versions.set(layer.setId, summary.version);
      layer.set = { ...layer.set, name: head.name ?? layer.set.name, version: summary.version };
    } catch (err) {
      this.status.textContent = `Could not list ${layer.set.name}: ${err.message}`;
      return;
    }
    this.render();
    this.dispatchEvent(new CustomEvent("loaded", { detail: { setId: layer.setId } }));
    this.statistics?.load(layer.setId, layer.set.version).then((news) => news && this.renderList(), () => {});
  }

  #entry(key) {
    const [setId, id] = key.split(":").map(Number);
    return (this.entries.get(setId) ?? []).find((e) => e.id === id) ?? null;
  }

  /** @returns {object|null} the summary record of an annotation of a set */
  entryOf(setId, id) { return this.#entry(`${setId}:${id}`); }

  #isShown(entry) {
    return !this.hiddenSets.has(entry.setId) && !this.#groupHidden(entry.setId, entry.group);
  }

  #groupHidden(setId, group) {
    if (group === null) {
      return false;
    }
    const table = groupTable(this.groups.get(setId) ?? []);
    let name = group;
    for (let i = 0; name !== null && name !== undefined && i < 100; i++) {
      if (this.hiddenGroups.has(`${setId}:${name}`)) {
        return true;
      }
      name = table.get(name)?.parent ?? null;
    }
    return false;
  }

  /** The list as shown: shown sets and groups, filtered, sorted. */
  visible() {
    const all = this.overlay.layers.flatMap((l) => this.entries.get(l.setId) ?? []);
    return visibleEntries(all, { query: this.query, sort: this.sort, descending: this.descending, isShown: (e) => this.#isShown(e) });
  }

  // ---------------------------------------------------------------------------------------------
  // Rendering

  render() {
    this.renderSets();
    this.renderList();
  }

  renderSets() {
    const boxes = [];
    for (const layer of this.overlay.layers) {
      const id = layer.setId;
      const entries = this.entries.get(id) ?? [];
      const counts = groupCounts(entries);
      const groups = this.groups.get(id) ?? [];
      const table = groupTable(groups);
      const ed = this.editor;
      const sharing = sharingText(layer.set);
      const locked = ed && this.activeControls ? this.notEditable(layer) : "";
      const head = el("div", { className: "layer-set-head" },
        ed ? ed.activeSetControl(layer) : "",
        el("label", { className: "check" },
          el("input", { type: "checkbox", checked: layer.visible, dataset: { setVisible: String(id) } }),
          el("strong", { textContent: layer.set.name }),
          el("span", { className: "muted", textContent: ` ${entries.length.toLocaleString("en-US")}` }),
          sharing.text ? el("span", { className: "set-sharing", title: sharing.title, textContent: ` · ${sharing.text}` }) : "",
          locked ? el("span", { className: "set-locked", title: `Not offered as the active set: ${locked}`, textContent: " · read-only for you" }) : ""),
        el("label", { className: "opacity", title: "Opacity of the set" },
          el("span", { className: "visually-hidden", textContent: `Opacity of ${layer.set.name}` }),
          el("input", { type: "range", min: "0", max: "100", value: String(Math.round(layer.opacity * 100)), dataset: { setOpacity: String(id) } })));
      const tree = el("ul", { className: "group-tree", role: "list" });
      for (const { group, depth } of groupTree(groups)) {
        const hidden = this.hiddenGroups.has(`${id}:${group.name}`);
        const color = displayColor(group.name, null, table);
        tree.append(el("li", { className: "group-row", dataset: { group: group.name, set: String(id) } },
          ed ? ed.activeGroupControl(id, group.name) : "",
          el("label", { className: "check", style: `padding-left: ${depth * 14}px` },
            el("input", { type: "checkbox", checked: !hidden, dataset: { groupVisible: group.name, set: String(id) } }),
            el("span", { className: "swatch", style: `background: ${rgb(color)}`, "aria-hidden": "true" }),
            el("span", { className: "group-name", textContent: group.name }),
            el("span", { className: "muted", textContent: ` ${(counts.get(group.name) ?? 0).toLocaleString("en-US")}` })),
          el("button", { type: "button", className: "btn btn-small", textContent: "only", title: `Show only ${group.name}`,
            "aria-label": `Show only the group ${group.name}`, dataset: { only: group.name, set: String(id) } }),
          ed ? ed.editGroupButton(id, group.name) : ""));
      }
      if (counts.has(null) || this.activeControls) {
        tree.append(el("li", { className: "group-row muted", dataset: { ungrouped: String(id) } },
          ed ? ed.activeGroupControl(id, null) : "", `ungrouped ${counts.get(null) ?? 0}`));
      }
      const all = el("button", { type: "button", className: "btn btn-small", textContent: "show all groups", dataset: { allGroups: String(id) } });
      const tools = el("div", { className: "layer-set-tools" }, all, ...(ed ? ed.setTools(id) : []), this.history.button(id));
      boxes.push(el("div", { className: "layer-set", dataset: { layerSet: String(id) } }, head, tree, tools, ed?.form(id) ?? ""));
    }
    if (!boxes.length) {
      boxes.push(el("p", { className: "muted", textContent: "This slide has no annotation sets." }));
    }
    this.setsBox.replaceChildren(...boxes);
  }

  renderList() {
    const list = this.visible();
    const total = this.overlay.layers.reduce((n, l) => n + (this.entries.get(l.setId)?.length ?? 0), 0);
    const at = this.current === null ? -1 : list.findIndex((e) => entryKey(e) === this.current);
    this.status.textContent = `${list.length.toLocaleString("en-US")} of ${total.toLocaleString("en-US")} annotations` +
      (at >= 0 ? ` · reviewing ${at + 1} of ${list.length}` : "");
    const rows = list.slice(0, LIST_LIMIT).map((e) => {
      const key = entryKey(e);
      const li = el("li", { className: "layer-entry", role: "option", "aria-selected": String(key === this.current || this.marked.has(key)), tabIndex: -1,
        dataset: { entry: key } },
      el("span", { className: "entry-name", textContent: e.name || "(no name)" }),
      el("span", { className: "entry-meta muted", textContent: [e.type, e.group ?? "ungrouped", measureText(e)].filter(Boolean).join(" · ") }));
      if (e.camelyon) {
        li.append(el("span", { className: `badge camelyon-${e.camelyon}`, textContent: CAMELYON_LABELS[e.camelyon], title: "CAMELYON class by longest diameter" }));
      }
      if (e.comment) {
        li.append(el("span", { className: "entry-comment", textContent: e.comment }));
      }
      const stats = this.statistics?.text(e.setId, e.id);
      if (stats) {
        li.append(el("span", { className: "entry-stats muted", textContent: stats, dataset: { entryStats: "" } }));
      }
      return li;
    });
    if (list.length > LIST_LIMIT) {
      rows.push(el("li", { className: "muted", textContent: `… ${list.length - LIST_LIMIT} more: filter to narrow the list` }));
    }
    this.list.replaceChildren(...rows);
    this.list.querySelector('[aria-selected="true"]')?.scrollIntoView({ block: "nearest" });
  }

  // ---------------------------------------------------------------------------------------------
  // Visibility (and the URL)

  #onSetsInput(event) {
    const t = event.target;
    if (t.dataset.setVisible) {
      const layer = this.overlay.layer(Number(t.dataset.setVisible));
      layer.setVisible(t.checked);
      this.#toggle(this.hiddenSets, layer.setId, !t.checked);
    } else if (t.dataset.setOpacity) {
      this.overlay.layer(Number(t.dataset.setOpacity)).setOpacity(Number(t.value) / 100);
      return;
    } else if (t.dataset.groupVisible !== undefined) {
      const layer = this.overlay.layer(Number(t.dataset.set));
      layer.setGroupVisible(t.dataset.groupVisible, t.checked);
      this.#toggle(this.hiddenGroups, `${layer.setId}:${t.dataset.groupVisible}`, !t.checked);
    } else {
      return;
    }
    this.#changed();
  }

  #onSetsClick(event) {
    const b = event.target.closest("button[data-only], button[data-all-groups]");
    if (!b) {
      return;
    }
    const setId = Number(b.dataset.set ?? b.dataset.allGroups);
    const layer = this.overlay.layer(setId);
    if (!layer) {
      return;
    }
    const only = b.dataset.only ?? null;
    const table = groupTable(this.groups.get(setId) ?? []);
    for (const name of table.keys()) {
      this.hiddenGroups.delete(`${setId}:${name}`);
    }
    if (only !== null) {
      // hide every group that is neither the chosen one, one of its ancestors nor its descendants
      const lineage = (name) => {
        const out = [];
        for (let n = name, i = 0; n !== null && n !== undefined && i < 100; i++) {
          out.push(n);
          n = table.get(n)?.parent ?? null;
        }
        return out;
      };
      for (const name of table.keys()) {
        if (!lineage(name).includes(only) && !lineage(only).includes(name)) {
          this.hiddenGroups.add(`${setId}:${name}`);
        }
      }
    }
    for (const name of table.keys()) {
      layer.setGroupVisible(name, !this.hiddenGroups.has(`${setId}:${name}`));
    }
    this.#changed();
  }

  #toggle(set, key, on) {
    if (on) {
      set.add(key);
    } else {
      set.delete(key);
    }
  }

  #changed() {
    const hiddenGroups = [...this.hiddenGroups].map((k) => {
      const [id, ...name] = k.split(":");
      return [Number(id), name.join(":")];
    });
    const params = encodeLayerState({ hiddenSets: [...this.hiddenSets], hiddenGroups }, new URLSearchParams(location.search), this.prefix);
    history.replaceState(history.state, "", `${location.pathname}?${params}${location.hash}`);
    this.render();
  }

  // ---------------------------------------------------------------------------------------------
  // Selection, fly-to, review

  /**
   * Select an entry (list and slide); `fly` centres it.
   * @param {object|null} entry
   * @param {boolean} [fly=false]
   */
  choose(entry, fly = false) {
    this.current = entry ? entryKey(entry) : null;
    this.overlay.select(entry ? entry.setId : null, entry ? entry.id : null);
    if (entry && fly) {
      this.overlay.layer(entry.setId)?.flyTo(entry.bbox);
    }
    this.viewer.pane.dataset.selectedAnnotation = this.current ?? "";
    this.renderList();
    this.dispatchEvent(new CustomEvent("select", { detail: { entry } }));
  }

  /** Show the editor's selection (entryKeys "<set>:<id>") as selected entries of the list. */
  mark(keys) {
    this.marked = new Set(keys);
    this.renderList();
  }

  /** Step to the next (+1) or previous (-1) annotation of the list and fly to it. */
  review(delta) {
    const next = reviewStep(this.visible(), this.current, delta);
    if (next) {
      this.choose(next, true);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Active set and group (where the editor's new annotations go), errors, writes

  /**
   * @returns {number|null} the set new annotations go to: the one chosen if the user may edit it,
   * else the first they may edit, else null (the editor makes one); see `activeSetChoice`
   */
  activeSet() {
    const sets = this.overlay.layers.map((l) => ({ ...l.set, id: l.setId }));
    return activeSetChoice(sets, this.activeSetId, pageConfig());
  }

  /** Why the page's user may not make *layer*'s set the active one ("" when they may). */
  notEditable(layer) {
    return notEditableReason(layer.set, pageConfig());
  }

  /** Choose the active set (event `active-set` {setId}). */
  setActiveSet(setId) {
    this.activeSetId = setId;
    this.renderSets();
    this.dispatchEvent(new CustomEvent("active-set", { detail: { setId } }));
  }

  /** @returns {string|null} the group of a set new annotations go to (null: ungrouped) */
  activeGroup(setId = this.activeSet()) {
    const name = this.activeGroups.get(setId) ?? null;
    return name !== null && (this.groups.get(setId) ?? []).some((g) => g.name === name) ? name : null;
  }

  /** Choose a set's active group (null: ungrouped; event `active-group` {setId, name}). */
  setActiveGroup(setId, name) {
    if (name === null) {
      this.activeGroups.delete(setId);
    } else {
      this.activeGroups.set(setId, name);
    }
    this.renderSets();
    this.dispatchEvent(new CustomEvent("active-group", { detail: { setId, name } }));
  }

  /** Show an error (a write the server refused, a failed request) until the next action; "" clears. */
  showError(message) {
    this.errorBox.textContent = message;
    this.errorBox.hidden = !message;
  }

  /** After a write: the layer fetches its view again and the list and groups are read again. */
  async refresh(setId) {
    const layer = this.overlay.layer(setId);
    if (layer) {
      layer.reload();
      await this.load(layer);
    }
  }

  /** Open or close the panel. */
  toggle(open = this.root.hidden) {
    this.root.hidden = !open;
    this.dispatchEvent(new CustomEvent("toggle", { detail: { open } }));
  }
}

/**
 * Hover tooltips and click selection on the slide.
 * @param {import("./slide-viewer.js").SlideViewer} viewer
 * @param {import("./layers/annotations.js").AnnotationOverlay} overlay
 * @param {LayersPanel} panel
 */
export function bindSlidePointer(viewer, overlay, panel) {
  const host = viewer.hooks.osd;
  const tip = el("div", { className: "annotation-tooltip", role: "tooltip", hidden: true });
  tip.dataset.annotationTooltip = "";
  viewer.pane.append(tip);
  let hovered = null;
  let pending = 0;
  let last = null;
  const describe = (hit) => {
    const a = hit.annotation;
    const entry = panel.entryOf(hit.layer.setId, a.id);
    const measure = entry ? measureText(entry) : "";
    return [a.name || "(no name)", a.group ?? "ungrouped", measure].filter(Boolean).join(" · ");
  };
  const update = () => {
    pending = 0;
    const hit = last ? overlay.hitTest(last) : null;
    const key = hit ? `${hit.layer.setId}:${hit.annotation.id}` : null;
    if (key !== hovered) {
      for (const layer of overlay.layers) {
        layer.hover(hit && layer === hit.layer ? hit.annotation.id : null);
      }
      hovered = key;
    }
    tip.hidden = !hit;
    if (hit) {
      tip.textContent = describe(hit);
      tip.style.left = `${last.x + 14}px`;
      tip.style.top = `${last.y + 14}px`;
      tip.dataset.annotation = key;
    } else {
      delete tip.dataset.annotation;
    }
  };
  host.addEventListener("pointermove", (event) => {
    const rect = host.getBoundingClientRect();
    last = { x: event.clientX - rect.left, y: event.clientY - rect.top };
    if (!pending) {
      pending = requestAnimationFrame(update);
    }
  });
  host.addEventListener("pointerleave", () => {
    last = null;
    update();
  });
  // OpenSeadragon tells a click from a drag ("quick"): only a click selects
  viewer.osd.addHandler("canvas-click", (event) => {
    if (!event.quick) {
      return;
    }
    const hit = overlay.hitTest({ x: event.position.x, y: event.position.y });
    const entry = hit ? panel.entryOf(hit.layer.setId, hit.annotation.id) : null;
    if (hit && !entry) {
      overlay.select(hit.layer.setId, hit.annotation.id); // listed once its summary arrives
      panel.current = `${hit.layer.setId}:${hit.annotation.id}`;
      viewer.pane.dataset.selectedAnnotation = panel.current;
      panel.renderList();
      return;
    }
    panel.choose(entry, false);
  });
}

/**
 * A layers panel for one pane, once its overlay has its sets: visibility from the URL (keys with
 * `prefix`), the list, hover and click on the slide, the change watcher. The pane's `wsi` gets
 * `panel` and `watcher`.
 * @param {HTMLElement} root the panel element
 * @param {import("./layers/annotations.js").AnnotationOverlay} overlay
 * @param {import("./slide-viewer.js").SlideViewer} viewer
 * @param {{prefix?: string, button?: HTMLElement|null, activeControls?: boolean}} [options] the
 *   button that toggles it; activeControls as for LayersPanel
 * @returns {LayersPanel}
 */
export function mountLayersPanel(root, overlay, viewer, { prefix = "", button = null, activeControls = true } = {}) {
  const panel = new LayersPanel(root, overlay, viewer, { prefix, activeControls });
  viewer.pane.wsi ??= { viewer, annotations: overlay };
  viewer.pane.wsi.panel = panel;
  panel.addEventListener("toggle", (event) => button?.setAttribute("aria-expanded", String(event.detail.open)));
  root.querySelector("[data-close]")?.addEventListener("click", () => panel.toggle(false));
  overlay.ready.then(() => {
    overlay.layers.forEach((layer) => panel.attach(layer));
    panel.render();
    bindSlidePointer(viewer, overlay, panel);
    viewer.pane.wsi.watcher = new ChangeWatcher(overlay, (layer) => {
      panel.attach(layer);
      panel.render();
    }, CHECK_INTERVAL_MS, panel);
  });
  return panel;
}
