/**
 * The history part of the layers panel (issue 13 §4): one set's changes, newest first, with
 * author and time (`GET set.urls.history`, 50 a page, `before=` for older ones); choosing one
 * previews the set as it was at that version on the slide, and it can be restored (`POST
 * set.urls.restore` with `If-Match` = the set's version, after asking), which the store records
 * as a new change.
 *
 * What the preview shows: `GET set.urls.diff?from=V` lists every object that differs between V
 * and now. Their state at V (the items' `before`: objects changed or deleted since) is drawn
 * dashed orange (`layers/preview-layer.js`), and the current drawing of every object changed or
 * added since is hidden (`layer.setHidden`); objects unchanged since V stay as they are drawn. So
 * the slide shows the set as it was at V. Made by `LayersPanel`; nothing happens at import.
 */

import { getJson } from "./api.js";
import { apiWrite, el, writeErrorText } from "./panel-dom.js";
import { historyLine } from "./layers/panel-model.js";
import { PreviewLayer } from "./layers/preview-layer.js";

export const HISTORY_PAGE = 50;

export class HistoryPanel {
  /** @param {import("./layers-panel.js").LayersPanel} panel */
  constructor(panel) {
    this.panel = panel;
    this.setId = null;
    this.changes = [];
    this.preview = null; // {setId, version, layer: PreviewLayer, hidden: number[], onTile}
    this.watched = null; // the layer whose changes reopen the history: {layer, listener}
    this.title = el("h3", { textContent: "History" });
    const close = el("button", { type: "button", className: "btn btn-small", textContent: "close", "aria-label": "Close the history" });
    close.dataset.historyClose = "";
    this.list = el("ol", { className: "history-list", "aria-label": "Changes, newest first" });
    this.list.dataset.historyList = "";
    this.more = el("button", { type: "button", className: "btn btn-small", textContent: "Older changes…", hidden: true });
    this.more.dataset.historyMore = "";
    this.status = el("p", { className: "muted history-status", role: "status" });
    this.status.dataset.previewStatus = "";
    this.restoreButton = el("button", { type: "button", className: "btn", textContent: "Restore this version", hidden: true });
    this.restoreButton.dataset.restore = "";
    this.endButton = el("button", { type: "button", className: "btn", textContent: "End preview", hidden: true });
    this.endButton.dataset.previewEnd = "";
    this.root = el("section", { className: "history-panel", hidden: true },
      el("div", { className: "history-head" }, this.title, close), this.status,
      el("div", { className: "history-buttons" }, this.restoreButton, this.endButton), this.list, this.more);
    this.root.dataset.historyPanel = "";
    close.addEventListener("click", () => this.close());
    this.more.addEventListener("click", () => this.#page());
    this.endButton.addEventListener("click", () => this.endPreview());
    this.restoreButton.addEventListener("click", () => this.restore());
    this.list.addEventListener("click", (event) => {
      const b = event.target.closest("[data-change]");
      if (b) {
        this.showVersion(Number(b.dataset.change));
      }
    });
    panel.setsBox.addEventListener("click", (event) => {
      const b = event.target.closest("button[data-history]");
      if (b) {
        this.open(Number(b.dataset.history));
      }
    });
  }

  /** The button of a set's box that opens its history. */
  button(setId) {
    return el("button", { type: "button", className: "btn btn-small", textContent: "history",
      "aria-label": "History of this set", dataset: { history: String(setId) } });
  }

  #layer() { return this.panel.overlay.layer(this.setId); }

  /** Show a set's history (its newest changes); a change of the set made elsewhere reopens it. */
  async open(setId) {
    this.endPreview();
    this.#unwatch();
    this.setId = setId;
    const layer = this.#layer();
    if (layer) {
      const listener = () => this.open(setId);
      layer.addEventListener("data-change", listener);
      this.watched = { layer, listener };
    }
    this.changes = [];
    this.root.hidden = false;
    this.title.textContent = `History of ${this.#layer()?.set.name ?? "the set"}`;
    this.status.textContent = "";
    this.list.replaceChildren();
    await this.#page();
    this.root.scrollIntoView?.({ block: "nearest" });
  }

  #unwatch() {
    this.watched?.layer.removeEventListener("data-change", this.watched.listener);
    this.watched = null;
  }

