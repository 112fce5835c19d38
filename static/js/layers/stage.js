/**
 * The overlay stage of one SlideViewer: ONE canvas over OpenSeadragon's (WebGL2, or Canvas 2D
 * when WebGL2 is missing or `?gl=0` forces it), plus a small 2D canvas for text labels, redrawn
 * in lock-step with OpenSeadragon (its `update-viewport` event, raised right after each drawn
 * frame) and on demand (`requestDraw`, one animation frame later) when only the overlays changed.
 *
 * Each frame it computes, in double precision, the affine map slide px → device px of the
 * canvas through the slide's own TiledImage (`viewer.slideImage`, rotation included), the bounds
 * offset (`image_to_slide`) and the horizontal flip (OpenSeadragon mirrors its drawing but not its
 * pixel maths), and hands it to every layer in order: `layer.draw(frame)`.
 *
 * A frame: `{mode: "webgl2"|"canvas2d", gl|ctx, labels (2D context), slideToDevice,
 * deviceToSlide, slideToElement, elementToSlide, zoom (CSS px per slide px), width, height
 * (device px), cssWidth, cssHeight, dpr, rotation, flip, time}`.
 *
 * Raster cache (WebGL2, `raster-cache.js`): layers with `cacheable = true` (the annotation sets)
 * are drawn into the annotation canvas made larger than the view (a margin on every side), with
 * a frame from `cacheFrame` (its `view` is the view's own frame, `cached` is true); while the view
 * only pans, or for a short while during a zoom animation, the stage moves that canvas with a CSS
 * transform instead of calling their `draw`. Such a layer calls `stage.invalidate()` when what it
 * draws changes (data, styles, selection, visibility), may have `update(frame)` (called with the
 * view's frame on every stage frame, e.g. to fetch what the view needs), `drawLabels(frame)`
 * (called every frame on the label canvas; returns whether it drew) and `waiting()` (tiles on
 * their way: a view just come to rest keeps its copy until they arrive, 300 ms at most, instead
 * of rendering now and again for them) and `prefetch(frame)` (called during an animation with the
 * frame where it ends: its tiles are fetched from the start). Tiles arriving while the view moves
 * (`invalidate("tile")`) do not render then: the render at rest draws them (a zoom step rendered
 * once, not at rest and again for its tiles). `cache.causes` counts the renders by cause (the
 * invalidation's, or `blitPlan`'s reason). Other layers draw every frame, on their own canvases or
 * the label canvas; `draw({direct: true})` draws everything straight onto a view-sized canvas
 * (a screenshot copies it in the same task).
 */

import { MARGIN_SHARE, blitPlan, cacheFrame, cssMatrix, isTranslationOf, planBlit } from "./raster-cache.js";
import { affineFromBasis, compose, invertAffine } from "./view.js";

/** After a view comes to rest, how long its copy may stay while its tiles are being fetched (ms). */
const SETTLE_WAIT_MS = 300;

/* global OpenSeadragon */

/**
 * Whether the page asks for the 2D fallback (`?gl=0`), e.g. to test it.
 * @param {string} search location.search
 * @returns {boolean}
 */
export function webglDisabledBy(search) {
  return new URLSearchParams(search).get("gl") === "0";
}

