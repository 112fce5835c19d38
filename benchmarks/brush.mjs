// The brush's speed (issue 13: one 100-point stroke added to / cut from a 10,000-vertex polygon in
// <= 16 ms of script time): static/js/editor/brush.js (clipper2-ts) in node, on the "big" fixture
// of tests/data/brush (a 10,000-vertex blob, a 100-point wavy stroke 120 px wide across its edge).
//
// Run: node benchmarks/brush.mjs [--repeats 50] [--tolerance 0.25]   (a quick check: --repeats 3)
// Printed per mode: median, p95 and max ms of one brushShape + annotationRings call (offset +
// boolean + mapping back + simplification + rings) after 5 warm-up calls, the first of which is
// timed too (the JIT's cost); the vertex count after; the load average (the figures mean little
// on a loaded machine).
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { annotationRings, brushShape } from "../static/js/editor/brush.js";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const repeats = option("repeats", 50);
const fixture = JSON.parse(readFileSync(new URL("../tests/data/brush/big.json", import.meta.url)));
const tolerance = option("tolerance", fixture.tolerance);

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

console.log(`polygon ${fixture.outer.length} vertices, stroke ${fixture.stroke.length} points, `
  + `width ${fixture.width} px, tolerance ${tolerance} px, ${repeats} repeats`);
for (const mode of ["add", "cut"]) {
  const run = () => {
    const pieces = brushShape({ outer: fixture.outer }, fixture.stroke, fixture.width, mode, { tolerance });
    annotationRings(pieces);
    return pieces;
  };
  const t0 = performance.now();
  run();
  const first = performance.now() - t0; // the add's is the page's first stroke: clipper not compiled yet
  for (let i = 0; i < 4; i++) {
    run();
  }
  const times = [];
  let pieces = null;
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    pieces = run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const ms = (v) => v.toFixed(2);
  console.log(`${mode}: median ${ms(quantile(times, 0.5))} ms, p95 ${ms(quantile(times, 0.95))} ms, `
    + `max ${ms(times[times.length - 1])} ms, first call ${ms(first)} ms; result ${pieces.map((p) => p.outer.length).join(" + ")} vertices; `
    + `target 16 ms: ${quantile(times, 0.95) <= 16 ? "PASS" : "FAIL"} (p95)`);
}
console.log(`load average ${loadavg().map((v) => v.toFixed(2)).join(" ")} on ${cpus().length} CPUs`);