  close() {
    this.endPreview();
    this.#unwatch();
    this.root.hidden = true;
    this.setId = null;
  }

  async #page() {
    const layer = this.#layer();
    if (!layer) {
      return;
    }
    const last = this.changes.at(-1);
    const url = `${layer.set.urls.history}?limit=${HISTORY_PAGE}${last ? `&before=${last.version}` : ""}`;
    try {
      const body = await getJson(url);
      this.changes.push(...body.changes);
      this.more.hidden = body.changes.length < HISTORY_PAGE;
      this.render();
    } catch (err) {
      this.panel.showError(`Could not read the history: ${err.message}`);
    }
  }

  render() {
    const at = this.preview?.version ?? null;
    this.list.replaceChildren(...this.changes.map((c) => el("li", {},
      el("button", { type: "button", className: "history-entry", textContent: historyLine(c), "aria-pressed": String(c.version === at),
        title: "Preview the set as it was after this change", dataset: { change: String(c.version) } }))));
  }

  /** Preview the set as it was at `version` (see the module's header). */
  async showVersion(version) {
    const layer = this.#layer();
    if (!layer) {
      return;
    }
    this.endPreview();
    let diff;
    try {
      diff = await getJson(`${layer.set.urls.diff}?from=${version}`);
    } catch (err) {
      this.panel.showError(`Could not preview version ${version}: ${err.message}`);
      return;
    }
    const items = diff.items.filter((i) => i.kind === "annotation");
    const then = items.map((i) => i.before).filter(Boolean);
    const hidden = items.filter((i) => i.after).map((i) => i.id);
    const preview = new PreviewLayer(then);
    this.panel.viewer.addLayer(preview);
    const hide = () => hidden.forEach((id) => layer.setHidden(id, true));
    hide();
    layer.addEventListener("tile", hide); // annotations of tiles loaded later (a pan) too
    this.preview = { setId: this.setId, version, layer: preview, hidden, onTile: hide };
    this.panel.viewer.pane.dataset.historyPreview = String(version);
    this.status.textContent = diff.from === diff.to || !items.length
      ? `Version ${version} is the set as it is now.`
      : `Previewing version ${version}: ${then.length} object(s) as they were then, dashed orange; ` +
        `${hidden.length} changed or added since hidden; the others are unchanged.`;
    this.restoreButton.hidden = this.panel.readOnly || version === diff.to;
    this.endButton.hidden = false;
    this.render();
  }

  /** Remove the preview: the set is drawn as it is now. */
  endPreview() {
    const p = this.preview;
    if (!p) {
      return;
    }
    this.panel.viewer.removeLayer(p.layer);
    const layer = this.panel.overlay.layer(p.setId);
    layer?.removeEventListener("tile", p.onTile);
    p.hidden.forEach((id) => layer?.setHidden(id, false));
    this.preview = null;
    delete this.panel.viewer.pane.dataset.historyPreview;
    this.status.textContent = "";
    this.restoreButton.hidden = true;
    this.endButton.hidden = true;
    this.render();
  }

  /** Restore the previewed version, as a new change (after asking). */
  async restore() {
    const p = this.preview;
    const layer = p && this.panel.overlay.layer(p.setId);
    if (!layer || this.panel.readOnly) {
      return;
    }
    if (!window.confirm(`Make "${layer.set.name}" what it was at version ${p.version}? This is saved as a new change; the history keeps every version.`)) {
      return;
    }
    this.panel.showError("");
    try {
      await apiWrite("POST", layer.set.urls.restore, { body: { version: p.version }, version: this.panel.versions.get(p.setId) ?? null });
    } catch (err) {
      this.panel.showError(writeErrorText(`Restoring version ${p.version}`, err));
      return;
    }
    this.endPreview();
    await this.panel.refresh(p.setId);
    await this.open(p.setId);
  }
}