export class OverlayStage {
  /**
   * @param {import("../slide-viewer.js").SlideViewer} viewer
   * @param {{forceCanvas?: boolean}} [options]
   */
  constructor(viewer, options = {}) {
    this.viewer = viewer;
    this.layers = [];
    const host = viewer.osd.canvas; // OpenSeadragon's canvas container (holds the tiles' canvas)
    const make = (name) => {
      const c = document.createElement("canvas");
      c.className = `overlay-canvas overlay-${name}`;
      c.dataset.overlay = name;
      c.setAttribute("aria-hidden", "true");
      host.append(c);
      return c;
    };
    this.canvas = make("annotations");
    this.gl = options.forceCanvas ? null : this.canvas.getContext("webgl2", {
      // no multisampling: with software GL (SwiftShader) it cost 2-5x per stroke pass, measured
      alpha: true, premultipliedAlpha: true, antialias: false, preserveDrawingBuffer: false, depth: false, stencil: false,
    });
    this.ctx = this.gl ? null : this.canvas.getContext("2d");
    this.mode = this.gl ? "webgl2" : "canvas2d";
    this.canvas.dataset.mode = this.mode;
    viewer.pane.dataset.overlayMode = this.mode;
    this.labelCanvas = make("labels");
    this.labels = this.labelCanvas.getContext("2d");
    this.labelsDrawn = false;
    this.pending = 0;
    this.frames = 0;
    this.lastDrawMs = 0;
    // the raster cache's state: the frame the canvas holds (null: render), counters (blits: frames
    // shown by moving the canvas only; causes: renders by why, see `invalidate` and `blitPlan`)
    this.cache = this.gl ? { frame: null, renderedAt: 0, renders: 0, blits: 0, transform: "", size: "",
      invalid: null, causes: {}, lastCause: null, last: null } : null;
    this.movingSince = 0;
    this.settledAt = 0;
    this.tilesDuringMotion = false; // tiles arrived while the view moved: rendered once at rest
    this.motionFrom = null;
    this.restFrame = null;
    this.settleTimer = 0;
    this.onViewport = () => this.draw();
    viewer.osd.addHandler("update-viewport", this.onViewport);
    // the last frame of an animation may leave a scaled or fractional copy: render it exactly
    this.onSettle = () => this.requestDraw();
    viewer.osd.addHandler("animation-finish", this.onSettle);
    if (this.gl) {
      this.canvas.addEventListener("webglcontextlost", (event) => event.preventDefault());
    }
  }

  /** Add a layer on top of the others. */
  add(layer) {
    this.layers.push(layer);
    this.invalidate();
  }

  /** Remove a layer. */
  remove(layer) {
    this.layers = this.layers.filter((l) => l !== layer);
    this.invalidate();
  }

  /**
   * A cacheable layer's drawing changed: render the cache again at the next animation frame.
   * @param {string} [cause] what changed, counted in `cache.causes` ("tile": tiles arrived)
   */
  invalidate(cause = "change") {
    if (this.cache && cause === "tile" && this.moving()) {
      // the copy keeps moving: what arrived is drawn with the render at rest (a zoom's render
      // then holds its new level's tiles, fetched from the animation's start: one render, not two)
      this.tilesDuringMotion = true;
      return;
    }
    if (this.cache) {
      this.cache.frame = null;
      this.cache.invalid ??= cause;
    }
    this.requestDraw();
  }

  /** Draw once at the next animation frame (overlay-only changes: styles, new geometry). */
  requestDraw() {
    if (!this.pending) {
      this.pending = requestAnimationFrame(() => {
        this.pending = 0;
        this.draw();
      });
    }
  }

  /** Remove the canvases and stop listening. */
  destroy() {
    this.viewer.osd.removeHandler("update-viewport", this.onViewport);
    this.viewer.osd.removeHandler("animation-finish", this.onSettle);
    this.canvas.remove();
    this.labelCanvas.remove();
  }

