import test from "node:test";
import assert from "node:assert/strict";
import { choicesFor, describeVersion, featureShape, unionBox } from "../../static/js/editor/conflict-dialog.js";

const poly = (name, x, version) => ({
  type: "Feature", id: 5, geometry: { type: "Polygon", coordinates: [[[x, 0], [x + 10, 0], [x + 10, 20], [x, 0]]] },
  properties: { name, version, asap: { type: "Polygon", group: "Tumor", color: "#f00" } },
});

test("features become shapes to draw: rings closed, dots as dots, splines closed", () => {
  assert.deepEqual(featureShape(poly("a", 0, 1)).closed, true);
  assert.deepEqual(featureShape({ geometry: { type: "Point", coordinates: [3, 4] }, properties: {} }),
    { closed: false, dots: true, points: [[3, 4]] });
  const spline = { geometry: { type: "LineString", coordinates: [[0, 0], [1, 1]] }, properties: { asap: { type: "Spline" } } };
  assert.equal(featureShape(spline).closed, true);
  const ruler = { geometry: { type: "LineString", coordinates: [[0, 0], [1, 1]] }, properties: { asap: { type: "Measurement" } } };
  assert.equal(featureShape(ruler).closed, false);
  assert.equal(featureShape(null), null);
});

test("the view frames both versions", () => {
  assert.deepEqual(unionBox([poly("a", 0, 1), poly("b", 100, 2)]), { x0: 0, y0: 0, x1: 110, y1: 20 });
  assert.equal(unionBox([]), null);
});

test("each version is described, a deleted one says so", () => {
  assert.equal(describeVersion(poly("Tumor 3", 0, 7)), "“Tumor 3”, Polygon, 3 points, group Tumor, version 7");
  assert.equal(describeVersion(null, "deleted on the server"), "deleted on the server");
});

test("the choices follow what each side did", () => {
  const update = { kind: "update" };
  assert.deepEqual(choicesFor(update, poly("t", 0, 2)).map((c) => c.choice), ["mine", "theirs", "both"]);
  assert.deepEqual(choicesFor(update, null).map((c) => c.choice), ["mine", "theirs"]);
  assert.deepEqual(choicesFor({ kind: "delete" }, poly("t", 0, 2)).map((c) => c.label), ["Delete it anyway", "Take theirs"]);
});
