"""The Chromium part of ``benchmarks/overlays.py``: time from an overlay control change to the
repainted frame, with a full screen of value tiles, and the tile requests the changes caused.

Debian's Chromium through Playwright, headless, software WebGL (``--disable-gpu``: SwiftShader).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tiles import Geometry, _pct

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
VIEWPORT = {"width": 1920, "height": 1080}

# Installed in the page once it shows its first viewport: finds the value-overlay layer on the
# viewer's overlay stage (static/js/overlays/overlay-layer.js), counts its draws (a wrapper around
# its draw, the only change to the page), and finds the overlay panel's controls for the overlay
# (static/js/overlays/overlays-panel.js: its section [data-overlay-id], the [data-control]s
# threshold and opacity (range inputs, "input" events) and colormap (a select, "change")).
# Returns a problem, or null.
PROBE_JS = """([id]) => {
  const pane = document.querySelector('[data-pane]');
  const stage = pane.wsi?.viewer?.stage;
  const layer = stage?.layers?.find((l) => typeof l.entry === 'function' && l.entry(id));
  if (!layer) return `no overlay layer drawing ${id} on the viewer's stage`;
  let draws = 0;
  const draw = layer.draw.bind(layer);
  layer.draw = (...args) => { const out = draw(...args); draws++; return out; };
  const scope = document.querySelector(`[data-overlay-id="${id}"]`);  // the overlay's panel section
  const pick = (name) => scope?.querySelector(`[data-control="${name}"]`);
  const controls = { threshold: pick('threshold'), opacity: pick('opacity'), colormap: pick('colormap') };
  const missing = Object.keys(controls).filter((k) => !controls[k]);
  const cmaps = controls.colormap ? Array.from(controls.colormap.options).map((o) => o.value)
    : ['magma', 'viridis', 'jet'];
  window.__overlayBench = {
    layer, draws: () => draws,
    path: missing.length ? `layer.update (no ${missing.join(', ')} control)` : "the panel's controls",
    // the i-th change: a new value, then the event the control sends when a user moves it (or,
    // without the panel's controls, the layer's own update)
    change: (i) => {
      const kind = ['threshold', 'opacity', 'colormap'][i % 3];
      const el = controls[kind];
      const s = layer.entry(id).settings;
      let value;
      if (kind === 'colormap') value = cmaps[(cmaps.indexOf(el ? el.value : s.colormap) + 1) % cmaps.length];
      else {  // a step of a tenth of the range, up or down, as a dragged slider makes
        const lo = el ? +el.min : (kind === 'opacity' ? 0 : s.min);
        const hi = el ? +el.max : (kind === 'opacity' ? 1 : s.max);
        value = (el ? +el.value : s[kind]) + (hi - lo) * (i % 2 ? -0.1 : 0.13);
        if (value > hi || value < lo) value = lo + (hi - lo) * (0.2 + 0.6 * ((i * 37) % 11) / 11);
      }
      const t0 = performance.now();
      if (el) {
        el.value = String(value);
        el.dispatchEvent(new Event(kind === 'colormap' ? 'change' : 'input', { bubbles: true }));
      } else {
        layer.update(id, { [kind]: value });
      }
      return [kind, t0];
    },
    painted: () => pane.dataset.overlaysPainted === 'true',
    requests: () => +(pane.dataset.overlayRequests || 0),
    mode: () => layer.mode,
    // forces the GPU to finish what the draw issued (a 1-px read in the frame's own task)
    finish: () => { const gl = layer.renderer?.gl;
                    if (gl) gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4)); },
  };
  return null;
}"""

# Makes *n* control changes on the panel's controls, cycling threshold, opacity and colormap
# (a new value, then the input/change event the control sends when a user moves it), each at
# another moment of a frame interval; for each, the time from the event to the end of the
# animation frame in which the layer drew again, with the GPU's work finished ("done"), and to the
# end of that draw call alone ("issued"). Then *baseline* redraws asked with no change
# (stage.requestDraw), timed the same way: the floor of a stage frame; and 15 draws of the value
# layer alone, outside a frame, to its GPU's end (its share of a frame); and the floor: the same
# schedule with no change, from the moment to the end of the next frame with a 1-px read (the
# wait for the frame and for the GPU's other work, the compositor's: what no layer can go under).
# Between the changes and the redraws: the
# time from the last change to the end of the frame with the full-resolution draw ("refined"; the
# changes come faster than REFINE_AFTER_MS, as a dragged slider's do, so the draws among them are
# at the interactive resolution where the full one is over budget), and the scales drawn at.
CHANGES_JS = """async ([n, baseline]) => {
  const probe = window.__overlayBench;
  const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
  const done = [], issued = [], kinds = [], scales = [];
  let refined = null, lastChange = 0;
  for (let i = 0; i < n + baseline; i++) {
    if (i === n) {  // the control rests: until the layer has drawn at full resolution again
      for (let k = 0; k < 120 && refined === null; k++) {
        await new Promise((r) => requestAnimationFrame(() => {
          if (probe.layer.scale === 1) { probe.finish(); refined = performance.now() - lastChange; }
          r();
        }));
      }
    }
    await frame(); await frame();  // nothing pending
    // a user's input comes at any moment of a frame: spread the events over the frame interval
    await new Promise((r) => setTimeout(r, (i * 7) % 16));
    const before = probe.draws();
    const [kind, t0] = i < n ? probe.change(i) : ['redraw', performance.now()];
    if (i < n) lastChange = t0;
    if (i >= n) probe.layer.stage.requestDraw();
    let t1 = null, t2 = null;
    for (let k = 0; k < 30 && t1 === null; k++) {
      await new Promise((r) => requestAnimationFrame(() => {
        if (probe.draws() > before) {
          t2 = performance.now(); probe.finish(); t1 = performance.now(); scales.push(probe.layer.scale);
        }
        r();
      }));
    }
    done.push(t1 === null ? null : t1 - t0);
    issued.push(t2 === null ? null : t2 - t0);
    kinds.push(kind);
  }
  const floor = [];  // the same schedule with nothing changed nor drawn: event -> next frame, GPU idle
  for (let i = 0; i < n; i++) {
    await frame(); await frame();
    await new Promise((r) => setTimeout(r, (i * 7) % 16));
    const t0 = performance.now();
    await new Promise((r) => requestAnimationFrame(() => {
      probe.finish(); floor.push(performance.now() - t0); r();
    }));
  }
  const alone = [];  // the value layer's own draw of the view, GPU done (layer.readPixel draws, reads 1 px)
  for (let i = 0; i < 15; i++) {
    await frame();
    const t0 = performance.now();
    probe.layer.readPixel(1, 1);
    alone.push(performance.now() - t0);
  }
  return { done, issued, kinds, path: probe.path, alone, refined, scales: scales.slice(0, n),
           fullDrawMs: probe.layer.fullDrawMs, floor };
}"""


def browser_run(base: str, slide: str, descriptor: dict[str, Any], geometry: Geometry, changes: int,
                screenshot: Path | None = None) -> dict[str, Any]:
    """Open *slide*'s viewer with the overlay at its native level, wait for its tiles, time *changes*
    control changes; *screenshot*: save the page after them."""
    from playwright.sync_api import sync_playwright

    zoom = 1.0 / float(descriptor["scale"])  # screen px per level-0 px: one map cell per screen px
    view = f"{base}/view/{slide}?x={geometry.width / 2:.0f}&y={geometry.height / 2:.0f}&z={zoom}"
    with sync_playwright() as p:
        chromium = os.environ.get("WSI_VIEWER_TEST_CHROMIUM", "/usr/bin/chromium")
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        version = browser.version
        try:
            context = browser.new_context(viewport=VIEWPORT)
            seen: list[str] = []
            context.on("request", lambda req: seen.append(req.url))
            page = context.new_page()
            page.goto(view)
            page.wait_for_function("() => document.querySelector('[data-pane]')?.dataset.firstViewportMs",
                                   timeout=120000)
            toggle = page.locator("[data-overlays-toggle]")
            if toggle.count() and toggle.first.get_attribute("aria-expanded") != "true":
                toggle.first.click()  # the panel open, as a user moving its controls has it
            problem = page.evaluate(PROBE_JS, [descriptor["id"]])
            if problem:
                raise RuntimeError(f"the page: {problem}")
            page.wait_for_function("() => window.__overlayBench.painted()", timeout=120000, polling=100)
            page.wait_for_timeout(1000)  # every tile of the view drawn; let the page come to rest
            loaded = page.evaluate("() => window.__overlayBench.requests()")
            mode = page.evaluate("() => window.__overlayBench.mode()")
            start = len(seen)
            result = page.evaluate(CHANGES_JS, [changes, max(3, changes // 3)])
            page.wait_for_timeout(500)
            everything = seen[start:]
            during = [u for u in everything if "/overlays/" in u]
            if screenshot:
                page.screenshot(path=str(screenshot))
            context.close()
        finally:
            browser.close()
    n = changes
    done = [t for t in result["done"][:n] if t is not None]
    issued = [t for t in result["issued"][:n] if t is not None]
    redraw = [t for t in result["done"][n:] if t is not None]
    def pct(values: list[float], q: float) -> float:
        return _pct(values, q) if values else float("nan")
    return {"times": done, "missed": n - len(done), "requests": during, "all_requests": everything,
            "redraw_p50": pct(redraw, 50), "redraw_p95": pct(redraw, 95),
            "path": result["path"], "tiles_loaded": loaded, "mode": mode, "version": version,
            "p50": pct(done, 50), "p95": pct(done, 95),
            "issued_p50": pct(issued, 50), "issued_p95": pct(issued, 95),
            "alone_p50": pct(result["alone"], 50), "alone_p95": pct(result["alone"], 95),
            "floor_p50": pct(result["floor"], 50), "floor_p95": pct(result["floor"], 95),
            "refined": result["refined"], "scales": result["scales"], "full_draw_ms": result["fullDrawMs"]}
