// The overlay stage's raster cache: which frames are shown from the cached texture (and how), and
// which render it again.
import test from "node:test";
import assert from "node:assert/strict";
import {
  AHEAD_MAX, MARGIN_SHARE, UNCOVERED_MS, ZOOM_RENDER_MS, blitPlan, cacheFrame, cssMatrix, isTranslationOf, planBlit,
} from "../../static/js/layers/raster-cache.js";
import { applyAffine, invertAffine } from "../../static/js/layers/view.js";

/** A stage frame: zoom z (device px per slide px, dpr 1), slide point (sx, sy) at device (0, 0). */
function frame(z, sx, sy, { width = 1000, height = 600, rotation = 0 } = {}) {
  const r = (rotation * Math.PI) / 180;
  const c = Math.cos(r) * z, s = Math.sin(r) * z;
  const slideToDevice = { a: c, b: s, c: -s, d: c, e: -(c * sx - s * sy), f: -(s * sx + c * sy) };
  return {
    slideToDevice, deviceToSlide: invertAffine(slideToDevice), slideToElement: slideToDevice,
    elementToSlide: invertAffine(slideToDevice), zoom: z, width, height, cssWidth: width, cssHeight: height,
    dpr: 1, flip: false, rotation, time: 0,
  };
}

test("the cache covers the view plus a margin on the view's pixel grid, and keeps the view for fetching", () => {
  const f = frame(0.5, 1000.3, 2000.7);
  const cf = cacheFrame(f);
  const [mx, my] = [Math.round(1000 * MARGIN_SHARE), Math.round(600 * MARGIN_SHARE)];
  assert.deepEqual([cf.width, cf.height, cf.cached, cf.view], [1000 + 2 * mx, 600 + 2 * my, true, f]);
  // a slide point lands on the cache texture exactly (mx, my) device px from where the view draws it
  const p = { x: 1234.5, y: 2345.25 };
  const a = applyAffine(f.slideToDevice, p), b = applyAffine(cf.slideToDevice, p);
  assert.ok(Math.abs(b.x - a.x - mx) < 1e-9 && Math.abs(b.y - a.y - my) < 1e-9);
  // the element box the layers see grows the same way (CSS px)
  assert.equal(cf.cssWidth, cf.width);
  // straight after a render the view is an exact copy at an integer offset
  assert.deepEqual(planBlit(cf, f, { moving: false, now: 0, since: 0 }),
    { m: { a: 1, b: 0, c: 0, d: 1, e: -mx, f: -my }, exact: true });
});

test("panning: whole device pixels are exact copies; fractions only while moving; leaving the margin renders", () => {
  const f = frame(0.5, 1000, 2000);
  const cf = cacheFrame(f);
  const rest = { moving: false, now: 10, since: 0 };
  const moving = { moving: true, now: 10, since: 0 };
  const by = (dx, dy) => frame(0.5, 1000 + dx / 0.5, 2000 + dy / 0.5); // pan by device px
  const [mx, my] = [Math.round(1000 * MARGIN_SHARE), Math.round(600 * MARGIN_SHARE)];
  const whole = planBlit(cf, by(100, -40), rest);
  assert.equal(whole.exact, true);
  assert.equal(whole.m.e, -mx - 100);
  assert.equal(whole.m.f, -my + 40);
  assert.equal(planBlit(cf, by(100.4, 0), rest), null); // at rest: render the exact pixels
  const sliding = planBlit(cf, by(100.4, 0), moving);
  assert.equal(sliding.exact, false);
  assert.ok(Math.abs(sliding.m.e + mx + 100.4) < 1e-6);
  assert.ok(planBlit(cf, by(mx, 0), moving));
  assert.equal(planBlit(cf, by(mx + 1, 0), moving), null); // past the margin
  assert.equal(planBlit(cf, by(0, -my - 1), moving), null);
  assert.equal(planBlit(null, f, rest), null);
  assert.equal(planBlit(cf, { ...f, dpr: 2 }, rest), null);
});

test("a pan animation renders on its target's grid, grown to hold where it is now, and ends exact", () => {
  const now = frame(0.5, 1000.37, 2000);
  const target = frame(0.5, 1000.37 + 900.2, 2000 - 30.1); // 450.1 device px right, 15.05 up
  assert.ok(isTranslationOf(target, now));
  assert.ok(!isTranslationOf(frame(0.6, 1000, 2000), now));
  assert.ok(!isTranslationOf(frame(0.5, 1000, 2000, { rotation: 10 }), now));
  const cf = cacheFrame(target, MARGIN_SHARE, now);
  assert.equal(cf.view, now);
  const mid = frame(0.5, 1000.37 + 450, 2000 - 15);
  for (const f of [now, mid]) {
    const plan = planBlit(cf, f, { moving: true, now: 0, since: 0 });
    assert.ok(plan && !plan.exact, "the pan's frames are copies");
  }
  const end = planBlit(cf, target, { moving: false, now: 0, since: 0 });
  assert.ok(end && end.exact, "it ends on an exact copy, no render");
});

