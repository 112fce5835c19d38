/**
 * The build Worker of one annotation layer: fetches viewport queries, parses their JSON and
 * builds the batches (`batch.js`: earcut, stroke segments, Flatbush) off the main thread, and
 * transfers the typed arrays back (no copy). The main thread never parses annotation JSON.
 *
 * Messages in: `{type: "init", mppX}`; `{type: "load", key, url, rect, margin, tolerance}`;
 * `{type: "check", url, version}` (a conditional GET: 304 = unchanged); `{type: "reset"}`;
 * `{type: "build", key, body, rect, margin, tolerance}`: a body the page already has (the editor's
 * saved annotation), each of its features under a new slot (a patch drawn over the tiles).
 * Messages out: `{type: "batch", key, batch, annotations, styles, timing}`,
 * `{type: "error", key, status, message}`, `{type: "checked", version, changed}`.
 */

import { Registry, buildBatch } from "./batch.js";

let registry = new Registry();
let mppX = null;

/** @returns {Promise<{status: number, body: any, bytes: number, parseMs: number}>} */
async function getJson(url, headers = {}, cache = "default") {
  const response = await fetch(url, { headers: { Accept: "application/geo+json, application/json", ...headers }, cache });
  if (response.status === 304) {
    return { status: 304, body: null, bytes: 0, parseMs: 0 };
  }
  const text = await response.text();
  const t0 = performance.now();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  return { status: response.status, body, bytes: text.length, parseMs: performance.now() - t0 };
}

async function load(message) {
  const t0 = performance.now();
  const { status, body, bytes, parseMs } = await getJson(message.url);
  const t1 = performance.now();
  if (status !== 200 || !body) {
    const error = body && typeof body.error === "string" ? body.error : `HTTP ${status}`;
    postMessage({ type: "error", key: message.key, status, message: error });
    return;
  }
  const t2 = performance.now();
  const built = buildBatch(body, message.rect, message.margin, message.tolerance, registry, { mppX });
  const t3 = performance.now();
  postMessage({
    type: "batch", key: message.key, batch: built.batch, annotations: built.annotations, styles: built.styles,
    groups: body.asapGroups ?? [], groupRecords: body.groups ?? [],
    timing: { fetch_ms: t1 - t0 - parseMs, parse_ms: parseMs, build_ms: t3 - t2, bytes, features: body.features?.length ?? 0 },
  }, built.transfer);
}

function build(message) {
  for (const feature of message.body.features) {
    registry.byId.delete(feature.id); // a new slot: the previous patch of it may still be drawn
  }
  const built = buildBatch(message.body, message.rect, message.margin, message.tolerance, registry, { mppX });
  postMessage({ type: "batch", key: message.key, batch: built.batch, annotations: built.annotations,
    styles: built.styles, timing: {} }, built.transfer);
}

async function check(message) {
  // no-store: this request is about the server's state, not a copy the HTTP cache may hold
  const { status, body } = await getJson(message.url, { "If-None-Match": `"${message.version}"` }, "no-store");
  if (status === 304) {
    postMessage({ type: "checked", version: message.version, changed: false });
  } else if (status === 200 && body) {
    postMessage({ type: "checked", version: body.version, changed: body.version !== message.version });
  } else {
    postMessage({ type: "error", key: null, status, message: body?.error ?? `HTTP ${status}` });
  }
}

self.addEventListener("message", (event) => {
  const message = event.data;
  const run = async () => {
    if (message.type === "init") {
      mppX = message.mppX ?? null;
    } else if (message.type === "reset") {
      registry = new Registry();
    } else if (message.type === "load") {
      await load(message);
    } else if (message.type === "check") {
      await check(message);
    } else if (message.type === "build") {
      build(message);
    }
  };
  run().catch((err) => {
    postMessage({ type: "error", key: message.key ?? null, status: 0, message: String(err?.message ?? err) });
  });
});
