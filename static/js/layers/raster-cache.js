/**
 * The overlay stage's raster cache (WebGL2): the cacheable layers (the annotation sets) are drawn
 * into a framebuffer texture covering the view plus a margin, and a frame that only moved the
 * view draws that texture (one quad) instead of every triangle again. With software WebGL
 * (SwiftShader) a 10^6-vertex set costs 20-100 ms a draw at the zooms showing most of it; the
 * quad costs ~1 ms.
 *
 * When the cache is re-rendered (`planBlit` says `null`): its layers or styles changed
 * (`stage.invalidate()`), the view left the margin, the view came to rest at anything but an
 * integer device-pixel translation of the cached view (so at rest the pixels are exactly those of
 * a direct draw: the quad is then a NEAREST copy at an integer offset), or a zoom/rotation
 * animation has shown the scaled texture for longer than {@link ZOOM_RENDER_MS}. A render during
 * a pan animation is made on the pixel grid of the pan's *target* view, grown to hold the view
 * of now (`cacheFrame(target, share, now)`): the pan then ends on an exact copy, with no render.
 *
 * The pure parts (`cacheFrame`, `planBlit`) are tested with `node --test`.
 */

import { compose, invertAffine } from "./view.js";

/** Margin of the cache on each side, as a share of the view's width and height. */
export const MARGIN_SHARE = 0.25;
/** During a zoom or rotation animation, the scaled texture is re-rendered at most this often. */
export const ZOOM_RENDER_MS = 600;
const EPS_LINEAR = 1e-7; // relative: the same zoom read twice
const EPS_PX = 1e-3; // device px: an integer translation

/**
 * The frame the cache is rendered with: `f` grown by the margin on every side (the same zoom,
 * rotation and flip; device px shifted by whole pixels), and further, when `include` (a frame
 * that is a translation of `f`, e.g. where a pan animation is now while `f` is where it ends)
 * is given, to hold it too. `view` keeps the view's frame (`include` when given: layers fetch and
 * judge completeness for what is on screen, not for the margin).
 * @param {object} f the frame whose device pixel grid the cache keeps
 * @param {number} [share=MARGIN_SHARE]
 * @param {object|null} [include]
 * @returns {object}
 */
export function cacheFrame(f, share = MARGIN_SHARE, include = null) {
  const mx = Math.round(f.width * share);
  const my = Math.round(f.height * share);
  let [left, top, right, bottom] = [mx, my, mx, my];
  if (include) {
    // where include's (0, 0) lies in f's device px
    const m = compose(f.slideToDevice, include.deviceToSlide);
    left = Math.max(left, Math.ceil(-m.e));
    top = Math.max(top, Math.ceil(-m.f));
    right = Math.max(right, Math.ceil(m.e));
    bottom = Math.max(bottom, Math.ceil(m.f));
  }
  const slideToDevice = compose({ a: 1, b: 0, c: 0, d: 1, e: left, f: top }, f.slideToDevice);
  const slideToElement = compose({ a: 1, b: 0, c: 0, d: 1, e: left / f.dpr, f: top / f.dpr }, f.slideToElement);
  const width = f.width + left + right;
  const height = f.height + top + bottom;
  return {
    ...f, slideToDevice, deviceToSlide: invertAffine(slideToDevice), slideToElement,
    elementToSlide: invertAffine(slideToElement), width, height, cssWidth: width / f.dpr, cssHeight: height / f.dpr,
    margin: [left, top, right, bottom], view: include ?? f, cached: true,
  };
}

/**
 * Whether frame `g` is `f` moved by a translation only (same zoom, rotation, flip and size).
 * @returns {boolean}
 */
export function isTranslationOf(g, f) {
  if (!g || !f || !g.slideToDevice || !f.deviceToSlide || g.dpr !== f.dpr || g.flip !== f.flip ||
      g.width !== f.width || g.height !== f.height) {
    return false;
  }
  const m = compose(g.slideToDevice, f.deviceToSlide);
  return Math.abs(m.a - 1) < EPS_LINEAR && Math.abs(m.d - 1) < EPS_LINEAR &&
    Math.abs(m.b) < EPS_LINEAR && Math.abs(m.c) < EPS_LINEAR;
}

