/**
 * Editing of the layers panel (issue 13 §3): a set's groups (create, rename, recolour, nest,
 * delete), the active set and active group (where the editor's new annotations go) and new sets.
 * Every write goes straight to the API (`If-Match` = the group's version, `X-Requested-With`);
 * a refusal (409 name taken or group not empty, 412 stale, 403 read-only...) is shown in the
 * panel. After a write the set's layer reloads and its list and groups are read again.
 *
 * Deleting a group that still has annotations or child groups asks first, then moves them to the
 * group's parent (ungrouped / top level when it has none), one annotation write each, and deletes
 * the group then (the API refuses to delete a group that is not empty: 409).
 * Made by `LayersPanel` unless the page is read-only; nothing happens at import.
 */

import { getJson } from "./api.js";
import { apiWrite, el, writeErrorText } from "./panel-dom.js";
import { colorInputValue, groupMembers, groupRecord, parentChoices } from "./layers/panel-model.js";

export class GroupEditor {
  /** @param {import("./layers-panel.js").LayersPanel} panel */
  constructor(panel) {
    this.panel = panel;
    this.editing = null; // {setId, name: string|null (null: a new group), draft: {name, color, parent}}
    this.busy = false;
    const input = el("input", { className: "input", type: "text", placeholder: "New set: name (annotator, model run…)",
      "aria-label": "Name of the new annotation set", required: true, maxLength: 200 });
    input.dataset.newSetName = "";
    const button = el("button", { type: "submit", className: "btn", textContent: "New set" });
    button.dataset.newSet = "";
    this.newSetForm = el("form", { className: "new-set-form" }, input, button);
    this.newSetForm.dataset.newSetForm = "";
    this.newSetForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.createSet(input.value.trim());
    });
    const box = panel.setsBox;
    box.addEventListener("click", (event) => this.#onClick(event));
    box.addEventListener("change", (event) => this.#onChange(event));
    box.addEventListener("input", (event) => this.#onDraft(event));
    box.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Controls the panel places in each set's box

  /** The radio choosing the active set ("" where there is no editor). */
  activeSetControl(layer) {
    if (!this.panel.activeControls) {
      return "";
    }
    const locked = this.panel.notEditable(layer); // a set whose saves the server would refuse: not offered
    const radio = el("input", { type: "radio", name: `active-set${this.panel.prefix}`, checked: this.panel.activeSet() === layer.setId,
      disabled: Boolean(locked), title: locked ? `Not offered: ${locked}` : "Active set: new annotations go here",
      "aria-label": `Active set: ${layer.set.name}${locked ? ` (not offered: ${locked})` : ""}` });
    radio.dataset.activeSet = String(layer.setId);
    return radio;
  }

  /** The radio choosing a set's active group (name null: ungrouped; "" where there is no editor). */
  activeGroupControl(setId, name) {
    if (!this.panel.activeControls) {
      return "";
    }
    const radio = el("input", { type: "radio", name: `active-group${this.panel.prefix}-${setId}`, value: name ?? "",
      checked: this.panel.activeGroup(setId) === name,
      title: "Active group: new annotations go here", "aria-label": `Active group: ${name ?? "ungrouped"}` });
    radio.dataset.activeGroupOf = String(setId);
    if (name === null) {
      radio.dataset.ungrouped = "";
    }
    return radio;
  }

  /** The button opening a group's form. */
  editGroupButton(setId, name) {
    return el("button", { type: "button", className: "btn btn-small", textContent: "edit", title: `Edit the group ${name}`,
      "aria-label": `Edit the group ${name}`, dataset: { editGroup: name, set: String(setId) } });
  }

  /** The set's editing buttons. */
  setTools(setId) {
    return [el("button", { type: "button", className: "btn btn-small", textContent: "+ group",
      "aria-label": "New group in this set", dataset: { newGroup: String(setId) } })];
  }

  /** The open group form of a set, or null. */
  form(setId) {
    const e = this.editing;
    if (!e || e.setId !== setId) {
      return null;
    }
    const groups = this.panel.groups.get(setId) ?? [];
    const nameInput = el("input", { className: "input", type: "text", value: e.draft.name, required: true, maxLength: 200,
      "aria-label": "Group name" });
    nameInput.dataset.groupName = "";
    const color = el("input", { type: "color", value: colorInputValue(e.draft.color), "aria-label": "Group colour" });
    color.dataset.groupColor = "";
    const parent = el("select", { className: "input", "aria-label": "Parent group" }, new Option("(top level)", ""));
    parent.dataset.groupParent = "";
    for (const name of parentChoices(groups, e.name)) {
      parent.append(new Option(name, name, false, name === e.draft.parent));
    }
    const save = el("button", { type: "submit", className: "btn", textContent: e.name === null ? "Create" : "Save" });
    save.dataset.groupSave = "";
    const cancel = el("button", { type: "button", className: "btn", textContent: "Cancel" });
    cancel.dataset.groupCancel = "";
    const buttons = el("div", { className: "group-form-buttons" }, save, cancel);
    if (e.name !== null) {
      const del = el("button", { type: "button", className: "btn danger", textContent: "Delete group" });
      del.dataset.groupDelete = "";
      buttons.append(del);
    }
    const form = el("form", { className: "group-form", "aria-label": e.name === null ? "New group" : `Edit the group ${e.name}` },
      el("label", {}, "Name ", nameInput), el("label", {}, "Colour ", color), el("label", {}, "Parent ", parent), buttons);
    form.dataset.groupForm = String(setId);
    return form;
  }

  // ---------------------------------------------------------------------------------------------
  // Events

  #onClick(event) {
    const b = event.target.closest("button");
    if (!b || this.busy) {
      return;
    }
    if (b.dataset.newGroup) {
      this.open(Number(b.dataset.newGroup), null);
    } else if (b.dataset.editGroup !== undefined) {
      this.open(Number(b.dataset.set), b.dataset.editGroup);
    } else if (b.dataset.groupCancel !== undefined) {
      this.editing = null;
      this.panel.renderSets();
    } else if (b.dataset.groupDelete !== undefined) {
      this.deleteGroup();
    }
  }

  #onChange(event) {
    const t = event.target;
    if (t.dataset.activeSet) {
      this.panel.setActiveSet(Number(t.dataset.activeSet));
    } else if (t.dataset.activeGroupOf) {
      this.panel.setActiveGroup(Number(t.dataset.activeGroupOf), t.dataset.ungrouped === undefined ? t.value : null);
    }
  }

  #onDraft(event) {
    const t = event.target;
    const draft = this.editing?.draft;
    if (!draft) {
      return;
    }
    if (t.dataset.groupName !== undefined) {
      draft.name = t.value;
    } else if (t.dataset.groupColor !== undefined) {
      draft.color = t.value.toUpperCase();
    } else if (t.dataset.groupParent !== undefined) {
      draft.parent = t.value || null;
    }
  }

  /** Open the form of a group (name null: a new group of the set). */
  open(setId, name) {
    const group = name === null ? null : (this.panel.groups.get(setId) ?? []).find((g) => g.name === name);
    this.editing = {
      setId, name,
      draft: { name: group?.name ?? "", color: group?.color ?? "#64FE2E", parent: group?.parent ?? null },
    };
    this.panel.showError("");
    this.panel.renderSets();
    this.panel.setsBox.querySelector("[data-group-name]")?.focus();
  }

  // ---------------------------------------------------------------------------------------------
  // Writes

  async #write(setId, what, fn) {
    this.busy = true;
    this.panel.showError("");
    try {
      await fn();
      return true;
    } catch (err) {
      this.panel.showError(writeErrorText(what, err));
      if (err.status === 412) {
        await this.panel.refresh(setId);
      }
      return false;
    } finally {
      this.busy = false;
    }
  }

  /** Create or update the group of the open form. */
  async save() {
    const e = this.editing;
    if (!e || this.busy) {
      return;
    }
    const layer = this.panel.overlay.layer(e.setId);
    const name = e.draft.name.trim();
    const body = { name, parent: e.draft.parent, color: e.draft.color.toUpperCase() };
    const ok = await this.#write(e.setId, e.name === null ? `Creating the group "${name}"` : `Saving the group "${e.name}"`, async () => {
      if (e.name === null) {
        await apiWrite("POST", layer.set.urls.groups, { body: { ...body, attributes: {} } });
      } else {
        const rec = groupRecord(this.panel.groupRecords.get(e.setId) ?? [], e.name);
        if (!rec) {
          throw new Error("the group is no longer in the set");
        }
        await apiWrite("PUT", `${layer.set.urls.groups}/${rec.id}`, { body: { ...body, attributes: rec.attributes ?? {} }, version: rec.version });
      }
    });
    if (!ok) {
      return;
    }
    this.editing = null;
    const wasActive = e.name !== null && this.panel.activeGroup(e.setId) === e.name;
    await this.panel.refresh(e.setId);
    if (e.name === null || wasActive) {
      this.panel.setActiveGroup(e.setId, name); // a new group is where the next annotations go
    }
  }

  /** Delete the group of the open form, after asking; its members move to its parent. */
  async deleteGroup() {
    const e = this.editing;
    if (!e || e.name === null || this.busy) {
      return;
    }
    const panel = this.panel;
    const layer = panel.overlay.layer(e.setId);
    const groups = panel.groups.get(e.setId) ?? [];
    const rec = groupRecord(panel.groupRecords.get(e.setId) ?? [], e.name);
    if (!rec) {
      panel.showError(`The group "${e.name}" is no longer in the set.`);
      await panel.refresh(e.setId);
      return;
    }
    const { annotations, children } = groupMembers(panel.entries.get(e.setId) ?? [], groups, e.name);
    const to = rec.parent === null ? "ungrouped (top level)" : `its parent "${rec.parent}"`;
    const question = annotations.length || children.length
      ? `Delete the group "${e.name}"? Its ${annotations.length} annotation(s) and ${children.length} child group(s) move to ${to}.`
      : `Delete the empty group "${e.name}"?`;
    if (!window.confirm(question)) {
      return;
    }
    const urls = layer.set.urls;
    const ok = await this.#write(e.setId, `Deleting the group "${e.name}"`, async () => {
      for (const child of (panel.groupRecords.get(e.setId) ?? []).filter((g) => children.includes(g.name))) {
        await apiWrite("PUT", `${urls.groups}/${child.id}`, {
          body: { name: child.name, parent: rec.parent, color: child.color, attributes: child.attributes ?? {} }, version: child.version,
        });
      }
      for (const [i, entry] of annotations.entries()) {
        panel.status.textContent = `Moving the annotations of "${e.name}" to ${to}: ${i + 1} of ${annotations.length}…`;
        const feature = await getJson(`${urls.annotations}/${entry.id}`);
        feature.properties.asap = { ...feature.properties.asap, group: rec.parent };
        await apiWrite("PUT", `${urls.annotations}/${entry.id}`, { body: feature, version: feature.properties.version });
      }
      const fresh = await getJson(`${urls.groups}/${rec.id}`);
      await apiWrite("DELETE", `${urls.groups}/${rec.id}`, { version: fresh.version });
    });
    if (ok) {
      this.editing = null;
    }
    if (panel.activeGroup(e.setId) === e.name && ok) {
      panel.activeGroups.delete(e.setId);
    }
    await panel.refresh(e.setId); // also after a half-done move: show what the store has now
  }

  /** Make a new, empty set of the slide and make it the active set. */
  async createSet(name) {
    if (!name || this.busy) {
      return;
    }
    const panel = this.panel;
    let made = null;
    await this.#write(null, `Creating the set "${name}"`, async () => {
      made = await apiWrite("POST", panel.viewer.slide.urls.annotations, { body: { name } });
    });
    if (!made) {
      return;
    }
    const overlay = panel.overlay;
    let layer = overlay.layer(made.set.id); // the change watcher may have seen it first
    if (!layer) {
      overlay.sets.push(made.set);
      layer = overlay.add(made.set);
      panel.attach(layer);
    }
    this.newSetForm.reset();
    panel.setActiveSet(made.set.id);
  }
}
