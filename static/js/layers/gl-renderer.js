/**
 * WebGL2 drawing of annotation batches (`batch.js`). Geometry is uploaded once per batch;
 * a frame sets uniforms only: the batch's slide→device affine (relative to its origin, computed in
 * double on the CPU), its clip rectangle, line width and opacities. Strokes are quads (6 vertices
 * a segment, read from segment textures by gl_VertexID) widened to a constant screen width in the
 * vertex shader; each draw is scissored to its tile; fills are earcut triangles; dots are
 * instanced discs. Colour and visibility come from two small textures shared by every batch of a
 * layer: per slot (annotation) flags + style index (`RGBA8UI`), per style an RGBA colour whose
 * alpha is the style's opacity (0 = hidden). Hiding a group, recolouring it or selecting an
 * annotation writes a few texels and never touches geometry.
 *
 * Programs are compiled once per WebGL context and shared by every layer drawing into it (one
 * context per viewer: overlays of issue 14 can share it too).
 */

export const STATE_WIDTH = 2048;
export const STYLE_WIDTH = 256;
/** Width of the segment textures (segments per row). */
export const SEG_WIDTH = 4096;
/** Slot flags (red channel of the state texture). */
export const FLAG_HIDDEN = 1;
export const FLAG_SELECTED = 2;
export const FLAG_HOVERED = 4;

const COMMON = `#version 300 es
precision highp float;
precision highp int;
precision highp usampler2D;
uniform usampler2D u_state;
uniform sampler2D u_style;
uniform vec4 u_m;       // rel slide -> device px, linear part (a, b, c, d)
uniform vec2 u_t;       // ... translation (e, f)
uniform vec4 u_im;      // device px -> rel slide, linear part
uniform vec2 u_it;
uniform vec2 u_viewport; // device px
uniform float u_opacity;
vec2 toPx(vec2 p) { return vec2(u_m.x * p.x + u_m.z * p.y + u_t.x, u_m.y * p.x + u_m.w * p.y + u_t.y); }
vec2 toRel(vec2 q) { return vec2(u_im.x * q.x + u_im.z * q.y + u_it.x, u_im.y * q.x + u_im.w * q.y + u_it.y); }
vec4 toClip(vec2 px) { return vec4(px.x / u_viewport.x * 2.0 - 1.0, 1.0 - px.y / u_viewport.y * 2.0, 0.0, 1.0); }
void lookup(uint slot, out vec4 color, out uint flags) {
  uvec4 s = texelFetch(u_state, ivec2(int(slot % ${STATE_WIDTH}u), int(slot / ${STATE_WIDTH}u)), 0);
  flags = s.r;
  uint style = s.g | (s.b << 8u);
  color = texelFetch(u_style, ivec2(int(style % ${STYLE_WIDTH}u), int(style / ${STYLE_WIDTH}u)), 0);
}
`;

const CLIP_FRAGMENT = `#version 300 es
precision highp float;
uniform vec4 u_clip; // rel slide x0, y0, x1, y1
in vec2 v_rel;
in vec4 v_color;
out vec4 outColor;
void main() {
  if (v_rel.x < u_clip.x || v_rel.y < u_clip.y || v_rel.x >= u_clip.z || v_rel.y >= u_clip.w) discard;
  outColor = v_color;
}
`;

const FILL_VERTEX = `${COMMON}
uniform float u_fill;
in vec2 a_pos;
in uint a_slot;
out vec2 v_rel;
out vec4 v_color;
void main() {
  vec4 c; uint f;
  lookup(a_slot, c, f);
  float a = c.a * u_fill * u_opacity;
  if ((f & 2u) != 0u) a = min(1.0, a * 1.5 + 0.1);
  if ((f & 4u) != 0u) a = min(1.0, a * 1.3 + 0.08);
  v_rel = a_pos;
  v_color = vec4(c.rgb * a, a);
  gl_Position = ((f & 1u) != 0u || c.a == 0.0 || a <= 0.0) ? vec4(2.0, 2.0, 2.0, 1.0) : toClip(toPx(a_pos));
}
`;