  /**
   * The current frame's transforms, or null before the slide is open.
   * @returns {object|null}
   */
  frame(current = true) {
    const viewer = this.viewer;
    const image = viewer.slideImage;
    if (!image) {
      return null;
    }
    const el = viewer.osd.canvas;
    const cssWidth = el.clientWidth;
    const cssHeight = el.clientHeight;
    const dpr = window.devicePixelRatio || 1;
    const t = viewer.transform;
    const scale = t.scale || 1;
    // slide -> image (bounds offset), image -> element (OpenSeadragon, rotation), then the flip
    const slideToImage = { a: 1 / scale, b: 0, c: 0, d: 1 / scale, e: -t.offset_x / scale, f: -t.offset_y / scale };
    const span = Math.max(image.source.dimensions.x, 1); // a long baseline keeps the basis exact
    const vp = viewer.osd.viewport;
    // current: where the view is drawn now; else where its animation ends (OpenSeadragon's target)
    const p = current ? (x, y) => image.imageToViewerElementCoordinates(new OpenSeadragon.Point(x, y))
      : (x, y) => vp.pixelFromPoint(image.imageToViewportCoordinates(x, y, false), false);
    const o = p(0, 0);
    const ex = p(span, 0);
    const ey = p(0, span);
    const imageToElement = affineFromBasis(
      o, { x: o.x + (ex.x - o.x) / span, y: o.y + (ex.y - o.y) / span },
      { x: o.x + (ey.x - o.x) / span, y: o.y + (ey.y - o.y) / span },
    );
    const flip = viewer.osd.viewport.getFlip();
    const flipX = flip ? { a: -1, b: 0, c: 0, d: 1, e: cssWidth, f: 0 } : { a: 1, b: 0, c: 0, d: 1, e: 0, f: 0 };
    const slideToElement = compose(flipX, compose(imageToElement, slideToImage));
    const slideToDevice = compose({ a: dpr, b: 0, c: 0, d: dpr, e: 0, f: 0 }, slideToElement);
    return {
      mode: this.mode, gl: this.gl, ctx: this.ctx, labels: this.labels,
      slideToElement, elementToSlide: invertAffine(slideToElement),
      slideToDevice, deviceToSlide: invertAffine(slideToDevice),
      zoom: Math.sqrt(Math.abs(slideToElement.a * slideToElement.d - slideToElement.b * slideToElement.c)),
      cssWidth, cssHeight, dpr, width: Math.round(cssWidth * dpr), height: Math.round(cssHeight * dpr),
      rotation: vp.getRotation(current), flip, time: performance.now(),
    };
  }

  /**
   * Draw every layer now.
   * @param {{direct?: boolean}} [options] direct: draw the cacheable layers straight onto a
   *   view-sized canvas (no cache), e.g. to copy the canvas in the same task (a screenshot); the
   *   next frame renders the cache again
   */
  draw(options = {}) {
    const f = this.frame();
    if (!f || !f.elementToSlide) {
      return;
    }
    const started = performance.now();
    const cached = this.cache && !options.direct ? this.layers.filter((l) => l.cacheable) : [];
    if (this.cache && options.direct) {
      this.cache.frame = null;
    }
    for (const c of cached.length ? [this.labelCanvas] : [this.canvas, this.labelCanvas]) {
      if (c.width !== f.width || c.height !== f.height) {
        c.width = f.width;
        c.height = f.height;
      }
    }
    if (this.gl) {
      const gl = this.gl;
      if (cached.length) {
        this.#drawCached(cached, f);
      } else {
        this.#place(null, f);
        gl.viewport(0, 0, f.width, f.height);
        gl.clearColor(0, 0, 0, 0);
        gl.clear(gl.COLOR_BUFFER_BIT);
      }
    } else {
      this.ctx.setTransform(1, 0, 0, 1, 0, 0);
      this.ctx.clearRect(0, 0, f.width, f.height);
    }
    if (this.labelsDrawn) {
      this.labels.setTransform(1, 0, 0, 1, 0, 0);
      this.labels.clearRect(0, 0, f.width, f.height);
      this.labelsDrawn = false;
    }
    for (const layer of this.layers) {
      const drew = cached.includes(layer) ? layer.drawLabels?.(f) : layer.draw(f);
      if (drew) {
        this.labelsDrawn = true;
      }
    }
    this.frames += 1;
    this.lastDrawMs = performance.now() - started;
  }

  /** Whether OpenSeadragon is still animating towards its target view. */
  moving() {
    const vp = this.viewer.osd.viewport;
    const c = vp.getCenter(true);
    const t = vp.getCenter(false);
    return vp.getZoom(true) !== vp.getZoom(false) || c.x !== t.x || c.y !== t.y ||
      vp.getRotation(true) !== vp.getRotation(false);
  }

