/**
 * The CSRF token of a login session (AUTH=builtin): the server puts it in the page's data-config
 * (`config.csrfToken`) and refuses a cookie-authenticated write without it in `X-CSRF-Token`
 * (403). Under `--auth none` and behind an SSO proxy there is none and nothing is sent. Pure but for
 * the document handed in.
 */

export const CSRF_HEADER = "X-CSRF-Token";

let cached = null;

/**
 * The page's data-config (`{}` when there is none, e.g. in node).
 * @param {Document|undefined} [doc=globalThis.document]
 * @returns {Record<string, any>}
 */
export function pageConfig(doc = globalThis.document) {
  try {
    return JSON.parse(doc?.body?.dataset?.config ?? "{}") ?? {};
  } catch {
    return {};
  }
}

/**
 * The header carrying the session's CSRF token, or `{}` without one.
 * @param {Record<string, any>} [config] the page's data-config (read once from the document by default)
 * @returns {Record<string, string>}
 */
export function csrfHeaders(config) {
  const found = config ?? (cached ??= pageConfig());
  const token = found?.csrfToken;
  return typeof token === "string" && token ? { [CSRF_HEADER]: token } : {};
}
