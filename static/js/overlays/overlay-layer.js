/**
 * The value overlays of one SlideViewer as a stage layer (`layers/stage.js`, not cacheable): its
 * own canvas under the annotation canvas (WebGL2; Canvas 2D with a CPU lookup table when WebGL2
 * is missing or `?gl=0`), drawn every stage frame from value tiles of levels up to each overlay's
 * `native_level` (or the finer level where its cells meet DZ pixel edges: `finestLevel`), placed on the slide's Deep Zoom grid through `frame.slideToDevice` (bounds
 * offset included), in the order of `entries` (the first at the bottom).
 *
 * Settings (`update(id, changes)`, `move(id, delta)`) change uniforms or a lookup table and
 * repaint: no tile is fetched, since which tiles a view needs depends on the view only. The first
 * change of a frame interval draws in its own event (its GPU work runs while the page waits for
 * the frame), later ones at the next frame; where the full-resolution draw measured longer than
 * the budget (a software rasteriser), the frames while a control moves are drawn at a reduced
 * resolution and the view again at full resolution once it rests (`repaint-pacing.js`).
 * Events: `change` {id} after a setting or the order changed.
 *
 * The pane carries `data-overlays` (count), `data-overlays-painted` ("true" once every visible
 * overlay has every tile of the view), `data-overlay-requests` (tiles fetched so far) and
 * `data-overlay-values-mode` of the value canvas ("webgl2" | "canvas2d"), for tests and benchmarks.
 */

import { applyAffine, compose, visibleBox } from "../layers/view.js";
import { colormapLut } from "./colormaps.js";
import { ValueRenderer } from "./overlay-gl.js";
import { decodeOverlayState } from "./overlay-state.js";
import { REFINE_AFTER_MS, interactiveScale, scaledCanvas } from "./repaint-pacing.js";
import { TileCache, downsampleOf, finestLevel, levelFor, planView, tileOrigin } from "./overlay-tiles.js";
import { colorize, decodeCodes, styleOf } from "./value-codec.js";

/** Decode options keeping a tile's bytes as stored (the contract: no premultiplication). */
const DECODE = { premultiplyAlpha: "none", colorSpaceConversion: "none" };

async function fetchBitmap(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) {
    throw new Error(`value tile ${url}: HTTP ${response.status}`);
  }
  return createImageBitmap(await response.blob(), DECODE);
}

export class ValueOverlayLayer extends EventTarget {
  /**
   * @param {import("../slide-viewer.js").SlideViewer} viewer
   * @param {object[]} descriptors the slide's `overlays`
   * @param {{search?: string, prefix?: string}} [options] the URL state to start from
   */
  constructor(viewer, descriptors, options = {}) {
    super();
    this.viewer = viewer;
    this.cacheable = false;
    this.descriptors = descriptors;
    this.dz = viewer.slide.deepzoom;
    this.entries = decodeOverlayState(descriptors, options.search ?? "", options.prefix ?? "");
    this.stage = null;
    this.canvas = null;
    this.renderer = null;
    this.ctx = null;
    this.lastFrame = null;
    this.lastDrawMs = 0;
    this.draws = 0; // frames drawn
    this.tilesDrawn = 0; // quads of the last frame
    this.complete = false; // the last frame had every tile it wanted
    // repaint pacing (repaint-pacing.js): the measured full-resolution draw and the canvas size it
    // was measured at; the resolution of the last draw
    this.fullDrawMs = null;
    this.measuredFor = "";
    this.scale = 1;
    this.drewInEvent = false; // a control's event drew during this frame interval
    this.refineTimer = 0; // pending while a control moves: its end draws at full resolution
    this.pendingDraw = 0;
  }

  /** @returns {boolean} whether the last frame had every tile of the view and none is on its way */
  settled() {
    return this.complete && this.entries.every((e) => !e.settings.visible || !e.cache?.busy());
  }

