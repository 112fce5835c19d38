/**
 * The editor kept in step with the others (DOM-free, on an `Editor`): a conflict settled by the
 * user (the save queue's "resolved": "Take theirs", "Keep both"), and the layers panel's list
 * showing the editor's selection; the exact annotations of a slide box in one request.
 */

import { makeEntry, serverLocalId } from "./document.js";

/**
 * "Take theirs": the document holds the server's version from now on (forgotten when the server
 * deleted it), so a later edit or undo starts from theirs.
 * @param {import("./editor.js").Editor} editor
 * @param {{change: object, choice: string, theirs: object|null}} detail
 */
export function tookTheirs(editor, { change, choice, theirs }) {
  if (choice !== "theirs") {
    return; // "mine" is sent again; "both": keptBoth
  }
  const entry = editor.doc.get(change.localId);
  if (entry && theirs) {
    const fresh = makeEntry({ ...entry, feature: theirs });
    entry.points = fresh.points;
    entry.feature = fresh.feature;
    entry.version = theirs.properties?.version ?? entry.version;
  } else if (entry) {
    editor.doc.forget(change.localId); // deleted on the server meanwhile
  }
  editor.annotations.layer(change.setId)?.checkForChanges();
  editor.refresh();
}

/**
 * "Keep both": the entry stays mine and is saved as a NEW annotation ("confirmed" brings its id,
 * which then aliases the entry); the server's annotation (the old id) is its layer's again: shown,
 * reloaded, and loaded as an entry of its own when selected.
 * @param {import("./editor.js").Editor} editor
 * @param {{change: object, choice: string}} detail
 */
export function keptBoth(editor, { change, choice }) {
  if (choice !== "both") {
    return;
  }
  const entry = editor.doc.get(change.localId);
  const oldId = change.annotationId ?? entry?.annotationId; // (the queue has cleared the change's)
  if (entry) {
    entry.annotationId = null;
    entry.version = null;
  }
  const ref = editor.hidden.get(change.localId);
  if (ref) {
    editor.hidden.delete(change.localId);
    editor.annotations.layer(ref.setId)?.setHidden(ref.annotationId, false);
  }
  if (oldId !== null && oldId !== undefined) {
    editor.aliases.set(serverLocalId(change.setId, oldId), `${serverLocalId(change.setId, oldId)}:theirs`);
  }
  editor.annotations.layer(change.setId)?.reload();
  editor.refresh();
}

/**
 * The layers panel's list shows the selection (its entries "<set>:<id>" of saved annotations).
 * @param {import("./editor.js").Editor} editor
 */
export function markPanel(editor) {
  const keys = [];
  for (const localId of editor.selection) {
    const entry = editor.doc.get(localId);
    const server = /^s(\d+):(\d+)$/.exec(localId);
    if (entry?.annotationId !== null && entry?.annotationId !== undefined) {
      keys.push(`${entry.setId}:${entry.annotationId}`);
    } else if (server) {
      keys.push(`${server[1]}:${server[2]}`);
    }
  }
  editor.panel?.mark?.(keys);
}

/**
 * The exact Features of a set's annotations meeting a slide box (`GET set.urls.self?bbox=`: no
 * simplification, no clipping), for a box selection: one request instead of one per annotation.
 * @param {{set: {urls: {self: string}}}|undefined} layer
 * @param {number[]} box [x0, y0, x1, y1] slide px
 * @returns {Promise<object[]>}
 */
export async function fetchBox(layer, box) {
  if (!layer) {
    return [];
  }
  const response = await fetch(`${layer.set.urls.self}?bbox=${box.map((v) => Math.round(v)).join(",")}`, {
    headers: { Accept: "application/geo+json, application/json" },
  });
  const body = await response.json();
  if (!response.ok) {
    throw new Error(body.error ?? `loading the box: ${response.status}`);
  }
  return body.features ?? [];
}
