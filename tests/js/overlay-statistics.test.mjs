import test from "node:test";
import assert from "node:assert/strict";
import {
  OverlayStatistics, formatStatistic, statisticsOverlay, statisticsText, statisticsUrl,
} from "../../static/js/overlay-statistics.js";

const heat = (id, name = id) => ({ id, name, kind: "heatmap", urls: { statistics: `/api/overlays/${id}/statistics` } });

test("the slide's first heatmap is the one the list shows (label maps and slides without overlays: none)", () => {
  const labels = { ...heat("lab"), kind: "labels" };
  assert.equal(statisticsOverlay({ overlays: [labels, heat("a"), heat("b")] }).id, "a");
  assert.equal(statisticsOverlay({ overlays: [labels] }), null);
  assert.equal(statisticsOverlay({ overlays: [] }), null);
  assert.equal(statisticsOverlay({}), null);
  assert.equal(statisticsOverlay(null), null);
  assert.equal(statisticsUrl(heat("a"), 12), "/api/overlays/a/statistics?set=12");
});

test("values: 3 significant digits, exponents only when tiny or huge; no text without cells", () => {
  assert.equal(formatStatistic(0.98), "0.98");
  assert.equal(formatStatistic(0.98765), "0.988");
  assert.equal(formatStatistic(0.5), "0.5");
  assert.equal(formatStatistic(0), "0");
  assert.equal(formatStatistic(1234), "1230");
  assert.equal(formatStatistic(0.0001234), "1.23e-4");
  assert.equal(formatStatistic(2e7), "2e+7");
  assert.equal(formatStatistic(Number.NaN), "–");
  assert.equal(statisticsText({ max: 0.987, mean: 0.8123, cells: 40 }, "likelihood"), "likelihood max 0.987 · mean 0.812");
  assert.equal(statisticsText({ max: null, mean: null, cells: 0 }, "likelihood"), null);
  assert.equal(statisticsText(null, "likelihood"), null);
});

test("one fetch per set version; a late answer for an older version is dropped", async () => {
  const asked = [];
  const answers = [];
  const fetchJson = (url) => {
    asked.push(url);
    return new Promise((resolve) => answers.push(resolve));
  };
  const stats = new OverlayStatistics(heat("a", "likelihood"), fetchJson);
  const first = stats.load(3, 1);
  answers[0]({ overlay: "a", set: 3, set_version: 1, annotations: { 7: { max: 0.9, mean: 0.6, cells: 12 } } });
  assert.equal(await first, true);
  assert.deepEqual(asked, ["/api/overlays/a/statistics?set=3"]);
  assert.equal(stats.text(3, 7), "likelihood max 0.9 · mean 0.6");
  assert.equal(stats.text(3, 8), null);
  assert.equal(stats.text(4, 7), null);
  assert.equal(await stats.load(3, 1), false); // held: no request
  assert.equal(asked.length, 1);
  // two loads in flight (versions 2 and 3): the answer for 3 arrives first and stays
  const two = stats.load(3, 2);
  const three = stats.load(3, 3);
  answers[2]({ set_version: 3, annotations: { 7: { max: 1, mean: 0.7, cells: 12 } } });
  answers[1]({ set_version: 2, annotations: { 7: { max: 0.95, mean: 0.65, cells: 12 } } });
  assert.equal(await three, true);
  assert.equal(await two, false);
  assert.equal(stats.text(3, 7), "likelihood max 1 · mean 0.7");
  assert.deepEqual(stats.get(3, 7), { max: 1, mean: 0.7, cells: 12 });
});