// Segments are read from textures by gl_VertexID (an indexed quad, 4 corners and two triangles, per segment), not
// instanced: SwiftShader runs an instanced draw instance by instance, and with 10^5 segments a
// frame that cost seconds (measured 4-9x slower than this).
const STROKE_VERTEX = `${COMMON}
precision highp sampler2D;
uniform float u_width; // device px
uniform sampler2D u_segs;     // RGBA32F: x0, y0, x1, y1 relative to the batch origin
uniform usampler2D u_segSlot; // R32UI: the segment's slot
out vec2 v_rel;
out vec4 v_color;
void main() {
  int seg = gl_VertexID / 4;
  int id = gl_VertexID - seg * 4; // the quad's corner, in strip order
  ivec2 at = ivec2(seg % ${SEG_WIDTH}, seg / ${SEG_WIDTH});
  vec4 a_seg = texelFetch(u_segs, at, 0);
  uint a_slot = texelFetch(u_segSlot, at, 0).r;
  vec4 c; uint f;
  lookup(a_slot, c, f);
  vec2 p0 = toPx(a_seg.xy);
  vec2 p1 = toPx(a_seg.zw);
  vec2 d = p1 - p0;
  float len = length(d);
  vec2 dir = len > 1e-6 ? d / len : vec2(1.0, 0.0);
  vec2 nrm = vec2(-dir.y, dir.x);
  bool selected = (f & 2u) != 0u;
  float hw = 0.5 * u_width * (selected ? 1.6 : 1.0);
  vec2 base = (id < 2) ? p0 - dir * hw : p1 + dir * hw; // square caps close the joins
  vec2 px = base + nrm * ((id & 1) == 0 ? -hw : hw);
  vec3 rgb = selected ? mix(c.rgb, vec3(1.0), 0.45) : ((f & 4u) != 0u ? mix(c.rgb, vec3(1.0), 0.25) : c.rgb);
  float a = c.a * u_opacity;
  v_rel = toRel(px);
  v_color = vec4(rgb * a, a);
  gl_Position = ((f & 1u) != 0u || c.a == 0.0) ? vec4(2.0, 2.0, 2.0, 1.0) : toClip(px);
}
`;

const DOT_VERTEX = `${COMMON}
uniform float u_radius; // device px
in vec2 a_pt;
in uint a_slot;
out vec2 v_local;
out vec4 v_color;
out float v_edge;
void main() {
  vec4 c; uint f;
  lookup(a_slot, c, f);
  bool selected = (f & 2u) != 0u;
  float r = u_radius * (selected ? 1.5 : 1.0);
  int id = gl_VertexID;
  v_local = vec2((id & 1) == 0 ? -1.0 : 1.0, id < 2 ? -1.0 : 1.0);
  vec2 px = toPx(a_pt) + v_local * r;
  float a = c.a * u_opacity;
  vec3 rgb = selected ? mix(c.rgb, vec3(1.0), 0.45) : c.rgb;
  v_color = vec4(rgb * a, a);
  v_edge = 1.0 - 1.5 / max(r, 1.0);
  gl_Position = ((f & 1u) != 0u || c.a == 0.0) ? vec4(2.0, 2.0, 2.0, 1.0) : toClip(px);
}
`;

// Dots are not clipped to their tile: every batch whose margin holds a dot draws it whole, and
// the copies are opaque and identical, so a dot on a tile border is neither cut nor doubled.
const DOT_FRAGMENT = `#version 300 es
precision highp float;
in vec2 v_local;
in vec4 v_color;
in float v_edge;
out vec4 outColor;
void main() {
  float d = length(v_local);
  if (d > 1.0) discard;
  outColor = d > v_edge ? vec4(0.0, 0.0, 0.0, v_color.a) : v_color;
}
`;

/** @type {WeakMap<WebGL2RenderingContext, object>} */
const PROGRAMS = new WeakMap();

