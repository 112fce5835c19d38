import test from "node:test";
import assert from "node:assert/strict";
import {
  MaskExport, defaultDownsample, describeJob, downloadLinks, formatCount, formatDuration, maskQuery, pollDelay,
  withQuery,
} from "../../static/js/export-jobs.js";

const URLS = { self: "/api/jobs/ab", result: "/api/jobs/ab/result", cancel: "/api/jobs/ab/cancel" };

function job(state, extra = {}) {
  return {
    id: "ab", kind: "mask", state, percent: 0, rows_done: 0, rows_total: 2560, eta_seconds: null,
    queue_position: null, error: null, filename: "s-set-v3-mask.tif", urls: URLS, ...extra,
  };
}

/** A scripted server: each request takes the next reply; every request is recorded. */
function scripted(replies) {
  const sent = [];
  const request = async (url, init) => {
    sent.push({ url, ...init });
    const next = replies.shift();
    if (next instanceof Error) {
      throw next;
    }
    assert.ok(next, `unexpected request ${init.method} ${url}`);
    return { retryAfter: "1", ...next };
  };
  return { sent, request };
}

test("queries are added to the server's URLs, never built", () => {
  assert.equal(withQuery("/api/sets/3/export", "format=asap"), "/api/sets/3/export?format=asap");
  assert.equal(withQuery("/x?a=1", "b=2"), "/x?a=1&b=2");
  assert.equal(maskQuery({ downsample: 16 }), "format=mask&downsample=16");
  assert.equal(maskQuery({ downsample: 4, labels: " tumour=1,normal=2 " }), "format=mask&downsample=4&labels=tumour%3D1%2Cnormal%3D2");
  const links = downloadLinks({ urls: { export: "/api/sets/7/export" } });
  assert.deepEqual(links.map((l) => [l.label, l.href]), [
    ["ASAP XML", "/api/sets/7/export?format=asap"], ["GeoJSON", "/api/sets/7/export?format=geojson"],
  ]);
});

test("the default downsample keeps a mask within 4096 px", () => {
  assert.equal(defaultDownsample(2220, 2967), 1);
  assert.equal(defaultDownsample(61440, 40960), 16);
  assert.equal(defaultDownsample(8193, 100), 4);
  assert.equal(defaultDownsample(10 ** 7, 10), 128);
});

test("durations and job lines for people", () => {
  assert.equal(formatCount(1234567), "1,234,567");
  assert.equal(formatDuration(null), "–");
  assert.equal(formatDuration(-1), "–");
  assert.equal(formatDuration(0.2), "1 s");
  assert.equal(formatDuration(58.2), "59 s");
  assert.equal(formatDuration(59.5), "1 min 00 s");
  assert.equal(formatDuration(125), "2 min 05 s");
  assert.equal(formatDuration(3720), "1 h 02 min");
  assert.equal(describeJob(job("queued", { queue_position: 2 })).text, "Waiting in the queue (position 2)");
  const running = describeJob(job("running", { percent: 42.4, rows_done: 1024, eta_seconds: 3.2 }));
  assert.deepEqual(running, { percent: 42.4, tone: "busy", text: "42% · 1,024 / 2,560 rows · 4 s left" });
  assert.match(describeJob(job("running", { percent: 0 })).text, /estimating time left/);
  assert.deepEqual(describeJob(job("done", { percent: 100 })), { percent: 100, tone: "done", text: "Done: s-set-v3-mask.tif" });
  assert.equal(describeJob(job("failed", { error: "interrupted: restart" })).text, "Failed: interrupted: restart");
  assert.equal(describeJob(job("cancelled", { error: "abandoned" })).tone, "error");
  assert.equal(describeJob(job("running", { percent: 140 })).percent, 100);
});

test("poll delays follow Retry-After within bounds", () => {
  assert.equal(pollDelay("1"), 1000);
  assert.equal(pollDelay(null), 1000);
  assert.equal(pollDelay("abc"), 1000);
  assert.equal(pollDelay("0"), 250);
  assert.equal(pollDelay("60"), 5000);
});

test("an export is POSTed as JSON, polled until done, and gives the result URL", async () => {
  const { sent, request } = scripted([
    { status: 202, body: job("queued", { queue_position: 1 }) },
    { status: 200, body: job("running", { percent: 40, rows_done: 1024 }) },
    { status: 200, body: job("done", { percent: 100, rows_done: 2560 }) },
  ]);
  const seen = [];
  const waits = [];
  const exp = new MaskExport({ request, sleep: async (ms) => { waits.push(ms); }, onChange: (e) => seen.push(e.state) });
  await exp.run("/api/sets/3/export", { downsample: 16 });
  assert.deepEqual(seen, ["starting", "queued", "running", "done"]);
  assert.equal(exp.resultUrl, URLS.result);
  assert.ok(exp.finished);
  assert.deepEqual(sent[0], {
    url: "/api/sets/3/export?format=mask&downsample=16", method: "POST",
    headers: { "Content-Type": "application/json" }, body: "{}",
  });
  assert.deepEqual(sent.slice(1).map((s) => [s.method, s.url]), [["GET", URLS.self], ["GET", URLS.self]]);
  assert.deepEqual(waits, [1000, 1000]);
});

test("a refused export is an error with the server's message, and nothing is polled", async () => {
  const { sent, request } = scripted([
    { status: 413, body: { error: "mask too costly: 1,000,000 vertices x 2,560 output rows", status: 413, details: [] } },
  ]);
  const exp = new MaskExport({ request, sleep: async () => {} });
  await exp.run("/api/sets/3/export", { downsample: 1 });
  assert.equal(exp.state, "error");
  assert.match(exp.error, /too costly/);
  assert.equal(exp.resultUrl, null);
  assert.equal(sent.length, 1);
});

test("cancel is POSTed (as JSON) before the next poll, and ends the export", async () => {
  let exp;
  const { sent, request } = scripted([
    { status: 202, body: job("running", { percent: 5 }) },
    { status: 200, body: job("cancelled", { error: "cancelled by request" }) },
  ]);
  exp = new MaskExport({ request, sleep: async () => { exp.cancel(); } });
  await exp.run("/api/sets/3/export", { downsample: 2 });
  assert.equal(exp.state, "cancelled");
  assert.equal(exp.resultUrl, null);
  assert.deepEqual(sent[1], { url: URLS.cancel, method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
  assert.equal(sent.length, 2);
});

test("a job that fails, a lost job and a network error all end the loop", async () => {
  for (const [replies, state, message] of [
    [[{ status: 202, body: job("running") }, { status: 200, body: job("failed", { error: "interrupted" }) }], "failed", null],
    [[{ status: 202, body: job("queued") }, { status: 404, body: { error: "no such job (it may have expired)" } }], "error", /no such job/],
    [[{ status: 202, body: job("queued") }, new Error("connection reset")], "error", /network error: connection reset/],
    [[new Error("offline")], "error", /network error: offline/],
  ]) {
    const { request } = scripted(replies);
    const exp = new MaskExport({ request, sleep: async () => {} });
    await exp.run("/api/sets/1/export", {});
    assert.equal(exp.state, state);
    if (message) {
      assert.match(exp.error, message);
    }
    assert.ok(exp.finished);
  }
});