/**
 * How to show the view `f` from a cache rendered with `cached` (a `cacheFrame`), or null when it
 * must be re-rendered.
 * @param {object|null} cached the cache's frame (null: none)
 * @param {object} f the view's frame
 * @param {{moving: boolean, now: number, since: number}} state whether the view is animating, and
 *   since when (ms) the cache or the animation is (the later of its render and the animation's start)
 * @returns {{m: import("./view.js").Affine, exact: boolean}|null} m: cache texture px -> view
 *   device px; exact: an integer translation (NEAREST copy, pixel-identical to a direct draw)
 */
export function planBlit(cached, f, state) {
  if (!cached || !cached.deviceToSlide || cached.dpr !== f.dpr || cached.flip !== f.flip) {
    return null;
  }
  const m = compose(f.slideToDevice, cached.deviceToSlide);
  const translation = Math.abs(m.a - 1) < EPS_LINEAR && Math.abs(m.d - 1) < EPS_LINEAR &&
    Math.abs(m.b) < EPS_LINEAR && Math.abs(m.c) < EPS_LINEAR;
  if (translation) {
    const ex = Math.round(m.e);
    const ey = Math.round(m.f);
    const integral = Math.abs(m.e - ex) < EPS_PX && Math.abs(m.f - ey) < EPS_PX;
    if (!integral && !state.moving) {
      return null; // at rest: exact pixels
    }
    // the texture must still cover the view: its rect [0, W) x [0, H) moved by (e, f)
    if (m.e > 0 || m.f > 0 || m.e + cached.width < f.width || m.f + cached.height < f.height) {
      return null;
    }
    return integral ? { m: { a: 1, b: 0, c: 0, d: 1, e: ex, f: ey }, exact: true } : { m, exact: false };
  }
  if (!state.moving || state.now - state.since > ZOOM_RENDER_MS) {
    return null;
  }
  // zooming out past the margin would show its edge: render
  const inv = invertAffine(m);
  if (!inv) {
    return null;
  }
  for (const [x, y] of [[0, 0], [f.width, 0], [0, f.height], [f.width, f.height]]) {
    const px = inv.a * x + inv.c * y + inv.e;
    const py = inv.b * x + inv.d * y + inv.f;
    if (px < -1 || py < -1 || px > cached.width + 1 || py > cached.height + 1) {
      return null;
    }
  }
  return { m, exact: false };
}

const BLIT_VERTEX = `#version 300 es
precision highp float;
uniform vec4 u_m;        // cache px -> view device px, linear part (a, b, c, d)
uniform vec2 u_t;        // ... translation
uniform vec2 u_size;     // cache px
uniform vec2 u_viewport; // view device px
out vec2 v_uv;
void main() {
  vec2 corner = vec2((gl_VertexID & 1) == 0 ? 0.0 : 1.0, gl_VertexID < 2 ? 0.0 : 1.0);
  vec2 p = corner * u_size;
  vec2 q = vec2(u_m.x * p.x + u_m.z * p.y + u_t.x, u_m.y * p.x + u_m.w * p.y + u_t.y);
  v_uv = vec2(corner.x, 1.0 - corner.y); // the texture's rows run bottom-up
  gl_Position = vec4(q.x / u_viewport.x * 2.0 - 1.0, 1.0 - q.y / u_viewport.y * 2.0, 0.0, 1.0);
}
`;

const BLIT_FRAGMENT = `#version 300 es
precision highp float;
uniform sampler2D u_tex;
in vec2 v_uv;
out vec4 outColor;
void main() { outColor = texture(u_tex, v_uv); }
`;

