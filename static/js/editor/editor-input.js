/**
 * The editor's pointer and keys on the pane (DOM): a press moving less than 4 CSS px is a click
 * (`pt.click` on `up`), else a drag (`pt.dragging` on `move`); a second click within 400 ms and
 * 4 px is also a `dblclick`. The middle button, space+drag and a two-finger drag pan in every tool
 * (two fingers also pinch-zoom: `gestures.js`);
 * the wheel stays OpenSeadragon's (zoom). While a drawing tool is active OpenSeadragon gets no
 * press, click or double-click (capture-phase listeners stop them), so its drag-to-pan and
 * click-to-zoom are off; navigation tools (`navigates: true`) leave the pointer to it.
 * Keys: Ctrl+Z undo, Ctrl+Shift+Z / Ctrl+Y redo; while a shape is drawn, Enter, Backspace, Delete
 * and Escape go to the tool first (so Escape cancels the shape, not a panel), and the keys its
 * session lists in `keys` ("Ctrl+c" for Ctrl ones); an Escape the tool does not take returns to
 * the select tool.
 */

import { twoFingerStep } from "./gestures.js";
import { CLICK_PX } from "./tools/common.js";

/* global OpenSeadragon */

const DOUBLE_CLICK_MS = 400;

export class EditorInput {
  /** @param {import("./editor.js").Editor} editor */
  constructor(editor) {
    this.editor = editor;
    this.press = null;
    this.pan = null;
    this.touches = new Map();
    this.lastClick = null;
    this.spaceHeld = false;
    this.bindPointer();
    this.bindKeys();
  }

  bindPointer() {
    const ed = this.editor;
    const host = ed.viewer.hooks.osd;
    const stop = (event) => {
      event.stopPropagation();
      event.preventDefault();
    };
    host.addEventListener("pointerdown", (event) => {
      if (event.pointerType === "touch" && ed.drawing) {
        this.touches.set(event.pointerId, { x: event.clientX, y: event.clientY });
      }
      const twoFingers = event.pointerType === "touch" && this.touches.size >= 2;
      const panButton = event.button === 1 || (event.button === 0 && this.spaceHeld) || twoFingers;
      if (!ed.drawing && !(panButton && ed.tool?.navigates !== true)) {
        return; // navigation tools: OpenSeadragon's own gestures
      }
      stop(event);
      host.setPointerCapture?.(event.pointerId);
      // the press's default (focus) is prevented: keys (Enter, Space, Backspace) go to the slide,
      // not to the tool button clicked before
      if (!host.contains(document.activeElement)) {
        ed.viewer.osd.canvas.focus?.({ preventScroll: true });
      }
      if (panButton) {
        if (this.press) {
          this.press = null;
          ed.handle(ed.session?.cancel?.()); // a second finger: the first one's stroke was a pan
        }
        this.pan = { x: event.clientX, y: event.clientY, id: event.pointerId };
        return;
      }
      if (event.button !== 0) {
        return;
      }
      this.press = { x: event.clientX, y: event.clientY, id: event.pointerId, moved: false };
      ed.handle(ed.session?.down?.(ed.pointOf(event)));
    }, true);
    host.addEventListener("pointermove", (event) => {
      const before = this.touches.get(event.pointerId);
      const to = { x: event.clientX, y: event.clientY };
      const pinch = before && this.pan ? twoFingerStep(this.touches, event.pointerId, to) : null;
      if (before) {
        this.touches.set(event.pointerId, to);
      }
      if (this.pan) {
        if (pinch) {
          // two fingers: the view follows their midpoint and zooms by their distance (a pinch)
          this.panBy(-pinch.pan[0], -pinch.pan[1]);
          if (pinch.zoomBy !== 1) {
            const rect = ed.viewer.osd.canvas.getBoundingClientRect();
            ed.zoomAt(pinch.zoomBy, [pinch.at[0] - rect.left, pinch.at[1] - rect.top]);
          }
        } else if (before && this.touches.size >= 2) {
          // two fingers: the view follows their midpoint
          this.panBy(-(event.clientX - before.x) / this.touches.size, -(event.clientY - before.y) / this.touches.size);
        } else if (event.pointerId === this.pan.id) {
          this.panBy(this.pan.x - event.clientX, this.pan.y - event.clientY);
          this.pan.x = event.clientX;
          this.pan.y = event.clientY;
        }
        event.stopPropagation();
        return;
      }
      if (!ed.drawing) {
        return;
      }
      if (this.press && event.pointerId === this.press.id
          && Math.hypot(event.clientX - this.press.x, event.clientY - this.press.y) >= CLICK_PX) {
        this.press.moved = true;
      }
      if (this.press && event.pointerId !== this.press.id) {
        return;
      }
      ed.handle(ed.session?.move?.(ed.pointOf(event, { dragging: Boolean(this.press?.moved), pressed: Boolean(this.press) })));
    }, true);
    const end = (event) => {
      this.touches.delete(event.pointerId);
      if (this.pan) {
        if (event.pointerId === this.pan.id || this.touches.size === 0) {
          this.pan = null;
        }
        stop(event);
        return;
      }
      if (!this.press || event.pointerId !== this.press.id) {
        return;
      }
      stop(event);
      const click = !this.press.moved && event.type === "pointerup";
      this.press = null;
      const pt = ed.pointOf(event, { click });
      if (event.type !== "pointerup") {
        ed.handle(ed.session?.cancel?.());
        return;
      }
      ed.handle(ed.session?.up?.(pt));
      const last = this.lastClick;
      if (click && last && pt.time - last.time < DOUBLE_CLICK_MS
          && Math.hypot(pt.element[0] - last.element[0], pt.element[1] - last.element[1]) < CLICK_PX) {
        this.lastClick = null;
        ed.handle(ed.session?.dblclick?.(pt));
      } else {
        this.lastClick = click ? pt : null;
      }
    };
    host.addEventListener("pointerup", end, true);
    host.addEventListener("pointercancel", end, true);
    for (const type of ["click", "dblclick", "contextmenu"]) {
      host.addEventListener(type, (event) => {
        if (ed.drawing && !(type === "contextmenu" && !ed.session?.drawing)) {
          stop(event);
        }
      }, true);
    }
  }