  #drawCached(layers, f) {
    const gl = this.gl;
    const cache = this.cache;
    for (const layer of layers) {
      layer.update?.(f);
    }
    const moving = this.moving();
    const target = moving ? this.frame(false) : null;
    if (target) {
      for (const layer of layers) {
        layer.prefetch?.(target); // where the animation ends: its tiles on their way now
      }
    }
    if (moving && !this.movingSince) {
      this.movingSince = f.time;
      // where the motion started: the last view at rest (OpenSeadragon's springs are already a
      // third of the way at the first frame); a pan's render looks as far ahead
      this.motionFrom = this.restFrame ?? f;
    } else if (!moving && this.movingSince) {
      this.movingSince = 0;
      this.settledAt = f.time;
    }
    if (!moving) {
      this.restFrame = f;
    }
    const since = Math.max(cache.renderedAt, this.movingSince);
    let { plan, reason } = blitPlan(cache.frame, f, { moving, now: f.time, since });
    if (plan && !moving && this.tilesDuringMotion) {
      plan = null;
      reason = "tile";
    }
    if (!plan && !moving && cache.frame && f.time - this.settledAt < SETTLE_WAIT_MS &&
        layers.some((l) => l.waiting?.())) {
      // settled while the view's tiles are on their way: their arrival renders (once, not now
      // and again then); meanwhile the copy stays, for SETTLE_WAIT_MS at most
      plan = planBlit(cache.frame, f, { moving: true, now: f.time, since: f.time });
      if (plan) {
        clearTimeout(this.settleTimer);
        this.settleTimer = setTimeout(() => this.requestDraw(), SETTLE_WAIT_MS);
      }
    }
    if (plan) {
      cache.blits += 1; // no WebGL call: the canvas keeps its pixels, the compositor moves it
    } else {
      // panning: render on the grid of where the pan ends (it then ends on an exact copy)
      const pan = target && isTranslationOf(target, f) &&
        Math.abs(target.slideToDevice.e - f.slideToDevice.e) < 2 * f.width &&
        Math.abs(target.slideToDevice.f - f.slideToDevice.f) < 2 * f.height;
      const cf = pan ? cacheFrame(target, MARGIN_SHARE, f, { from: this.motionFrom })
        : cacheFrame(f, MARGIN_SHARE, null, { keep: moving ? null : cache.last });
      const c = this.canvas;
      if (c.width !== cf.width || c.height !== cf.height) {
        c.width = cf.width;
        c.height = cf.height;
      }
      gl.viewport(0, 0, cf.width, cf.height);
      gl.clearColor(0, 0, 0, 0);
      gl.clear(gl.COLOR_BUFFER_BIT);
      for (const layer of layers) {
        layer.draw(cf);
      }
      cache.frame = cache.last = cf;
      cache.renderedAt = performance.now();
      cache.renders += 1;
      const cause = cache.invalid ?? reason;
      cache.causes[cause] = (cache.causes[cause] ?? 0) + 1;
      cache.lastCause = cause;
      cache.invalid = null;
      this.tilesDuringMotion = false;
      plan = planBlit(cf, f, { moving: true, now: 0, since: 0 });
    }
    this.#place(plan, f);
  }

  /** Size and move the annotation canvas: over the view (plan null), or the cache's through plan. */
  #place(plan, f) {
    const cache = this.cache;
    if (!cache) {
      return;
    }
    const style = this.canvas.style;
    const size = plan ? `${this.canvas.width / f.dpr}px ${this.canvas.height / f.dpr}px` : "";
    if (size !== cache.size) { // a layout change: only when a render resized the canvas
      cache.size = size;
      style.width = plan ? `${this.canvas.width / f.dpr}px` : "";
      style.height = plan ? `${this.canvas.height / f.dpr}px` : "";
      style.transformOrigin = plan ? "0 0" : "";
    }
    const transform = plan ? cssMatrix(plan.m, f.dpr) : "";
    if (transform !== cache.transform) { // compositing only
      cache.transform = transform;
      style.transform = transform;
    }
  }
}