  /** Called by SlideViewer.addLayer: a canvas under the annotation canvas, and the tile caches. */
  attach(stage) {
    this.stage = stage;
    const canvas = document.createElement("canvas");
    canvas.className = "overlay-canvas overlay-values";
    canvas.dataset.overlay = "values";
    canvas.setAttribute("aria-hidden", "true");
    stage.canvas.before(canvas);
    this.canvas = canvas;
    const gl = stage.mode === "webgl2" ? canvas.getContext("webgl2", {
      alpha: true, premultipliedAlpha: true, antialias: false, preserveDrawingBuffer: false, depth: false, stencil: false,
    }) : null;
    if (gl) {
      this.renderer = new ValueRenderer(gl);
      // a lost context (GPU reset, too many contexts) takes every texture: start again when it is back
      canvas.addEventListener("webglcontextlost", (event) => {
        event.preventDefault();
        this.complete = false; // nothing is drawn until the context is back and its tiles are
      });
      canvas.addEventListener("webglcontextrestored", () => {
        this.complete = false; // settled() only after the redraw with the tiles uploaded again
        this.renderer = new ValueRenderer(gl);
        this.measuredFor = "";
        for (const entry of this.entries) {
          entry.cache.tiles.clear();
          entry.lutName = null;
          entry.lutTexture = null;
          this.#restyle(entry);
        }
        stage.requestDraw();
      });
    } else {
      this.ctx = canvas.getContext("2d");
    }
    this.mode = gl ? "webgl2" : "canvas2d";
    canvas.dataset.mode = this.mode;
    const pane = this.viewer.pane.dataset;
    pane.overlays = String(this.entries.length);
    pane.overlayValuesMode = this.mode;
    for (const entry of this.entries) {
      entry.cache = new TileCache({
        template: entry.desc.urls.tiles,
        load: (url) => this.#load(url),
        dispose: (tile) => this.#dispose(tile),
        onLoad: () => stage.requestDraw(),
      });
      this.#restyle(entry);
    }
    stage.add(this);
  }

  /** Called by SlideViewer.removeLayer: free the textures and the canvas. */
  detach() {
    for (const entry of this.entries) {
      entry.cache.clear();
      if (entry.lutTexture) {
        this.renderer.release(entry.lutTexture);
      }
    }
    clearTimeout(this.refineTimer);
    cancelAnimationFrame(this.pendingDraw);
    this.stage?.remove(this);
    this.stage = null;
    this.canvas?.remove();
  }

  /** @returns {object|undefined} the entry ({desc, settings}) of an overlay */
  entry(id) {
    return this.entries.find((e) => e.desc.id === id);
  }

  /**
   * Change an overlay's settings: one repaint, no tile request.
   * @param {string} id
   * @param {Partial<import("./value-codec.js").Settings>} changes
   */
  update(id, changes) {
    const entry = this.entry(id);
    if (!entry) {
      return;
    }
    entry.settings = { ...entry.settings, ...changes };
    this.#restyle(entry);
    this.#repaint();
    this.dispatchEvent(new CustomEvent("change", { detail: { id } }));
  }

  /**
   * Move an overlay up (+1: drawn later, on top) or down (−1) in the drawing order.
   * @param {string} id
   * @param {number} delta
   */
  move(id, delta) {
    const i = this.entries.findIndex((e) => e.desc.id === id);
    const j = i + delta;
    if (i < 0 || j < 0 || j >= this.entries.length) {
      return;
    }
    const [entry] = this.entries.splice(i, 1);
    this.entries.splice(j, 0, entry);
    this.#repaint();
    this.dispatchEvent(new CustomEvent("change", { detail: { id } }));
  }

