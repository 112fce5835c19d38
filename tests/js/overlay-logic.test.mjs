// Pure logic of the value overlays (issue 14): colormaps, the tile encodings, display style,
// URL state, and which value tiles a view needs.
import test from "node:test";
import assert from "node:assert/strict";
import { CATEGORICAL, COLORMAPS, colormapLut, lutCss, parseHex } from "../../static/js/overlays/colormaps.js";
import {
  codeToValue, colorize, decodeCodes, formatValue, lutIndex, maxCode, pixelCode, styleOf, valueDecimals, valueToCode,
} from "../../static/js/overlays/value-codec.js";
import {
  decodeEntry, decodeOverlayState, defaultSettings, encodeEntry, encodeOverlayState,
} from "../../static/js/overlays/overlay-state.js";
import {
  TileCache, coreBox, downsampleOf, finestLevel, levelFor, levelSize, planView, tileGrid, tileOrigin, tileUrl, tilesOver,
} from "../../static/js/overlays/overlay-tiles.js";

const rgbaAt = (lut, i) => [...lut.slice(i * 4, i * 4 + 4)];

test("colormaps: 256 RGBA entries with matplotlib's ends, jet's blue-cyan-yellow-red, labels' transparent 0", () => {
  for (const name of COLORMAPS) {
    const lut = colormapLut(name);
    assert.equal(lut.length, 1024, name);
  }
  assert.deepEqual(rgbaAt(colormapLut("viridis"), 0), [0x44, 0x01, 0x54, 255]);
  assert.deepEqual(rgbaAt(colormapLut("viridis"), 255), [0xfd, 0xe7, 0x25, 255]);
  assert.deepEqual(rgbaAt(colormapLut("magma"), 0), [0, 0, 4, 255]);
  assert.deepEqual(rgbaAt(colormapLut("magma"), 255), [0xfc, 0xfd, 0xbf, 255]);
  // viridis' middle is teal (green and blue over red), magma's is pink-red
  const [vr, vg, vb] = rgbaAt(colormapLut("viridis"), 128);
  assert.ok(vg > vr && vb > vr, "viridis middle");
  const [mr, mg, mb] = rgbaAt(colormapLut("magma"), 128);
  assert.ok(mr > mg && mr > mb, "magma middle");
  const jet = colormapLut("jet");
  assert.deepEqual(rgbaAt(jet, 0), [0, 0, 128, 255]); // dark blue
  assert.deepEqual(rgbaAt(jet, 255), [128, 0, 0, 255]); // dark red
  const [jr, jg, jb] = rgbaAt(jet, 128); // the middle is green-ish: G highest
  assert.ok(jg === 255 && jr > 100 && jb > 100 && jr < 255, `jet middle ${jr},${jg},${jb}`);
  assert.deepEqual(rgbaAt(colormapLut("grey"), 255), [255, 255, 255, 255]);
  const labels = colormapLut("labels");
  assert.equal(labels[3], 0, "class 0 is not drawn");
  assert.deepEqual(rgbaAt(labels, 1).slice(0, 3), parseHex(CATEGORICAL[0]));
  const own = colormapLut("labels", [{ value: 2, name: "tumour", color: "#ff0000" }]);
  assert.deepEqual(rgbaAt(own, 2), [255, 0, 0, 255]);
  assert.equal(colormapLut("nonsense"), colormapLut("magma"));
  assert.equal(lutCss(colormapLut("grey"), 1), "rgba(255, 255, 255, 1.000)");
  assert.equal(parseHex("red"), null);
});

test("value codec: u8 (LA) and u16 (R high, G low) codes, nodata, value <-> code", () => {
  const u8 = { encoding: "u8", value_range: { min: 0, max: 255 }, kind: "heatmap" };
  const u16 = { encoding: "u16", value_range: { min: 0, max: 1 }, kind: "heatmap" };
  assert.equal(maxCode("u8"), 255);
  assert.equal(maxCode("u16"), 65535);
  assert.equal(pixelCode("u8", 200, 200, 255), 200);
  assert.equal(pixelCode("u16", 0xab, 0xcd, 255), 0xabcd);
  assert.equal(pixelCode("u16", 0xab, 0xcd, 0), -1);
  const codes = decodeCodes("u16", new Uint8ClampedArray([255, 255, 0, 255, 1, 2, 0, 255, 9, 9, 0, 0]));
  assert.deepEqual([...codes], [65535, 258, -1]);
  assert.equal(codeToValue(65535, u16), 1);
  assert.equal(codeToValue(-1, u16), null);
  assert.equal(codeToValue(128, u8), 128);
  assert.equal(valueToCode(0.995, u16), Math.round(0.995 * 65535));
  assert.equal(valueToCode(2, u16), 65535);
  // 16 bits resolve a 0.99x cut-off: 0.991 and 0.992 are different codes (8 bits could not)
  assert.notEqual(valueToCode(0.991, u16), valueToCode(0.992, u16));
  assert.equal(valueDecimals(u8), 0);
  assert.equal(valueDecimals(u16), 5);
  assert.equal(formatValue(0.5, u16), "0.50000");
  assert.equal(formatValue(null, u16), "–");
});

