import test from "node:test";
import assert from "node:assert/strict";
import {
  filterSlides, formatDimensions, formatPhysicalSize, formatResolution, groupByFolder, isPending, listingShape,
  sortSlides,
} from "../../static/js/library-model.js";

const slides = [
  { id: "b/x10.svs", name: "x10.svs", folder: "b", width: 100, height: 100, mpp_x: 0.25, mpp_y: 0.25, vendor: "aperio", annotation_count: 3 },
  { id: "b/x9.svs", name: "x9.svs", folder: "b", width: 4000, height: 3000, mpp_x: 0.5, mpp_y: 0.5, vendor: "aperio" },
  { id: "a/IHC.tiff", name: "IHC.tiff", folder: "a", width: 50, height: 50, mpp_x: null, mpp_y: null, vendor: "generic-tiff", objective_power: 40, annotation_count: 0 },
  { id: "top.mrxs", name: "top.mrxs", folder: "", width: 0, height: 0, mpp_x: null, vendor: null, error: "unreadable: not a slide" },
];

test("filter matches every word across name, folder, vendor and error", () => {
  assert.deepEqual(filterSlides(slides, "").map((s) => s.id), slides.map((s) => s.id));
  assert.deepEqual(filterSlides(slides, "APERIO x9").map((s) => s.id), ["b/x9.svs"]);
  assert.deepEqual(filterSlides(slides, "unreadable").map((s) => s.id), ["top.mrxs"]);
  assert.deepEqual(filterSlides(slides, "nothing-like-this"), []);
});

test("sorting is natural, stable, and keeps unknown values last", () => {
  assert.deepEqual(sortSlides(slides, "name").map((s) => s.name), ["IHC.tiff", "top.mrxs", "x9.svs", "x10.svs"]);
  assert.deepEqual(sortSlides(slides, "size", "desc").map((s) => s.name), ["x9.svs", "x10.svs", "IHC.tiff", "top.mrxs"]);
  assert.deepEqual(sortSlides(slides, "mpp").map((s) => s.name), ["x10.svs", "x9.svs", "IHC.tiff", "top.mrxs"]);
  assert.deepEqual(sortSlides(slides, "annotations", "desc").map((s) => s.name).slice(0, 2), ["x10.svs", "IHC.tiff"]);
  assert.notEqual(sortSlides(slides, "name"), slides); // a copy
});

test("groups by folder, root first, order kept inside", () => {
  const groups = groupByFolder(sortSlides(slides, "name"));
  assert.deepEqual(groups.map((g) => g.folder), ["", "a", "b"]);
  assert.deepEqual(groups[2].slides.map((s) => s.name), ["x9.svs", "x10.svs"]);
});

test("formatting", () => {
  assert.equal(formatDimensions(slides[1]), "4,000 × 3,000 px");
  assert.equal(formatDimensions(slides[3]), "–");
  assert.equal(formatPhysicalSize(slides[1]), "2 mm × 1.5 mm");
  assert.equal(formatPhysicalSize(slides[2]), "");
  assert.equal(formatResolution(slides[0]), "40× · 0.25 µm/px");
  assert.equal(formatResolution(slides[2]), "40× (nominal, no mpp)");
  assert.equal(formatResolution(slides[3]), "unknown");
});

const preparing = {
  id: "tumor_demo.tif", name: "tumor_demo.tif", folder: "", width: 61440, height: 40960, mpp_x: 0.243, mpp_y: 0.243,
  vendor: null, status: "preparing", urls: { viewer: "/view/tumor_demo.tif" },
  progress: { stage: "tiles", message: "writing level 0 of 7 (61,440 × 40,960 px): 3,200 of 9,600 tiles", percent: 41.5, eta_seconds: 75 },
};

test("a slide being prepared or failed is pending; a ready or unreadable one is not", () => {
  assert.equal(isPending(preparing), true);
  assert.equal(isPending({ ...preparing, status: "failed", error: "stopped" }), true);
  assert.equal(isPending(slides[0]), false);
  assert.equal(isPending(slides[3]), false); // unreadable: listed with its error, not pending
});

test("the listing's shape changes when a slide becomes ready, not when its progress moves", () => {
  const before = listingShape([...slides, preparing]);
  const moved = { ...preparing, progress: { ...preparing.progress, percent: 80 } };
  assert.equal(listingShape([moved, ...slides]), before); // order and progress do not count
  const { status: _status, progress: _progress, ...ready } = preparing;
  assert.notEqual(listingShape([...slides, ready]), before);
  assert.notEqual(listingShape(slides), before);
});

test("a slide being prepared sorts and filters by what is known of it", () => {
  assert.deepEqual(sortSlides([...slides, preparing], "size", "desc").map((s) => s.id)[0], "tumor_demo.tif");
  assert.deepEqual(filterSlides([...slides, preparing], "tumor").map((s) => s.id), ["tumor_demo.tif"]);
  assert.equal(formatDimensions(preparing), "61,440 × 40,960 px");
});
