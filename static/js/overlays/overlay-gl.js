/**
 * The WebGL2 drawing of value tiles: one program that decodes a tile's code from its RGBA8
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

const FRAGMENT = `#version 300 es
precision highp float;
precision highp int;
uniform highp sampler2D uTile;
uniform highp sampler2D uLut;
uniform bool uU16;
uniform bool uLabels;
uniform bool uSmooth;
uniform float uMaxCode;
uniform float uVmin;
uniform float uVmax;
uniform float uLo;
uniform float uHi;
uniform float uThreshold;
uniform float uOpacity;
in vec2 vTex;
out vec4 outColor;

float codeAt(ivec2 p, ivec2 size, out bool valid) {
  vec4 t = texelFetch(uTile, clamp(p, ivec2(0), size - 1), 0);
  valid = t.a > 0.5;
  float hi = floor(t.r * 255.0 + 0.5);
  return uU16 ? hi * 256.0 + floor(t.g * 255.0 + 0.5) : hi;
}

void main() {
  ivec2 size = textureSize(uTile, 0);
  float code;
  bool ok;
  if (!uSmooth) {
    code = codeAt(ivec2(floor(vTex)), size, ok);
    if (!ok) discard;
  } else {
    vec2 p = vTex - 0.5;
    ivec2 b = ivec2(floor(p));
    vec2 f = p - floor(p);
    float sum = 0.0;
    float w = 0.0;
    for (int j = 0; j < 2; j++) {
      for (int i = 0; i < 2; i++) {
        float c = codeAt(b + ivec2(i, j), size, ok);
        float wt = (i == 0 ? 1.0 - f.x : f.x) * (j == 0 ? 1.0 - f.y : f.y);
        if (ok) { sum += c * wt; w += wt; }
      }
    }
    if (w < 0.5) discard;  // nodata edges stay where nearest puts them
    code = sum / w;
  }
  float value = uVmin + code / uMaxCode * (uVmax - uVmin);
  int idx;
  if (uLabels) {
    idx = int(clamp(floor(code + 0.5), 0.0, 255.0));
  } else {
    if (value < uThreshold) discard;
    float span = uHi - uLo;
    float t = span > 0.0 ? (value - uLo) / span : (value >= uHi ? 1.0 : 0.0);
    idx = int(floor(clamp(t, 0.0, 1.0) * 255.0 + 0.5));
  }
  vec4 c = texelFetch(uLut, ivec2(idx, 0), 0);
  float a = c.a * uOpacity;
  outColor = vec4(c.rgb * a, a);
}`;

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
    const program = gl.createProgram();
    gl.attachShader(program, compile(gl, gl.VERTEX_SHADER, VERTEX));
    gl.attachShader(program, compile(gl, gl.FRAGMENT_SHADER, FRAGMENT));
    gl.linkProgram(program);
    if (!gl.getProgramParameter(program, gl.LINK_STATUS)) {
      throw new Error(`overlay program: ${gl.getProgramInfoLog(program)}`);
    }
    this.program = program;
    this.u = {};
    for (const name of ["uSize", "uTile", "uLut", "uU16", "uLabels", "uSmooth", "uMaxCode", "uVmin", "uVmax",
      "uLo", "uHi", "uThreshold", "uOpacity"]) {
      this.u[name] = gl.getUniformLocation(program, name);
    }
    this.vao = gl.createVertexArray();
    this.buffer = gl.createBuffer();
    gl.bindVertexArray(this.vao);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffer);
    const pos = gl.getAttribLocation(program, "aPos");
    const tex = gl.getAttribLocation(program, "aTex");
    gl.enableVertexAttribArray(pos);
    gl.vertexAttribPointer(pos, 2, gl.FLOAT, false, 16, 0);
    gl.enableVertexAttribArray(tex);
    gl.vertexAttribPointer(tex, 2, gl.FLOAT, false, 16, 8);
    gl.bindVertexArray(null);
    this.data = new Float32Array(24 * 64);
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
    gl.useProgram(this.program);
    gl.uniform2f(this.u.uSize, width, height);
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA); // premultiplied output
    gl.bindVertexArray(this.vao);
  }

  /**
   * Draw one overlay's quads.
   * @param {import("./value-codec.js").Style} style
   * @param {{u16: boolean, smooth: boolean, lut: WebGLTexture}} options
   * @param {Array<{texture: WebGLTexture, corners: number[]}>} quads corners: 4 × (device x, y,
   *   tile px u, v) in the order top-left, top-right, bottom-left, bottom-right
   */
  draw(style, options, quads) {
    const gl = this.gl;
    const u = this.u;
    gl.uniform1i(u.uU16, options.u16 ? 1 : 0);
    gl.uniform1i(u.uLabels, style.labels ? 1 : 0);
    gl.uniform1i(u.uSmooth, options.smooth && !style.labels ? 1 : 0); // classes are never blended
    gl.uniform1f(u.uMaxCode, style.maxCode);
    gl.uniform1f(u.uVmin, style.vmin);
    gl.uniform1f(u.uVmax, style.vmax);
    gl.uniform1f(u.uLo, style.lo);
    gl.uniform1f(u.uHi, style.hi);
    gl.uniform1f(u.uThreshold, Number.isFinite(style.threshold) ? style.threshold : -3.0e38);
    gl.uniform1f(u.uOpacity, style.opacity);
    gl.activeTexture(gl.TEXTURE1);
    gl.bindTexture(gl.TEXTURE_2D, options.lut);
    gl.uniform1i(u.uLut, 1);
    gl.uniform1i(u.uTile, 0);
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
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffer);
    gl.bufferData(gl.ARRAY_BUFFER, data.subarray(0, quads.length * 24), gl.STREAM_DRAW);
    gl.activeTexture(gl.TEXTURE0);
    quads.forEach((q, i) => {
      gl.bindTexture(gl.TEXTURE_2D, q.texture);
      gl.drawArrays(gl.TRIANGLES, i * 6, 6);
    });
  }
}
