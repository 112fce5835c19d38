// The selection's properties: ASAP hex colours, set-properties ops only where a value changes,
// the groups a multi-set selection can take; ops applied to a real EditDocument and undone.
import test from "node:test";
import assert from "node:assert/strict";
import { EditDocument, makeEntry, makeFeature, propertiesOf } from "../../static/js/editor/document.js";
import { asapHex, commonGroups, propertyOps } from "../../static/js/editor/properties.js";

const entry = (localId, setId, props) => makeEntry({ localId, setId, feature: makeFeature({ type: "Polygon", ...props }, [[0, 0], [10, 0], [10, 10]]) });

test("colours are written as ASAP does: #RRGGBB upper case", () => {
  assert.equal(asapHex("#f4fa58"), "#F4FA58");
  assert.equal(asapHex("00ff00"), "#00FF00");
  for (const bad of ["#fff", "red", "", null, "#12345g"]) {
    assert.equal(asapHex(bad), null, String(bad));
  }
  assert.throws(() => propertyOps([entry("a", 1, {})], "color", "red"), RangeError);
});

test("ops only for what changes; applying and undoing them restores each entry", () => {
  const doc = new EditDocument();
  const a = entry("a", 1, { name: "one", group: "Tumor", color: "#FF0000" });
  const b = entry("b", 1, { name: "two", group: null, color: "#00FF00" });
  doc.put(a);
  doc.put(b);
  const ops = propertyOps([doc.get("a"), doc.get("b")], "group", "Tumor");
  assert.deepEqual(ops, [{ kind: "set-properties", localId: "b", properties: { group: "Tumor" } }]);
  assert.deepEqual(propertyOps([doc.get("a")], "group", ""), [{ kind: "set-properties", localId: "a", properties: { group: null } }], "'' = no group");
  const colour = propertyOps([doc.get("a"), doc.get("b")], "color", "#0000ff");
  assert.equal(colour.length, 2);
  assert.equal(colour[0].properties.color, "#0000FF");
  const inverses = [...ops, ...colour].map((op) => doc.apply(op).inverse);
  assert.deepEqual(propertiesOf(doc.get("b").feature), { name: "two", type: "Polygon", group: "Tumor", color: "#0000FF", comment: "" });
  inverses.reverse().forEach((op) => doc.apply(op));
  assert.deepEqual(propertiesOf(doc.get("a").feature).color, "#FF0000");
  assert.deepEqual(propertiesOf(doc.get("b").feature), { name: "two", type: "Polygon", group: null, color: "#00FF00", comment: "" });
  assert.deepEqual(propertyOps([doc.get("a")], "name", "one"), [], "same name: nothing");
  assert.deepEqual(propertyOps([doc.get("a")], "name", "renamed")[0].properties, { name: "renamed" });
});

test("a selection across sets can take the groups all its sets have", () => {
  const groups = { 1: ["Tumor", "Stroma", "Other"], 2: ["Other", "Tumor"] };
  const es = [entry("a", 1, {}), entry("b", 2, {})];
  assert.deepEqual(commonGroups(es, (s) => groups[s]), ["Tumor", "Other"]);
  assert.deepEqual(commonGroups([es[0]], (s) => groups[s]), ["Tumor", "Stroma", "Other"]);
  assert.deepEqual(commonGroups([], (s) => groups[s]), []);
});
