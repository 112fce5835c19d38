/**
 * The CPU side of a layer's two style textures (pure, no DOM): per **slot** (annotation) its
 * flags (hidden, selected, hovered) and style index; per **style** (a group, or the own colour of
 * ungrouped annotations) an RGBA colour whose alpha is the style's opacity, 0 when hidden. The GL
 * renderer uploads the rows that changed; the 2D renderer reads the arrays directly.
 */

import { FLAG_HIDDEN, STATE_WIDTH, STYLE_WIDTH } from "./gl-renderer.js";

export class SlotTable {
  constructor() {
    this.stateRows = 1;
    this.state = new Uint8Array(STATE_WIDTH * 4);
    this.stateDirty = null;
    this.styleRows = 1;
    this.style = new Uint8Array(STYLE_WIDTH * 4);
    this.styleDirty = true;
  }

  /** Make room for `count` slots. */
  ensureSlots(count) {
    const rows = Math.max(1, Math.ceil(count / STATE_WIDTH));
    if (rows > this.stateRows) {
      const next = new Uint8Array(rows * STATE_WIDTH * 4);
      next.set(this.state);
      this.state = next;
      this.stateRows = rows;
    }
  }

  /** Make room for `count` styles. */
  ensureStyles(count) {
    const rows = Math.max(1, Math.ceil(count / STYLE_WIDTH));
    if (rows > this.styleRows) {
      const next = new Uint8Array(rows * STYLE_WIDTH * 4);
      next.set(this.style);
      this.style = next;
      this.styleRows = rows;
      this.styleDirty = true;
    }
  }

  #touch(slot) {
    const row = Math.floor(slot / STATE_WIDTH);
    this.stateDirty = this.stateDirty ? [Math.min(this.stateDirty[0], row), Math.max(this.stateDirty[1], row)] : [row, row];
  }

  /** Set a slot's style index. */
  setSlotStyle(slot, style) {
    this.ensureSlots(slot + 1);
    this.state[slot * 4 + 1] = style & 255;
    this.state[slot * 4 + 2] = (style >> 8) & 255;
    this.#touch(slot);
  }

  /** @returns {number} a slot's style index */
  slotStyle(slot) {
    return this.state[slot * 4 + 1] | (this.state[slot * 4 + 2] << 8);
  }

  /** Set or clear flag bits of a slot. */
  setFlag(slot, flag, on) {
    this.ensureSlots(slot + 1);
    const i = slot * 4;
    const before = this.state[i];
    this.state[i] = on ? before | flag : before & ~flag;
    if (this.state[i] !== before) {
      this.#touch(slot);
    }
  }

  /** @returns {number} a slot's flags */
  flags(slot) {
    return this.state[slot * 4];
  }

  /** Whether a slot is drawn (not hidden, and its style has some opacity). */
  visible(slot) {
    return (this.state[slot * 4] & FLAG_HIDDEN) === 0 && this.style[this.slotStyle(slot) * 4 + 3] > 0;
  }

  /**
   * Set a style's colour and opacity.
   * @param {number} style
   * @param {number[]} rgb 0–255
   * @param {number} alpha 0–1 (0: hidden)
   */
  setStyle(style, rgb, alpha) {
    this.ensureStyles(style + 1);
    const i = style * 4;
    this.style[i] = rgb[0];
    this.style[i + 1] = rgb[1];
    this.style[i + 2] = rgb[2];
    this.style[i + 3] = Math.round(Math.min(Math.max(alpha, 0), 1) * 255);
    this.styleDirty = true;
  }

  /** @returns {{rgb: number[], alpha: number}} a style's colour and opacity */
  styleOf(style) {
    const i = style * 4;
    return { rgb: [this.style[i], this.style[i + 1], this.style[i + 2]], alpha: this.style[i + 3] / 255 };
  }
}