test("zooming shows the scaled texture for a while, then renders; at rest a changed zoom renders", () => {
  const f = frame(0.5, 1000, 2000);
  const cf = cacheFrame(f);
  const zoomedIn = frame(0.6, 1100, 2100);
  const plan = planBlit(cf, zoomedIn, { moving: true, now: 100, since: 0 });
  assert.ok(plan && !plan.exact && Math.abs(plan.m.a - 1.2) < 1e-9);
  assert.equal(planBlit(cf, zoomedIn, { moving: true, now: ZOOM_RENDER_MS + 1, since: 0 }), null);
  assert.equal(planBlit(cf, zoomedIn, { moving: false, now: 100, since: 0 }), null);
  // zooming out far enough to show the canvas's edge renders, but not every frame
  const out = frame(0.2, 0, 0);
  assert.equal(planBlit(cf, out, { moving: true, now: UNCOVERED_MS + 1, since: 0 }), null);
  assert.ok(planBlit(cf, out, { moving: true, now: UNCOVERED_MS - 1, since: 0 }));
  assert.equal(planBlit(cf, frame(0.5, 1000, 2000, { rotation: 30 }), { moving: false, now: 0, since: 0 }), null);
});

test("the canvas is placed by a CSS matrix in CSS px", () => {
  assert.equal(cssMatrix({ a: 1, b: 0, c: 0, d: 1, e: -320, f: -176 }, 2), "matrix(1, 0, 0, 1, -160, -88)");
  assert.equal(cssMatrix({ a: 1.5, b: 0, c: 0, d: 1.5, e: 10, f: 20 }, 1), "matrix(1.5, 0, 0, 1.5, 10, 20)");
});

test("a render's reason: settle, margin, zoom at rest, zoom too long, the edge uncovered, no cache", () => {
  const f = frame(0.5, 1000, 2000);
  const cf = cacheFrame(f);
  const why = (g, state) => blitPlan(cf, g, state).reason;
  assert.equal(why(frame(0.5, 1000.3, 2000), { moving: false, now: 10, since: 0 }), "settle");
  assert.equal(why(frame(0.5, 1000 + 1000, 2000), { moving: true, now: 10, since: 0 }), "margin");
  assert.equal(why(frame(0.6, 1000, 2000), { moving: false, now: 10, since: 0 }), "zoom-rest");
  assert.equal(why(frame(0.6, 1000, 2000), { moving: true, now: ZOOM_RENDER_MS + 1, since: 0 }), "zoom-age");
  assert.equal(why(frame(0.2, 0, 0), { moving: true, now: UNCOVERED_MS + 1, since: 0 }), "zoom-edge");
  assert.equal(blitPlan(null, f, { moving: false, now: 0, since: 0 }).reason, "none");
  const kept = blitPlan(cf, frame(0.5, 1010, 2000), { moving: false, now: 10, since: 0 });
  assert.deepEqual([kept.reason, kept.plan.exact], [null, true]);
});

test("a pan's render holds the pan continued as far again: pans of 0.4 views there and back need no more", () => {
  const W = 1000;
  const start = frame(0.5, 0, 0);
  const at = (views) => frame(0.5, (views * W) / 0.5, 0); // the view moved right by `views` widths
  const cf = cacheFrame(at(0.4), MARGIN_SHARE, at(0.3), { from: start }); // left the margin mid-pan, at 0.3
  const [mx, my] = [Math.round(W * MARGIN_SHARE), Math.round(600 * MARGIN_SHARE)];
  assert.deepEqual(cf.margin, [0.4 * W, my, mx + 0.4 * W, my], "holds where the pan started, and as far ahead");
  for (const views of [0.8, 0.4, 0]) {
    assert.ok(planBlit(cf, at(views), { moving: false, now: 10, since: 0 })?.exact, `at ${views}`);
  }
  assert.equal(planBlit(cacheFrame(at(0.4), MARGIN_SHARE, start), at(0.8), { moving: true, now: 10, since: 0 }), null,
    "without it the next pan leaves the cache");
  // a render at rest for new tiles keeps that area (the view now at 0.4 + 3 px)
  const again = cacheFrame(at(0.4 + 0.003), MARGIN_SHARE, null, { keep: cf });
  assert.deepEqual(again.margin, [0.4 * W + 3, my, mx + 0.4 * W - 3, my]);
  assert.deepEqual(cacheFrame(frame(0.6, 0, 0), MARGIN_SHARE, null, { keep: cf }).margin, [mx, my, mx, my],
    "another zoom: nothing kept");
  // a longer pan (beyond AHEAD_MAX views) only holds its rest; the other axis keeps its margin
  const far = cacheFrame(at(AHEAD_MAX + 0.8), MARGIN_SHARE, at(AHEAD_MAX + 0.6), { from: start });
  assert.deepEqual(far.margin, [0.2 * W, my, mx, my]);
});
