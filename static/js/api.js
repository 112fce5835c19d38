/**
 * fetch wrappers for the JSON API. Errors of the API have one shape
 * ({"error", "status", "details"}); `parseError` turns any response into an ApiError.
 */

/** An API error with the server's message and status. */
export class ApiError extends Error {
  /**
   * @param {string} message
   * @param {number} status HTTP status (0 when the network failed)
   * @param {unknown[]} [details]
   */
  constructor(message, status, details = []) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.details = details;
  }
}

/**
 * Build an ApiError from a failed response body (JSON error shape, or anything else).
 * @param {number} status
 * @param {string} text response body
 * @returns {ApiError}
 */
export function parseError(status, text) {
  try {
    const body = JSON.parse(text);
    if (body && typeof body.error === "string") {
      return new ApiError(body.error, body.status ?? status, Array.isArray(body.details) ? body.details : []);
    }
  } catch {
    // not JSON: fall through to a generic message
  }
  return new ApiError(`request failed with HTTP ${status}`, status);
}

/**
 * GET a JSON document.
 * @param {string} url
 * @returns {Promise<any>}
 */
export async function getJson(url) {
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json" } });
  } catch (err) {
    throw new ApiError(`network error: ${err.message}`, 0);
  }
  if (!response.ok) {
    throw parseError(response.status, await response.text());
  }
  return response.json();
}

/**
 * Every slide of the library (GET /api/slides).
 * @param {string} url the listing URL (from the page's data-config)
 * @returns {Promise<object[]>}
 */
export async function listSlides(url) {
  const body = await getJson(url);
  return body.slides;
}