  panBy(dx, dy) {
    const ed = this.editor;
    const viewport = ed.viewer.osd.viewport;
    const flipDx = viewport.getFlip() ? -dx : dx;
    viewport.panBy(viewport.deltaPointsFromPixels(new OpenSeadragon.Point(flipDx, dy)), true);
  }

  // ---------------------------------------------------------------------------------------------
  // Keys

  bindKeys() {
    const ed = this.editor;
    const inField = (el) => el instanceof Element && el.closest("input, select, textarea, [contenteditable]");
    document.addEventListener("keydown", (event) => {
      if (inField(event.target)) {
        return;
      }
      const ctrl = event.ctrlKey || event.metaKey;
      const key = event.key;
      if (ctrl && !event.altKey && (key === "z" || key === "Z" || key === "y" || key === "Y")) {
        event.preventDefault();
        event.stopPropagation();
        if ((key === "z" && !event.shiftKey)) {
          ed.undo();
        } else {
          ed.redo();
        }
        return;
      }
      if (key === " " && !(event.target instanceof HTMLButtonElement)) {
        this.spaceHeld = true;
        if (ed.drawing) {
          event.preventDefault();
        }
        return;
      }
      // a tool asks for more keys in `session.keys`, Ctrl ones as "Ctrl+c" (select: copy, paste, duplicate)
      const name = ctrl ? `Ctrl+${key.toLowerCase()}` : key;
      const wanted = ed.session?.key && !event.altKey && (ctrl
        ? ed.session.keys?.includes(name)
        : ["Enter", "Backspace", "Delete", "Escape"].includes(key) || ed.session.keys?.includes(key));
      const result = wanted ? ed.session.key({ key, shift: event.shiftKey, ctrl }) : undefined;
      if (result !== undefined) {
        event.preventDefault();
        event.stopPropagation();
        ed.handle(result);
      } else if (key === "Escape" && !ctrl && ed.drawing && ed.tool?.name !== "select") {
        // Esc with nothing to cancel returns a drawing tool to select (a panel still closes); the
        // navigation tools stay (Esc there closes help and panels only)
        ed.setTool("select");
      }
    }, true);
    document.addEventListener("keyup", (event) => {
      if (event.key === " ") {
        this.spaceHeld = false;
      }
    });
    window.addEventListener("blur", () => {
      this.spaceHeld = false;
    });
  }}
