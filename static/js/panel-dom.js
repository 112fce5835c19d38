/**
 * Small DOM helpers of the layers panel and its parts (`layers-panel.js`, `groups-panel.js`,
 * `history-panel.js`), and the panel's one way of writing to the API.
 */

import { ApiError, parseError } from "./api.js";
import { authorHeaders, authorName, withAuthor } from "./author.js";

/**
 * An element with properties (`dataset`, `aria-*`, `role` and `for` as attributes) and children.
 * @param {string} tag
 * @param {object} [props]
 * @param {...(Node|string)} children
 * @returns {HTMLElement}
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "dataset") {
      Object.assign(node.dataset, v);
    } else if (k.startsWith("aria-") || k === "role" || k === "for") {
      node.setAttribute(k, v);
    } else {
      node[k] = v;
    }
  }
  node.append(...children);
  return node;
}

/** @param {number[]} c [r, g, b] @returns {string} a CSS colour */
export const rgb = (c) => `rgb(${c[0]}, ${c[1]}, ${c[2]})`;

/**
 * A write to the API as the pages send it (`X-Requested-With`, JSON, `If-Match` when a version
 * is given); a refusal throws an ApiError with the server's message and status.
 * @param {"POST"|"PUT"|"PATCH"|"DELETE"} method
 * @param {string} url
 * @param {{body?: object, version?: number|null}} [options]
 * @returns {Promise<any>} the answer's JSON
 */
export async function apiWrite(method, url, { body, version = null } = {}) {
  const author = authorName();
  const headers = { Accept: "application/json", "X-Requested-With": "wsi-viewer", ...authorHeaders(author) };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
  }
  if (version !== null && version !== undefined) {
    headers["If-Match"] = `"${version}"`;
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(withAuthor(body, author)) });
  } catch (err) {
    throw new ApiError(`network error: ${err.message}`, 0);
  }
  if (!response.ok) {
    throw parseError(response.status, await response.text());
  }
  return response.json();
}

/**
 * A refused write as the panel shows it.
 * @param {string} what e.g. 'Renaming the group "Tumor"'
 * @param {Error & {status?: number}} err
 * @returns {string}
 */
export function writeErrorText(what, err) {
  const why = {
    403: "not allowed",
    409: "refused",
    412: "changed meanwhile by someone else (the panel shows the current state now: try again)",
  }[err.status] ?? "failed";
  return `${what} ${why}: ${err.message}${err.status ? ` (HTTP ${err.status})` : ""}`;
}
