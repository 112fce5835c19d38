/**
 * Who owns a set and who else reads and edits it (issue 16), as the layers panel shows it beside
 * the set's name, read-only (the owner changes it with `PUT set.urls.sharing`, or an admin).
 * Pure: no DOM. A set without an owner shared "edit" (made before accounts, or under AUTH=none)
 * shows nothing, as before.
 */

const SHARING_TEXT = { private: "private", read: "read by all", edit: "edited by all" };

/**
 * @param {{owner?: string|null, sharing?: string, editors?: string[]}} set the set's JSON
 * @returns {{text: string, title: string}} text "" when there is nothing to say
 */
export function sharingText(set) {
  const owner = set.owner ?? null;
  const sharing = set.sharing ?? "edit";
  const editors = set.editors ?? [];
  if (owner === null && sharing === "edit" && !editors.length) {
    return { text: "", title: "" };
  }
  const parts = [owner === null ? "no owner" : `${owner}'s`, SHARING_TEXT[sharing] ?? sharing];
  if (editors.length) {
    parts.push(`+ ${editors.join(", ")}`);
  }
  const title = [
    owner === null ? "No owner" : `Owner: ${owner}`,
    `sharing: ${sharing}`,
    editors.length ? `also edited by ${editors.join(", ")}` : "",
  ].filter(Boolean).join("; ");
  return { text: parts.join(" · "), title };
}

/**
 * Whether the page's user may change a set (the server decides; this only keeps the editor from
 * drawing into a set whose saves it would refuse). Mirrors viewer/auth/permissions.py's can_edit_set.
 * @param {{owner?: string|null, sharing?: string, editors?: string[]}} set the set's JSON
 * @param {{auth?: string, user?: string, role?: string}} config the page's data-config
 * @returns {boolean}
 */
export function canEditSet(set, config) {
  if (!config.auth || config.auth === "none" || config.role === "admin") {
    return true;
  }
  if (config.role !== "annotator") {
    return false;
  }
  return (set.sharing ?? "edit") === "edit" || set.owner === config.user || (set.editors ?? []).includes(config.user);
}

/**
 * Why the page's user may not draw into a set, in words ("" when they may): shown beside a set
 * the active-set choice does not offer.
 * @param {{owner?: string|null, sharing?: string, editors?: string[]}} set the set's JSON
 * @param {{auth?: string, user?: string, role?: string}} config the page's data-config
 * @returns {string}
 */
export function notEditableReason(set, config) {
  if (canEditSet(set, config)) {
    return "";
  }
  if (config.role !== "annotator") {
    return `a ${config.role ?? "viewer"} account edits no sets`;
  }
  const owner = set.owner ?? null;
  const whose = owner === null ? "nobody's" : `${owner}'s`;
  return `${whose} set, ${SHARING_TEXT[set.sharing ?? "edit"] ?? set.sharing}, and you are not one of its editors`;
}

/**
 * The set new annotations go to: the one chosen if the user may edit it, else the first they may
 * edit, else null (the editor then makes a new set, theirs). Under AUTH=none every set qualifies.
 * @param {Array<{id: number, owner?: string|null, sharing?: string, editors?: string[]}>} sets in panel order
 * @param {number|null} chosenId the set the user picked (null: none yet)
 * @param {{auth?: string, user?: string, role?: string}} config the page's data-config
 * @returns {number|null}
 */
export function activeSetChoice(sets, chosenId, config) {
  const editable = sets.filter((s) => canEditSet(s, config));
  return editable.find((s) => s.id === chosenId)?.id ?? editable[0]?.id ?? null;
}
