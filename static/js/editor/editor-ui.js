/**
 * The editor's own DOM (not the pointer, see `editor-input.js`): the tools' palette
 * (`[data-editor-tools]`, filled from the tool registry: one button a tool, named for screen
 * readers, `aria-pressed` on the active one; undo/redo enabled as the history allows), a polite
 * live region for short messages (`[data-editor-toast]`, 4 s), and a small form dialog for a tool
 * that asks for values (`ToolResult.ask = {title, fields: [{name, label, value}], then(values)}`:
 * ASAP's rectangle of a given size).
 */

import { tools } from "./tools/index.js";

const TOAST_MS = 4000;

export class EditorUi {
  /**
   * @param {import("./editor.js").Editor} editor
   * @param {HTMLElement|null} toolbar the page's toolbar (a palette inside it is used first)
   */
  constructor(editor, toolbar) {
    this.editor = editor;
    const pane = editor.viewer.pane;
    this.palette = toolbar?.querySelector("[data-editor-tools]")
      ?? pane.closest("[data-viewer-app]")?.querySelector("[data-editor-tools]") ?? null;
    this.toast = null;
    this.timer = 0;
    this.dialog = null;
    this.#render();
  }

  #render() {
    const group = this.palette;
    if (!group) {
      return;
    }
    group.hidden = false;
    const holder = group.querySelector("[data-tool-buttons]") ?? group;
    holder.replaceChildren();
    for (const t of tools()) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "btn icon-btn tool-btn";
      b.dataset.tool = t.name;
      b.setAttribute("aria-label", t.label);
      b.setAttribute("aria-pressed", "false");
      b.title = `${t.label}${t.key ? ` (${t.key.toUpperCase()})` : ""}`;
      b.innerHTML = `<svg class="icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">${t.icon ?? ""}</svg>`;
      b.addEventListener("click", () => this.editor.setTool(t.name));
      holder.append(b);
    }
    group.querySelector("[data-editor-undo]")?.addEventListener("click", () => this.editor.undo());
    group.querySelector("[data-editor-redo]")?.addEventListener("click", () => this.editor.redo());
    this.syncUndo();
  }

  /** Press the active tool's button. */
  syncTool(name) {
    for (const b of this.palette?.querySelectorAll("[data-tool]") ?? []) {
      b.setAttribute("aria-pressed", String(b.dataset.tool === name));
    }
  }

  /** Undo and redo enabled as the history allows. */
  syncUndo() {
    const stack = this.editor.undoStack;
    const u = this.palette?.querySelector("[data-editor-undo]");
    const r = this.palette?.querySelector("[data-editor-redo]");
    if (u) {
      u.disabled = !stack.canUndo();
    }
    if (r) {
      r.disabled = !stack.canRedo();
    }
  }

  /**
   * Tell the user something for a few seconds (a tool's message: "copied 3"; an undo that cannot
   * apply), in a polite live region over the slide; the pane's `data-editor-message` holds it too.
   * @param {string} text ("" hides it)
   */
  say(text) {
    const pane = this.editor.viewer.pane;
    pane.dataset.editorMessage = text;
    if (!this.toast) {
      this.toast = document.createElement("p");
      this.toast.className = "editor-message";
      this.toast.setAttribute("role", "status");
      this.toast.dataset.editorToast = "";
      pane.append(this.toast);
    }
    this.toast.textContent = text;
    this.toast.hidden = !text;
    clearTimeout(this.timer);
    if (text) {
      this.timer = setTimeout(() => {
        this.toast.hidden = true;
      }, TOAST_MS);
    }
  }

  /**
   * Ask for values in a small modal form.
   * @param {{title: string, fields: {name: string, label: string, value: number}[]}} spec
   * @returns {Promise<Record<string, number>|null>} the values, or null when cancelled
   */
  ask(spec) {
    const dialog = document.createElement("dialog");
    dialog.className = "dialog editor-ask";
    dialog.dataset.editorAsk = "";
    const form = document.createElement("form");
    form.method = "dialog";
    const title = document.createElement("h2");
    title.textContent = spec.title;
    title.id = "editor-ask-title";
    dialog.setAttribute("aria-labelledby", title.id);
    form.append(title);
    const inputs = spec.fields.map((f) => {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.className = "input";
      input.type = "number";
      input.min = "0";
      input.step = "any";
      input.required = true;
      input.name = f.name;
      input.value = String(f.value);
      label.append(f.label, input);
      form.append(label);
      return input;
    });
    const buttons = document.createElement("div");
    buttons.className = "editor-ask-buttons";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "btn";
    cancel.textContent = "Cancel";
    const ok = document.createElement("button");
    ok.type = "submit";
    ok.className = "btn primary";
    ok.textContent = "OK";
    ok.value = "ok";
    buttons.append(cancel, ok);
    form.append(buttons);
    dialog.append(form);
    document.body.append(dialog);
    return new Promise((resolve) => {
      cancel.addEventListener("click", () => dialog.close("cancel"));
      dialog.addEventListener("close", () => {
        const values = dialog.returnValue === "ok" ? Object.fromEntries(inputs.map((i) => [i.name, Number(i.value)])) : null;
        dialog.remove();
        resolve(values);
      }, { once: true });
      dialog.showModal();
      inputs[0]?.select();
    });
  }
}