function compile(gl, vertexSource, fragmentSource) {
  const program = gl.createProgram();
  for (const [type, source] of [[gl.VERTEX_SHADER, vertexSource], [gl.FRAGMENT_SHADER, fragmentSource]]) {
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
  const uniforms = {};
  const n = gl.getProgramParameter(program, gl.ACTIVE_UNIFORMS);
  for (let i = 0; i < n; i++) {
    const name = gl.getActiveUniform(program, i).name;
    uniforms[name] = gl.getUniformLocation(program, name);
  }
  const attributes = {};
  const m = gl.getProgramParameter(program, gl.ACTIVE_ATTRIBUTES);
  for (let i = 0; i < m; i++) {
    const name = gl.getActiveAttrib(program, i).name;
    attributes[name] = gl.getAttribLocation(program, name);
  }
  return { program, uniforms, attributes };
}

function programs(gl) {
  let p = PROGRAMS.get(gl);
  if (!p) {
    p = {
      fill: compile(gl, FILL_VERTEX, CLIP_FRAGMENT),
      stroke: compile(gl, STROKE_VERTEX, CLIP_FRAGMENT),
      dot: compile(gl, DOT_VERTEX, DOT_FRAGMENT),
    };
    PROGRAMS.set(gl, p);
  }
  return p;
}

/** Draws one layer's batches with WebGL2. */
export class GLRenderer {
  /**
   * @param {WebGL2RenderingContext} gl
   * @param {import("./slot-table.js").SlotTable} table per-slot state and per-style colours
   */
  constructor(gl, table) {
    this.gl = gl;
    this.table = table;
    this.programs = programs(gl);
    this.stateTexture = gl.createTexture();
    this.styleTexture = gl.createTexture();
    this.stateRows = 0;
    this.styleRows = 0;
  }

  /**
   * Upload a batch's geometry once.
   * @param {any} batch
   * @returns {object} GPU handles and counts
   */
  upload(batch) {
    const gl = this.gl;
    const { fill, stroke, dot } = this.programs;
    const buffers = [];
    const buffer = (target, data) => {
      const b = gl.createBuffer();
      gl.bindBuffer(target, b);
      gl.bufferData(target, data, gl.STATIC_DRAW);
      buffers.push(b);
      return b;
    };
    const vaos = [];
    const vao = () => {
      const v = gl.createVertexArray();
      gl.bindVertexArray(v);
      vaos.push(v);
      return v;
    };
    const attrib = (location, data, size, integer, divisor) => {
      if (location < 0) {
        return;
      }
      buffer(gl.ARRAY_BUFFER, data);
      gl.enableVertexAttribArray(location);
      if (integer) {
        gl.vertexAttribIPointer(location, size, gl.UNSIGNED_INT, 0, 0);
      } else {
        gl.vertexAttribPointer(location, size, gl.FLOAT, false, 0, 0);
      }
      gl.vertexAttribDivisor(location, divisor);
    };
    const handle = { buffers, vaos, fillCount: batch.tris.length, segCount: batch.segSlot.length, dotCount: batch.dotSlot.length };
    if (handle.fillCount) {
      handle.fillVao = vao();
      attrib(fill.attributes.a_pos, batch.verts, 2, false, 0);
      attrib(fill.attributes.a_slot, batch.vertSlot, 1, true, 0);
      buffer(gl.ELEMENT_ARRAY_BUFFER, batch.tris);
    }
    handle.textures = [];
    if (handle.segCount) {
      handle.segVao = vao(); // no attributes: the vertex shader reads the textures
      // indexed, 4 corners a segment drawn as triangles (0, 1, 2) and (1, 2, 3): the vertex cache
      // runs the (costly, two texel fetches) vertex shader 4 times a segment instead of 6
      const corners = new Uint32Array(handle.segCount * 6);
      for (let i = 0, v = 0; i < corners.length; i += 6, v += 4) {
        corners[i] = v; corners[i + 1] = v + 1; corners[i + 2] = v + 2;
        corners[i + 3] = v + 1; corners[i + 4] = v + 2; corners[i + 5] = v + 3;
      }
      buffer(gl.ELEMENT_ARRAY_BUFFER, corners);
      handle.segIndexBytes = corners.byteLength;
      const rows = Math.ceil(handle.segCount / SEG_WIDTH);
      const segs = new Float32Array(rows * SEG_WIDTH * 4);
      segs.set(batch.segs);
      const slots = new Uint32Array(rows * SEG_WIDTH);
      slots.set(batch.segSlot);
      const texture = (internal, format, type, data) => {
        const t = gl.createTexture();
        gl.bindTexture(gl.TEXTURE_2D, t);
        gl.pixelStorei(gl.UNPACK_ALIGNMENT, 4);
        gl.texImage2D(gl.TEXTURE_2D, 0, internal, SEG_WIDTH, rows, 0, format, type, data);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
        handle.textures.push(t);
        return t;
      };
      gl.activeTexture(gl.TEXTURE2);
      handle.segTexture = texture(gl.RGBA32F, gl.RGBA, gl.FLOAT, segs);
      gl.activeTexture(gl.TEXTURE3);
      handle.segSlotTexture = texture(gl.R32UI, gl.RED_INTEGER, gl.UNSIGNED_INT, slots);
      gl.activeTexture(gl.TEXTURE0);
    }
    if (handle.dotCount) {
      handle.dotVao = vao();
      attrib(dot.attributes.a_pt, batch.dots, 2, false, 1);
      attrib(dot.attributes.a_slot, batch.dotSlot, 1, true, 1);
    }
    gl.bindVertexArray(null);
    handle.bytes = batch.verts.byteLength + batch.vertSlot.byteLength + batch.tris.byteLength +
      batch.segs.byteLength + batch.segSlot.byteLength + batch.dots.byteLength + batch.dotSlot.byteLength + (handle.segIndexBytes ?? 0);
    return handle;
  }

  /** Free a batch's GPU memory. */
  release(handle) {
    const gl = this.gl;
    handle.vaos.forEach((v) => gl.deleteVertexArray(v));
    handle.buffers.forEach((b) => gl.deleteBuffer(b));
    handle.textures.forEach((t) => gl.deleteTexture(t));
  }

  /** Upload the state and style textures where they changed. */
  syncTextures() {
    const gl = this.gl;
    const t = this.table;
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, this.stateTexture);
    if (t.stateRows !== this.stateRows) {
      gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8UI, STATE_WIDTH, t.stateRows, 0, gl.RGBA_INTEGER, gl.UNSIGNED_BYTE, t.state);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
      this.stateRows = t.stateRows;
      t.stateDirty = null;
    } else if (t.stateDirty) {
      const [r0, r1] = t.stateDirty;
      gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, r0, STATE_WIDTH, r1 - r0 + 1, gl.RGBA_INTEGER, gl.UNSIGNED_BYTE,
        t.state.subarray(r0 * STATE_WIDTH * 4, (r1 + 1) * STATE_WIDTH * 4));
      t.stateDirty = null;
    }
    gl.activeTexture(gl.TEXTURE1);
    gl.bindTexture(gl.TEXTURE_2D, this.styleTexture);
    if (t.styleRows !== this.styleRows || t.styleDirty) {
      gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, STYLE_WIDTH, t.styleRows, 0, gl.RGBA, gl.UNSIGNED_BYTE, t.style);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
      this.styleRows = t.styleRows;
      t.styleDirty = false;
    }
  }

  /**
   * Draw batches.
   * @param {Array<{handle: object, toDevice: import("./view.js").Affine, toRel: import("./view.js").Affine, clip: number[]}>} draws
   * @param {{width: number, height: number, dpr: number}} frame
   * @param {{opacity: number, fillOpacity: number, lineWidth: number, dotRadius: number}} style CSS px
   */
  draw(draws, frame, style) {
    const gl = this.gl;
    this.syncTextures();
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
    const passes = [
      ["fill", "fillVao", "fillCount"],
      ["stroke", "segVao", "segCount"],
      ["dot", "dotVao", "dotCount"],
    ];
    for (const [name, vaoKey, countKey] of passes) {
      if (name === "fill" && !(style.fillOpacity > 0)) {
        continue;
      }
      const p = this.programs[name];
      gl.useProgram(p.program);
      const u = p.uniforms;
      gl.uniform1i(u.u_state, 0);
      gl.uniform1i(u.u_style, 1);
      gl.uniform2f(u.u_viewport, frame.width, frame.height);
      gl.uniform1f(u.u_opacity, style.opacity);
      if (u.u_fill) gl.uniform1f(u.u_fill, style.fillOpacity);
      if (u.u_width) gl.uniform1f(u.u_width, style.lineWidth * frame.dpr);
      if (u.u_radius) gl.uniform1f(u.u_radius, style.dotRadius * frame.dpr);
      if (u.u_segs) gl.uniform1i(u.u_segs, 2);
      if (u.u_segSlot) gl.uniform1i(u.u_segSlot, 3);
      for (const d of draws) {
        const count = d.handle[countKey];
        if (!count) {
          continue;
        }
        const m = d.toDevice;
        const im = d.toRel;
        gl.uniform4f(u.u_m, m.a, m.b, m.c, m.d);
        gl.uniform2f(u.u_t, m.e, m.f);
        if (u.u_im) {
          gl.uniform4f(u.u_im, im.a, im.b, im.c, im.d);
          gl.uniform2f(u.u_it, im.e, im.f);
        }
        if (u.u_clip) gl.uniform4f(u.u_clip, d.clip[0], d.clip[1], d.clip[2], d.clip[3]);
        const box = name === "dot" ? null : scissorBox(m, d.clip, frame);
        if (box === false) {
          continue; // the tile is out of view
        }
        if (box) {
          gl.enable(gl.SCISSOR_TEST);
          gl.scissor(box[0], box[1], box[2], box[3]);
        } else {
          gl.disable(gl.SCISSOR_TEST);
        }
        gl.bindVertexArray(d.handle[vaoKey]);
        if (name === "fill") {
          gl.drawElements(gl.TRIANGLES, count, gl.UNSIGNED_INT, 0);
        } else if (name === "stroke") {
          gl.activeTexture(gl.TEXTURE2);
          gl.bindTexture(gl.TEXTURE_2D, d.handle.segTexture);
          gl.activeTexture(gl.TEXTURE3);
          gl.bindTexture(gl.TEXTURE_2D, d.handle.segSlotTexture);
          gl.activeTexture(gl.TEXTURE0);
          gl.drawElements(gl.TRIANGLES, 6 * count, gl.UNSIGNED_INT, 0);
        } else {
          gl.drawArraysInstanced(gl.TRIANGLE_STRIP, 0, 4, count);
        }
      }
    }
    gl.bindVertexArray(null);
    gl.disable(gl.SCISSOR_TEST);
  }
}

