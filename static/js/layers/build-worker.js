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

/**
 * A build of 200 small generated polygons, thrown away, while the Worker waits for its first tile
 * (it is started before the set list arrives): the first real build then runs compiled code.
 * Measured in Node with 5,000 blobs (a 10^6-vertex set's whole-slide tile): the first build 170 ms
 * cold, 117-131 ms after this warm-up, which itself takes 14 ms.
 */
function warmUp() {
  const features = [];
  for (let i = 0; i < 200; i++) {
    const ring = [];
    for (let k = 0; k < 12; k++) {
      const a = (2 * Math.PI * k) / 12;
      const r = 100 + ((i * 37 + k * 11) % 50);
      ring.push([1000 + (i % 20) * 400 + Math.round(r * Math.cos(a)), 1000 + Math.floor(i / 20) * 400 + Math.round(r * Math.sin(a))]);
    }
    ring.push(ring[0]);
    features.push({ type: "Feature", id: i + 1, properties: { version: 1, asap: { type: "Polygon", group: "g" } },
      geometry: { type: "Polygon", coordinates: [ring] } });
  }
  buildBatch({ features }, { x0: 0, y0: 0, x1: 16384, y1: 16384 }, 64, 4, new Registry(), {});
}
setTimeout(() => {
  try {
    warmUp();
  } catch {
    // a warm-up only: the real builds report their own errors
  }
}, 0);

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