/** The framebuffer, its texture and the quad program of one stage. */
export class RasterCache {
  /** @param {WebGL2RenderingContext} gl */
  constructor(gl) {
    this.gl = gl;
    this.texture = gl.createTexture();
    this.fbo = gl.createFramebuffer();
    this.width = 0;
    this.height = 0;
    this.frame = null; // the cacheFrame last rendered (null: nothing valid)
    this.renderedAt = 0;
    this.renders = 0;
    this.blits = 0;
    const program = gl.createProgram();
    for (const [type, source] of [[gl.VERTEX_SHADER, BLIT_VERTEX], [gl.FRAGMENT_SHADER, BLIT_FRAGMENT]]) {
      const shader = gl.createShader(type);
      gl.shaderSource(shader, source);
      gl.compileShader(shader);
      if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) {
        throw new Error(`shader: ${gl.getShaderInfoLog(shader)}`);
      }
      gl.attachShader(program, shader);
    }
    gl.linkProgram(program);
    if (!gl.getProgramParameter(program, gl.LINK_STATUS)) {
      throw new Error(`program: ${gl.getProgramInfoLog(program)}`);
    }
    this.program = program;
    this.uniforms = Object.fromEntries(["u_m", "u_t", "u_size", "u_viewport", "u_tex"]
      .map((n) => [n, gl.getUniformLocation(program, n)]));
    this.vao = gl.createVertexArray();
  }

  /** Forget the cached pixels (the next frame renders). */
  invalidate() { this.frame = null; }

  /**
   * Bind the framebuffer for a render of `cf` (a `cacheFrame`), cleared; `end` unbinds it.
   * @param {object} cf
   */
  begin(cf) {
    const gl = this.gl;
    gl.bindTexture(gl.TEXTURE_2D, this.texture);
    if (this.width !== cf.width || this.height !== cf.height) {
      this.width = cf.width;
      this.height = cf.height;
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, cf.width, cf.height, 0, gl.RGBA, gl.UNSIGNED_BYTE, null);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
      gl.bindFramebuffer(gl.FRAMEBUFFER, this.fbo);
      gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, this.texture, 0);
    } else {
      gl.bindFramebuffer(gl.FRAMEBUFFER, this.fbo);
    }
    gl.bindTexture(gl.TEXTURE_2D, null);
    gl.viewport(0, 0, cf.width, cf.height);
    gl.disable(gl.SCISSOR_TEST);
    gl.clearColor(0, 0, 0, 0);
    gl.clear(gl.COLOR_BUFFER_BIT);
  }

  /** Unbind the framebuffer; the cache now holds `cf`. */
  end(cf, now) {
    this.gl.bindFramebuffer(this.gl.FRAMEBUFFER, null);
    this.frame = cf;
    this.renderedAt = now;
    this.renders += 1;
  }

  /**
   * Draw the cached texture into the (cleared) canvas through `plan.m`.
   * @param {{m: import("./view.js").Affine, exact: boolean}} plan
   * @param {{width: number, height: number}} f the view's frame
   */
  blit(plan, f) {
    const gl = this.gl;
    const u = this.uniforms;
    gl.viewport(0, 0, f.width, f.height);
    gl.disable(gl.BLEND); // a copy: the texture holds premultiplied pixels as a direct draw makes
    gl.disable(gl.SCISSOR_TEST);
    gl.useProgram(this.program);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, this.texture);
    const filter = plan.exact ? gl.NEAREST : gl.LINEAR;
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, filter);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, filter);
    gl.uniform1i(u.u_tex, 0);
    gl.uniform4f(u.u_m, plan.m.a, plan.m.b, plan.m.c, plan.m.d);
    gl.uniform2f(u.u_t, plan.m.e, plan.m.f);
    gl.uniform2f(u.u_size, this.width, this.height);
    gl.uniform2f(u.u_viewport, f.width, f.height);
    gl.bindVertexArray(this.vao);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    gl.bindVertexArray(null);
    gl.bindTexture(gl.TEXTURE_2D, null);
    this.blits += 1;
  }
}