/**
 * The scissor box (GL device px, origin bottom-left: x, y, w, h) of a draw's clip rectangle: the
 * device-space bounds of its four corners, so the rasterizer never walks a primitive's pixels
 * outside the tile (the fragment test alone still shades them, then discards: with software GL
 * (SwiftShader) a long sliver of a big outline, drawn once per tile, cost seconds a frame).
 * @param {import("./view.js").Affine} m rel slide -> device px
 * @param {number[]} clip rel slide x0, y0, x1, y1
 * @param {{width: number, height: number}} frame device px
 * @returns {number[]|false} false when the box is empty (nothing of the tile is in view)
 */
export function scissorBox(m, clip, frame) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const [x, y] of [[clip[0], clip[1]], [clip[2], clip[1]], [clip[0], clip[3]], [clip[2], clip[3]]]) {
    const px = m.a * x + m.c * y + m.e;
    const py = m.b * x + m.d * y + m.f;
    x0 = Math.min(x0, px); y0 = Math.min(y0, py); x1 = Math.max(x1, px); y1 = Math.max(y1, py);
  }
  // one pixel of slack: the fragment test decides the border pixels exactly
  const left = Math.max(0, Math.floor(x0) - 1);
  const right = Math.min(frame.width, Math.ceil(x1) + 1);
  const top = Math.max(0, Math.floor(y0) - 1);
  const bottom = Math.min(frame.height, Math.ceil(y1) + 1);
  if (!(right > left && bottom > top)) {
    return false;
  }
  return [left, frame.height - bottom, right - left, bottom - top];
}
