/**
 * Who is editing: the name a user gives the viewer, kept in the browser (localStorage) and sent with
 * every write so the set's history names its author. Until the server has accounts (the deployment
 * issue), this is what `X-User` / a body's `user` carry; the server trusts it as it trusts any
 * client of an `--auth none` server. Pure but for the storage handed in.
 */

import { csrfHeaders } from "./csrf.js";

const KEY = "wsi-viewer-author";
/** The longest name kept (the store's author column takes any length; a history list does not). */
export const MAX_AUTHOR_LENGTH = 80;

/**
 * The name given, trimmed ("" when none).
 * @param {Storage|null|undefined} [storage=globalThis.localStorage]
 * @returns {string}
 */
export function authorName(storage = globalThis.localStorage) {
  try {
    return cleanAuthor(storage?.getItem(KEY) ?? "");
  } catch {
    return ""; // storage refused (private mode): anonymous
  }
}

/**
 * Keep *name* (cleaned) as the author of this browser's later writes; "" forgets it.
 * @param {string} name
 * @param {Storage|null|undefined} [storage=globalThis.localStorage]
 * @returns {string} the name kept
 */
export function setAuthorName(name, storage = globalThis.localStorage) {
  const clean = cleanAuthor(name);
  try {
    if (clean) {
      storage?.setItem(KEY, clean);
    } else {
      storage?.removeItem(KEY);
    }
  } catch {
    // not kept: writes of this page still use it through the caller
  }
  return clean;
}

/**
 * A name as it is sent: control characters dropped, spaces collapsed, at most MAX_AUTHOR_LENGTH;
 * "sidecar" is the server's own name for changes it reads from files (it refuses it).
 * @param {string} name
 * @returns {string}
 */
export function cleanAuthor(name) {
  // eslint-disable-next-line no-control-regex
  const clean = String(name ?? "").replace(/[\u0000-\u001f\u007f]/g, " ").replace(/\s+/g, " ").trim();
  const cut = clean.slice(0, MAX_AUTHOR_LENGTH).trim();
  return cut.toLowerCase() === "sidecar" ? "" : cut;
}

/**
 * The headers of a write by *name*: `X-User` when HTTP can carry it (a header is Latin-1: other
 * names travel in a JSON body's `user` instead, see `withAuthor`), and the login session's CSRF
 * token when the page has one (with accounts the server takes the author from the login instead).
 * @param {string} name
 * @param {Record<string, any>} [config] the page's data-config (default: the document's)
 * @returns {Record<string, string>}
 */
export function authorHeaders(name, config) {
  const user = name && /^[\u0020-\u007e\u00a0-\u00ff]+$/.test(name) ? { "X-User": name } : {};
  return { ...user, ...csrfHeaders(config) };
}

/**
 * A JSON write body carrying its author (`user`, which the server prefers to `X-User`).
 * @param {object} body
 * @param {string} name
 * @returns {object}
 */
export function withAuthor(body, name) {
  return name && body && typeof body === "object" && !Array.isArray(body) ? { ...body, user: name } : body;
}