test("style: threshold below -> not drawn, display range -> LUT index, labels by class id, CPU colours", () => {
  const desc = { encoding: "u8", value_range: { min: 0, max: 255 }, kind: "heatmap" };
  const settings = { ...defaultSettings(desc), threshold: 100, min: 50, max: 150, opacity: 0.5 };
  const style = styleOf(desc, settings);
  assert.equal(lutIndex(99, style), -1);
  assert.equal(lutIndex(100, style), Math.round(0.5 * 255));
  assert.equal(lutIndex(150, style), 255);
  assert.equal(lutIndex(250, style), 255); // clamped above the range
  const lut = colormapLut("grey");
  const out = new Uint8ClampedArray(12);
  colorize(Int32Array.from([99, 150, -1]), out, lut, style);
  assert.deepEqual([...out], [0, 0, 0, 0, 255, 255, 255, 128, 0, 0, 0, 0]);
  const labels = { encoding: "u8", value_range: { min: 0, max: 255 }, kind: "labels" };
  const ls = styleOf(labels, defaultSettings(labels));
  assert.equal(lutIndex(3, ls), 3);
  assert.equal(ls.threshold, -Infinity);
});

test("URL state: defaults write nothing; settings and order survive a round trip; junk is ignored", () => {
  const a = { id: "lm-0123456789", kind: "heatmap", value_range: { min: 0, max: 255 } };
  const b = { id: "abcdef012345", kind: "heatmap", value_range: { min: 0, max: 1 } };
  const descs = [a, b];
  const entries = decodeOverlayState(descs, "");
  assert.deepEqual(entries.map((e) => e.desc.id), [a.id, b.id]);
  assert.deepEqual(entries[0].settings, { visible: true, colormap: "jet", min: 0, max: 255, threshold: 127.5, opacity: 0.5, smooth: false });
  assert.equal(encodeOverlayState(entries, descs).toString(), "");
  const changed = [
    { desc: b, settings: { ...defaultSettings(b), colormap: "viridis", threshold: 0.995, smooth: true } },
    { desc: a, settings: { ...defaultSettings(a), visible: false, opacity: 0.25 } },
  ];
  const params = encodeOverlayState(changed, descs, new URLSearchParams("x=5"), "l");
  assert.equal(params.get("x"), "5");
  assert.deepEqual(params.getAll("lov"), ["abcdef012345:1:viridis:0:1:0.995:0.5:s", "lm-0123456789:0:jet:0:255:127.5:0.25:n"]);
  const back = decodeOverlayState(descs, params, "l");
  assert.deepEqual(back, changed);
  assert.deepEqual(decodeOverlayState(descs, params, "r").map((e) => e.desc.id), [a.id, b.id]);
  // unknown id, bad fields, duplicate
  const junk = new URLSearchParams();
  junk.append("ov", "NOT VALID:1");
  junk.append("ov", "zzz:1:jet");
  junk.append("ov", `${a.id}:x:plasma:abc:300:1e999:7:q`);
  junk.append("ov", `${a.id}:0`);
  const j = decodeOverlayState(descs, junk);
  assert.deepEqual(j[0].settings, { ...defaultSettings(a), max: 300, opacity: 1 });
  assert.equal(decodeEntry("Bad:1"), null);
  assert.equal(encodeEntry("x", { ...defaultSettings(a), threshold: 1 / 3 }), "x:1:jet:0:255:0.3333333:0.5:n");
  // min > max is swapped, not kept
  const swapped = decodeOverlayState([a], `ov=${a.id}:1:grey:200:100:150:0.5:n`);
  assert.equal(swapped[0].settings.min, 100);
  assert.equal(swapped[0].settings.max, 200);
});

// a 2220 × 2967 slide (CMU-1-Small-Region), 254 px tiles, overlap 1: 13 levels (0..12)
const DZ = { width: 2220, height: 2967, tile_size: 254, overlap: 1, level_count: 13 };

test("tile grid: the slide's own Deep Zoom levels, origins with overlap, cores clipped to the image", () => {
  assert.equal(downsampleOf(DZ, 12), 1);
  assert.equal(downsampleOf(DZ, 8), 16);
  assert.deepEqual(levelSize(DZ, 8), { width: 139, height: 186 });
  assert.deepEqual(tileGrid(DZ, 12), { cols: 9, rows: 12 });
  assert.deepEqual(tileOrigin(DZ, 0, 0), { x: 0, y: 0 });
  assert.deepEqual(tileOrigin(DZ, 2, 1), { x: 507, y: 253 });
  assert.deepEqual(coreBox(DZ, { level: 12, col: 8, row: 0 }), { x0: 2032, y0: 0, x1: 2220, y1: 254 });
  assert.deepEqual(coreBox(DZ, { level: 11, col: 1, row: 1 }), { x0: 508, y0: 508, x1: 1016, y1: 1016 });
  assert.equal(tileUrl("/overlays/a_files/{level}/{col}_{row}.png?v=3", { level: 4, col: 1, row: 2 }), "/overlays/a_files/4/1_2.png?v=3");
});