  /** A setting or the order changed: draw now or at the next frame, then refine (see the top). */
  #repaint() {
    if (!this.stage) {
      return;
    }
    if (!this.renderer) {
      this.stage.requestDraw(); // Canvas 2D: its cost is the CPU lookup of the tiles drawn, once per style
      return;
    }
    clearTimeout(this.refineTimer); // pending: a control is moving (draws may be reduced)
    this.refineTimer = setTimeout(() => {
      this.refineTimer = 0;
      if (this.scale !== 1) {
        this.#drawAtFrame();
      }
    }, REFINE_AFTER_MS);
    const f = this.drewInEvent ? null : this.stage.frame();
    if (f?.elementToSlide) {
      this.drewInEvent = true;
      requestAnimationFrame(() => { this.drewInEvent = false; });
      this.draw(f);
      this.renderer.gl.flush(); // the GPU starts on it now, not at the end of the task
      return;
    }
    this.#drawAtFrame();
  }

  /** This layer alone at the next animation frame (its own canvas: the others keep theirs). */
  #drawAtFrame() {
    if (!this.pendingDraw) {
      this.pendingDraw = requestAnimationFrame(() => {
        this.pendingDraw = 0;
        const f = this.stage?.frame();
        if (f?.elementToSlide) {
          this.draw(f);
        }
      });
    }
  }

  #restyle(entry) {
    entry.style = styleOf(entry.desc, entry.settings);
    entry.styleKey = JSON.stringify([entry.style, entry.settings.colormap]);
    const lutName = `${entry.settings.colormap}`;
    if (entry.lutName !== lutName) {
      entry.lutName = lutName;
      entry.lut = colormapLut(entry.settings.colormap, entry.desc.classes);
      if (this.renderer) {
        entry.lutTexture = this.renderer.lutTexture(entry.lut, entry.lutTexture ?? null);
      }
    }
  }

  async #load(url) {
    const bitmap = await fetchBitmap(url);
    const pane = this.viewer.pane.dataset;
    pane.overlayRequests = String(this.entries.reduce((n, e) => n + (e.cache?.requests ?? 0), 0));
    if (this.renderer) {
      const texture = this.renderer.tileTexture(bitmap);
      const tile = { texture, width: bitmap.width, height: bitmap.height };
      bitmap.close();
      return tile;
    }
    const canvas = document.createElement("canvas");
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(bitmap, 0, 0);
    const pixels = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
    bitmap.close();
    return { canvas, ctx, pixels, codes: null, encoding: null, styleKey: null, width: canvas.width, height: canvas.height };
  }

  #dispose(tile) {
    if (tile.texture) {
      this.renderer.release(tile.texture);
    }
  }

  /**
   * Draw the visible overlays for a stage frame.
   * @param {object} f the stage's frame
   * @param {{full?: boolean}} [options] full: at full resolution even while a control moves
   * @returns {boolean} false: nothing drawn on the label canvas
   */
  draw(f, options = {}) {
    const started = performance.now();
    this.lastFrame = f;
    const canvas = this.canvas;
    const interactive = !options.full && this.renderer !== null && this.refineTimer !== 0;
    const scale = interactive ? interactiveScale(this.fullDrawMs) : 1;
    const size = scaledCanvas(f.width, f.height, scale);
    if (canvas.width !== size.width || canvas.height !== size.height) {
      canvas.width = size.width; // its CSS size stays the view's: a reduced one is stretched
      canvas.height = size.height;
    }
    const t = this.viewer.transform;
    const ox = t.offset_x ?? 0;
    const oy = t.offset_y ?? 0;
    const slideBox = visibleBox(f.deviceToSlide, f.width, f.height);
    const box = { x0: slideBox.x0 - ox, y0: slideBox.y0 - oy, x1: slideBox.x1 - ox, y1: slideBox.y1 - oy };
    // image px -> device px -> canvas px (the tile level is chosen for the device px, whatever
    // the canvas resolution: a reduced draw fetches nothing)
    const imageToDevice = compose({ a: size.sx, b: 0, c: 0, d: size.sy, e: 0, f: 0 },
      compose(f.slideToDevice, { a: 1, b: 0, c: 0, d: 1, e: ox, f: oy }));
    if (this.renderer) {
      this.renderer.begin(size.width, size.height);
    } else {
      this.ctx.setTransform(1, 0, 0, 1, 0, 0);
      this.ctx.clearRect(0, 0, f.width, f.height);
    }
    let complete = true;
    this.tilesDrawn = 0;
    this.drewGl = false; // the first overlay drawn need not blend (OverlayRenderer.draw)
    for (const entry of this.entries) {
      if (!entry.settings.visible) {
        continue;
      }
      entry.finest ??= finestLevel(this.dz, entry.desc, { x: ox, y: oy });
      const level = levelFor(this.dz, entry.finest, f.zoom * f.dpr);
      const plan = planView(this.dz, level, box, (tile) => entry.cache.has(tile));
      entry.cache.want(plan.wanted);
      complete = complete && plan.wanted.length === 0;
      this.tilesDrawn += plan.draws.length;
      if (this.renderer) {
        this.#drawGl(entry, plan.draws, imageToDevice);
      } else {
        this.#draw2d(entry, plan.draws, imageToDevice);
      }
    }
    this.complete = complete;
    this.draws += 1;
    this.scale = scale;
    this.viewer.pane.dataset.overlaysPainted = String(complete);
    this.viewer.pane.dataset.overlayScale = String(scale);
    const measure = `${f.width}x${f.height}`;
    if (this.renderer && scale === 1 && complete && this.tilesDrawn && this.measuredFor !== measure) {
      // once per canvas size: the full draw with its GPU work (a 1-px read waits for it), what
      // decides the resolution of the draws while a control moves
      const gl = this.renderer.gl;
      gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4));
      this.fullDrawMs = performance.now() - started;
      this.measuredFor = measure;
    }
    this.lastDrawMs = performance.now() - started;
    return false;
  }

  #drawGl(entry, draws, imageToDevice) {
    const quads = [];
    for (const { tile, box } of draws) {
      const value = entry.cache.get(tile);
      const d = downsampleOf(this.dz, tile.level);
      const o = tileOrigin(this.dz, tile.col, tile.row);
      const corners = [];
      for (const [x, y] of [[box.x0, box.y0], [box.x1, box.y0], [box.x0, box.y1], [box.x1, box.y1]]) {
        const p = applyAffine(imageToDevice, { x, y });
        corners.push(p.x, p.y, x / d - o.x, y / d - o.y);
      }
      quads.push({ texture: value.texture, corners });
    }
    if (quads.length) {
      this.renderer.draw(entry.style, {
        u16: entry.desc.encoding === "u16", smooth: entry.settings.smooth, lut: entry.lutTexture,
        blend: this.drewGl,
      }, quads);
      this.drewGl = true;
    }
  }

  #draw2d(entry, draws, imageToDevice) {
    const ctx = this.ctx;
    ctx.imageSmoothingEnabled = entry.settings.smooth && entry.desc.kind !== "labels";
    for (const { tile, box } of draws) {
      const value = entry.cache.get(tile);
      if (value.styleKey !== entry.styleKey) { // the CPU lookup: only tiles drawn, once per style
        value.codes ??= decodeCodes(entry.desc.encoding, value.pixels.data);
        colorize(value.codes, value.pixels.data, entry.lut, entry.style);
        value.ctx.putImageData(value.pixels, 0, 0);
        value.styleKey = entry.styleKey;
      }
      const d = downsampleOf(this.dz, tile.level);
      const o = tileOrigin(this.dz, tile.col, tile.row);
      // tile px -> image px -> device px
      const m = compose(imageToDevice, { a: d, b: 0, c: 0, d, e: o.x * d, f: o.y * d });
      ctx.setTransform(m.a, m.b, m.c, m.d, m.e, m.f);
      const u0 = box.x0 / d - o.x;
      const v0 = box.y0 / d - o.y;
      const w = Math.min((box.x1 - box.x0) / d, value.width - u0);
      const h = Math.min((box.y1 - box.y0) / d, value.height - v0);
      if (w > 0 && h > 0) {
        ctx.drawImage(value.canvas, u0, v0, w, h, u0, v0, w, h);
      }
    }
  }

  /**
   * The colour drawn at a point of the viewer element (CSS px), read back in the same task as a
   * fresh draw (a WebGL canvas keeps no buffer after a frame is shown): [r, g, b, a], WebGL's
   * premultiplied or Canvas 2D's straight alpha. Tests use it.
   * @param {number} x
   * @param {number} y
   * @returns {number[]|null}
   */
  readPixel(x, y) {
    const f = this.stage?.frame();
    if (!f) {
      return null;
    }
    this.draw(f, { full: true });
    const px = Math.floor(x * f.dpr);
    const py = Math.floor(y * f.dpr);
    if (this.renderer) {
      const gl = this.renderer.gl;
      const out = new Uint8Array(4);
      gl.readPixels(px, f.height - 1 - py, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, out);
      return [...out];
    }
    return [...this.ctx.getImageData(px, py, 1, 1).data];
  }
}
