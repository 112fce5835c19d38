/**
 * The WebGL2 drawing of value tiles: a program (one per variant: u8 / u16, nearest / smooth,
 * heatmap / labels) that decodes a tile's code from its RGBA8
 * texture (u8: R; u16: R·256 + G; A = 0 nodata), turns it into a value, drops values below the
 * threshold, maps the display range onto the colormap (a 256×1 RGBA lookup texture) and applies
 * the opacity. Tiles are sampled with NEAREST (texelFetch); "smooth" interpolates the 4 decoded
 * neighbours in the shader (bilinear over valid texels) — never LINEAR filtering of the packed
 * bytes, which would mix high and low bytes of u16 codes. A control change is a uniform or a
 * 1 KB LUT upload and one redraw.
 */

const VERTEX = `#version 300 es
in vec2 aPos;   // device px
in vec2 aTex;   // tile px
uniform vec2 uSize;
out vec2 vTex;
void main() {
  vTex = aTex;
  gl_Position = vec4(aPos.x / uSize.x * 2.0 - 1.0, 1.0 - aPos.y / uSize.y * 2.0, 0.0, 1.0);
}`;

/**
 * The fragment shader of one variant (#defines, not uniform branches: a software rasteriser
 * such as SwiftShader runs both sides of every branch, which made the nearest path pay for the
 * smooth one's four fetches: 3-6x the cost of a screen of overlay, measured). No discard either:
 * a pixel not drawn has alpha 0 (premultiplied blending leaves the canvas as it was).
 * @param {{u16: boolean, smooth: boolean, labels: boolean}} v
 */
function fragmentSource(v) {
  return `#version 300 es
${v.u16 ? "#define U16" : ""}
${v.smooth ? "#define SMOOTH" : ""}
${v.labels ? "#define LABELS" : ""}
precision highp float;
precision highp int;
uniform highp sampler2D uTile;
uniform highp sampler2D uLut;
uniform float uVmin;       // value of code 0
uniform float uCodeScale;  // (vmax - vmin) / max code
uniform float uLo;
uniform float uInvSpan;    // 1 / (hi - lo), huge when hi == lo
uniform float uThreshold;
uniform float uOpacity;
in vec2 vTex;
out vec4 outColor;

float codeOf(vec4 t) {
#ifdef U16
  return floor(t.r * 255.0 + 0.5) * 256.0 + floor(t.g * 255.0 + 0.5);
#else
  return floor(t.r * 255.0 + 0.5);
#endif
}

void main() {
#ifdef SMOOTH
  ivec2 top = textureSize(uTile, 0) - 1;
  vec2 p = vTex - 0.5;
  ivec2 b = ivec2(floor(p));
  vec2 f = p - floor(p);
  vec4 t00 = texelFetch(uTile, clamp(b, ivec2(0), top), 0);
  vec4 t10 = texelFetch(uTile, clamp(b + ivec2(1, 0), ivec2(0), top), 0);
  vec4 t01 = texelFetch(uTile, clamp(b + ivec2(0, 1), ivec2(0), top), 0);
  vec4 t11 = texelFetch(uTile, clamp(b + ivec2(1, 1), ivec2(0), top), 0);
  // bilinear over the valid texels of the four (nodata has no weight)
  vec4 w = vec4((1.0 - f.x) * (1.0 - f.y), f.x * (1.0 - f.y), (1.0 - f.x) * f.y, f.x * f.y)
    * step(0.5, vec4(t00.a, t10.a, t01.a, t11.a));
  float weight = w.x + w.y + w.z + w.w;
  float code = dot(w, vec4(codeOf(t00), codeOf(t10), codeOf(t01), codeOf(t11))) / max(weight, 1e-6);
  float valid = step(0.5, weight);  // nodata edges stay where nearest puts them
#else
  vec4 t = texelFetch(uTile, ivec2(vTex), 0);
  float code = codeOf(t);
  float valid = step(0.5, t.a);
#endif
#ifdef LABELS
  int idx = int(min(code + 0.5, 255.0));
  float keep = valid;
#else
  float value = uVmin + code * uCodeScale;
  int idx = int(clamp((value - uLo) * uInvSpan, 0.0, 1.0) * 255.0 + 0.5);
  float keep = valid * step(uThreshold, value);
#endif
  vec4 c = texelFetch(uLut, ivec2(idx, 0), 0);
  float a = c.a * uOpacity * keep;
  outColor = vec4(c.rgb * a, a);
}`;
}

function compile(gl, type, source) {
  const shader = gl.createShader(type);
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) {
    throw new Error(`overlay shader: ${gl.getShaderInfoLog(shader)}`);
  }
  return shader;
}

/** The value-tile renderer of one WebGL2 context. */
export class ValueRenderer {
  /** @param {WebGL2RenderingContext} gl */
  constructor(gl) {
    this.gl = gl;
    this.programs = new Map(); // variant key -> {program, u, pos, tex}
    this.vao = gl.createVertexArray();
    this.buffer = gl.createBuffer();
    this.data = new Float32Array(24 * 64);
    this.size = [1, 1];
    this.program({ u16: false, smooth: false, labels: false }); // compile errors show at once
  }