test("level for a zoom: no DZ px larger than a device px, never past the native level", () => {
  assert.equal(levelFor(DZ, 12, 1), 12);
  assert.equal(levelFor(DZ, 12, 0.5), 11);
  assert.equal(levelFor(DZ, 12, 0.3), 11); // d = 4 would make a DZ px 1.2 device px, d = 2 makes it 0.6
  assert.equal(levelFor(DZ, 8, 2), 8); // a 1/16 map: level 8 at most, however far in
  assert.equal(levelFor(DZ, 12, 1e-6), 0);
});

test("finest level: native when cells meet DZ px edges there, else finer (bounds offsets, odd scales), at most 3 levels", () => {
  const dz = { width: 9728, height: 7168, tile_size: 254, overlap: 1, level_count: 15 }; // top 14: d = 1
  const desc = { native_level: 10, scale: 16, origin_x: 0, origin_y: 0 }; // d = 16 at level 10
  assert.equal(finestLevel(dz, desc, { x: 0, y: 0 }), 10);
  assert.equal(finestLevel(dz, desc, { x: 2656, y: 2096 }), 10); // multiples of 16
  assert.equal(finestLevel(dz, desc, { x: 2664, y: 2088 }), 11); // 8 px off a cell edge: d = 8
  assert.equal(finestLevel(dz, desc, { x: 2665, y: 2088 }), 13); // 1 px off: stops at d = 2 (scale / 8)
  assert.equal(finestLevel(dz, { native_level: 10, scale: 24 }, { x: 0, y: 0 }), 11); // 24 px cells: d = 8
  assert.equal(finestLevel(dz, { native_level: 14, scale: 1 }, { x: 3, y: 0 }), 14); // never past the top
});

test("plan: the view's tiles, coarser stand-ins for missing ones clipped to their area, fetch order", () => {
  const box = { x0: 300, y0: 300, x1: 700, y1: 600 }; // level 12: cols 1..2, rows 1..2
  const here = new Set(["12/1_1", "11/1_1", "10/0_0"]);
  const { draws, wanted } = planView(DZ, 12, box, (t) => here.has(`${t.level}/${t.col}_${t.row}`));
  assert.deepEqual(tilesOver(DZ, 12, box).map((t) => `${t.col}_${t.row}`), ["1_1", "2_1", "1_2", "2_2"]);
  assert.deepEqual(wanted.map((t) => `${t.col}_${t.row}`), ["2_1", "1_2", "2_2"]);
  // 2_1 -> level 11 tile 1_0 is not here, level 10 0_0 is; 1_2 -> 11/0_1 not here -> 10/0_0; 2_2 -> 11/1_1
  assert.deepEqual(draws.map((d) => `${d.tile.level}/${d.tile.col}_${d.tile.row}`), ["10/0_0", "10/0_0", "11/1_1", "12/1_1"]);
  assert.deepEqual(draws[0].box, coreBox(DZ, { level: 12, col: 2, row: 1 }));
});

test("tile cache: fetches a few at a time, replaces its queue, keeps the most recently used, retries failures later", async () => {
  const asked = [];
  const disposed = [];
  let fail = true;
  const loaded = [];
  const cache = new TileCache({
    template: "/t/{level}/{col}_{row}.png", maxTiles: 2, concurrency: 2,
    load: async (url) => {
      asked.push(url);
      if (url.endsWith("9_9.png") && fail) {
        throw new Error("503");
      }
      return url;
    },
    dispose: (v) => disposed.push(v),
    onLoad: (t) => loaded.push(t),
  });
  const t = (col) => ({ level: 1, col, row: 0 });
  cache.want([t(0), t(1), t(2)]);
  assert.equal(cache.inFlight.size, 2);
  cache.want([t(2)]); // the view moved: 0 and 1 are already on their way, only 2 is queued
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(asked, ["/t/1/0_0.png", "/t/1/1_0.png", "/t/1/2_0.png"]);
  assert.equal(cache.tiles.size, 2);
  assert.deepEqual(disposed, ["/t/1/0_0.png"]); // the oldest dropped
  assert.equal(cache.get(t(1)), "/t/1/1_0.png");
  assert.equal(cache.get(t(0)), null);
  cache.want([{ level: 1, col: 9, row: 9 }]);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(loaded.at(-1), null);
  cache.want([{ level: 1, col: 9, row: 9 }]); // failed just now: not asked again at once
  assert.equal(cache.busy(), false);
  fail = false;
  cache.want([{ level: 1, col: 9, row: 9 }], Date.now() + 60_000);
  await new Promise((r) => setTimeout(r, 10));
  assert.ok(cache.has({ level: 1, col: 9, row: 9 }));
  assert.equal(cache.requests, 5);
  cache.clear();
  assert.equal(cache.tiles.size, 0);
});