  /** The program of a variant, compiled on first use. */
  program(v) {
    const key = `${v.u16 ? 1 : 0}${v.smooth ? 1 : 0}${v.labels ? 1 : 0}`;
    let p = this.programs.get(key);
    if (p) {
      return p;
    }
    const gl = this.gl;
    const program = gl.createProgram();
    gl.attachShader(program, compile(gl, gl.VERTEX_SHADER, VERTEX));
    gl.attachShader(program, compile(gl, gl.FRAGMENT_SHADER, fragmentSource(v)));
    gl.linkProgram(program);
    if (!gl.getProgramParameter(program, gl.LINK_STATUS)) {
      throw new Error(`overlay program: ${gl.getProgramInfoLog(program)}`);
    }
    const u = {};
    for (const name of ["uSize", "uTile", "uLut", "uVmin", "uCodeScale", "uLo", "uInvSpan", "uThreshold", "uOpacity"]) {
      u[name] = gl.getUniformLocation(program, name);
    }
    p = { program, u, pos: gl.getAttribLocation(program, "aPos"), tex: gl.getAttribLocation(program, "aTex") };
    this.programs.set(key, p);
    return p;
  }

  /**
   * A texture of a decoded tile (its bytes as they are: no premultiplication, no colour space).
   * @param {ImageBitmap|ImageData} image
   * @returns {WebGLTexture}
   */
  tileTexture(image) {
    return this.#texture(image);
  }

  /**
   * A 256×1 lookup texture (or `texture` updated in place).
   * @param {Uint8Array} lut 1024 bytes
   * @param {WebGLTexture|null} [texture]
   * @returns {WebGLTexture}
   */
  lutTexture(lut, texture = null) {
    return this.#texture(lut, texture);
  }

  #texture(source, texture = null) {
    const gl = this.gl;
    const t = texture ?? gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, t);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    if (source instanceof Uint8Array) {
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, 256, 1, 0, gl.RGBA, gl.UNSIGNED_BYTE, source);
    } else {
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, gl.RGBA, gl.UNSIGNED_BYTE, source);
    }
    if (!texture) {
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    }
    return t;
  }

  /** Free a texture. */
  release(texture) {
    this.gl.deleteTexture(texture);
  }

  /** Clear the canvas for a frame of width × height device px. */
  begin(width, height) {
    const gl = this.gl;
    gl.viewport(0, 0, width, height);
    gl.clearColor(0, 0, 0, 0);
    gl.clear(gl.COLOR_BUFFER_BIT);
    gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA); // premultiplied output
    this.size = [width, height];
  }

  /**
   * Draw one overlay's quads.
   * @param {import("./value-codec.js").Style} style
   * @param {{u16: boolean, smooth: boolean, lut: WebGLTexture, blend: boolean}} options blend
   *   false for the first overlay of a frame: its quads never overlap and the canvas is clear, so
   *   writing its premultiplied colours equals blending them over nothing, without reading the
   *   framebuffer back (a software rasteriser's largest cost after the shader)
   * @param {Array<{texture: WebGLTexture, corners: number[]}>} quads corners: 4 × (device x, y,
   *   tile px u, v) in the order top-left, top-right, bottom-left, bottom-right
   */
  draw(style, options, quads) {
    const gl = this.gl;
    const p = this.program({ u16: options.u16, smooth: options.smooth && !style.labels, labels: style.labels });
    const u = p.u;
    if (options.blend) gl.enable(gl.BLEND); else gl.disable(gl.BLEND);
    gl.useProgram(p.program);
    gl.uniform2f(u.uSize, this.size[0], this.size[1]);
    gl.uniform1f(u.uVmin, style.vmin);
    gl.uniform1f(u.uCodeScale, (style.vmax - style.vmin) / style.maxCode);
    gl.uniform1f(u.uLo, style.lo);
    // hi == lo: everything at or above it takes the top colour (lutIndex's rule)
    gl.uniform1f(u.uInvSpan, style.hi > style.lo ? 1 / (style.hi - style.lo) : 1e30);
    gl.uniform1f(u.uThreshold, Number.isFinite(style.threshold) ? style.threshold : -3.0e38);
    gl.uniform1f(u.uOpacity, style.opacity);
    gl.activeTexture(gl.TEXTURE1);
    gl.bindTexture(gl.TEXTURE_2D, options.lut);
    gl.uniform1i(u.uLut, 1);
    gl.uniform1i(u.uTile, 0);
    gl.bindVertexArray(this.vao);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffer);
    gl.enableVertexAttribArray(p.pos);
    gl.vertexAttribPointer(p.pos, 2, gl.FLOAT, false, 16, 0);
    gl.enableVertexAttribArray(p.tex);
    gl.vertexAttribPointer(p.tex, 2, gl.FLOAT, false, 16, 8);
    if (this.data.length < quads.length * 24) {
      this.data = new Float32Array(quads.length * 24);
    }
    const data = this.data;
    quads.forEach((q, i) => {
      const c = q.corners;
      // two triangles: tl, tr, bl and tr, br, bl
      for (const [k, corner] of [0, 1, 2, 1, 3, 2].entries()) {
        data.set(c.slice(corner * 4, corner * 4 + 4), i * 24 + k * 4);
      }
    });
    gl.bufferData(gl.ARRAY_BUFFER, data.subarray(0, quads.length * 24), gl.STREAM_DRAW);
    gl.activeTexture(gl.TEXTURE0);
    quads.forEach((q, i) => {
      gl.bindTexture(gl.TEXTURE_2D, q.texture);
      gl.drawArrays(gl.TRIANGLES, i * 6, 6);
    });
  }
}
