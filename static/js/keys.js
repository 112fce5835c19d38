/**
 * Keyboard shortcuts: one table (shown by the "?" help overlay) and a handler that dispatches
 * keydown events to named actions. Nothing happens at import.
 */

/**
 * @typedef {{keys: string[], action: string, label: string, arg?: number|string, group: string}} Shortcut
 */

/** @type {readonly Shortcut[]} The shortcuts of the viewer, in the order the help lists them. */
export const SHORTCUTS = Object.freeze([
  { keys: ["ArrowUp"], action: "pan", arg: 0, label: "Pan up", group: "Navigate" },
  { keys: ["ArrowDown"], action: "pan", arg: 1, label: "Pan down", group: "Navigate" },
  { keys: ["ArrowLeft"], action: "pan", arg: 2, label: "Pan left", group: "Navigate" },
  { keys: ["ArrowRight"], action: "pan", arg: 3, label: "Pan right", group: "Navigate" },
  { keys: ["+", "="], action: "zoomBy", arg: 1.5, label: "Zoom in", group: "Navigate" },
  { keys: ["-", "_"], action: "zoomBy", arg: 1 / 1.5, label: "Zoom out", group: "Navigate" },
  { keys: ["1"], action: "magnify", arg: 0, label: "1.25× objective", group: "Magnification" },
  { keys: ["2"], action: "magnify", arg: 1, label: "2.5× objective", group: "Magnification" },
  { keys: ["3"], action: "magnify", arg: 2, label: "5× objective", group: "Magnification" },
  { keys: ["4"], action: "magnify", arg: 3, label: "10× objective", group: "Magnification" },
  { keys: ["5"], action: "magnify", arg: 4, label: "20× objective", group: "Magnification" },
  { keys: ["6"], action: "magnify", arg: 5, label: "40× objective", group: "Magnification" },
  { keys: ["0"], action: "fit", label: "Fit the slide to the window", group: "Magnification" },
  { keys: ["n"], action: "native", label: "Native resolution (1:1)", group: "Magnification" },
  { keys: ["e"], action: "rotateBy", arg: 90, label: "Rotate 90° clockwise", group: "View" },
  { keys: ["E"], action: "rotateBy", arg: -90, label: "Rotate 90° anticlockwise", group: "View" },
  { keys: ["]"], action: "rotateBy", arg: 5, label: "Rotate 5° clockwise", group: "View" },
  { keys: ["["], action: "rotateBy", arg: -5, label: "Rotate 5° anticlockwise", group: "View" },
  { keys: ["h"], action: "flip", label: "Mirror (flip horizontally)", group: "View" },
  { keys: ["F"], action: "fullscreen", label: "Full screen", group: "View" },
  { keys: ["P"], action: "screenshot", label: "Save the view as PNG", group: "View" },
  { keys: ["I"], action: "info", label: "Slide information panel", group: "Panels" },
  { keys: ["l"], action: "lock", label: "Lock / unlock the two views (compare)", group: "Panels" },
  { keys: ["A"], action: "layers", label: "Annotation layers panel", group: "Annotations" },
  { keys: ["."], action: "review", arg: 1, label: "Review: next annotation of the list", group: "Annotations" },
  { keys: [","], action: "review", arg: -1, label: "Review: previous annotation of the list", group: "Annotations" },
  // ASAP's tool keys (ASAP_FORMAT.md §9), plus f for freehand
  { keys: ["v"], action: "tool", arg: "select", label: "Select and edit (Esc in another tool comes back)", group: "Draw" },
  { keys: ["x"], action: "tool", arg: "pan", label: "Pan tool (drag pans, double-click zooms)", group: "Draw" },
  { keys: ["z"], action: "tool", arg: "zoom", label: "Zoom tool (drag up or down, click zooms in)", group: "Draw" },
  { keys: ["d"], action: "tool", arg: "dot", label: "Dot", group: "Draw" },
  { keys: ["r"], action: "tool", arg: "rectangle", label: "Rectangle (drag, or click two corners; double-click: of a given size)", group: "Draw" },
  { keys: ["p"], action: "tool", arg: "polygon", label: "Polygon (click vertices)", group: "Draw" },
  { keys: ["f"], action: "tool", arg: "freehand", label: "Freehand (drag)", group: "Draw" },
  { keys: ["s"], action: "tool", arg: "spline", label: "Spline (click control points)", group: "Draw" },
  { keys: ["i"], action: "tool", arg: "pointset", label: "Point set (click points, Enter ends)", group: "Draw" },
  { keys: ["m"], action: "tool", arg: "ruler", label: "Measurement ruler (two clicks)", group: "Draw" },
  { keys: ["b"], action: "tool", arg: "brush", label: "Brush: drag adds to the selected polygon, Alt+drag cuts", group: "Draw" },
  { keys: ["c"], action: "drawing", label: "Brush: switch between add and cut", group: "Draw" },
  { keys: ["<", ">"], action: "drawing", label: "Brush: smaller / larger", group: "Draw" },
  { keys: ["Shift+click"], action: "editing", label: "Select: add or remove an annotation (drag on empty space: box)", group: "Edit" },
  { keys: ["Alt+click"], action: "editing", label: "Select: delete the vertex clicked (click an edge: insert one)", group: "Edit" },
  { keys: ["Delete"], action: "editing", label: "Select: delete the clicked vertex, else the selection", group: "Edit" },
  { keys: ["Ctrl+D"], action: "editing", label: "Duplicate the selection", group: "Edit" },
  { keys: ["Ctrl+C", "Ctrl+V"], action: "editing", label: "Copy, paste (also on another slide)", group: "Edit" },
  { keys: ["Ctrl+Z"], action: "undo", label: "Undo", group: "Draw" },
  { keys: ["Ctrl+Shift+Z", "Ctrl+Y"], action: "redo", label: "Redo", group: "Draw" },
  { keys: ["?"], action: "help", label: "This help", group: "Panels" },
  { keys: ["Escape"], action: "close", label: "Close help or panel (while drawing: cancel the shape)", group: "Panels" },
  { keys: ["Enter"], action: "drawing", label: "Close the polygon, end the point set", group: "Draw" },
  { keys: ["Backspace"], action: "drawing", label: "Remove the last point drawn", group: "Draw" },
  { keys: ["Space"], action: "drawing", label: "Hold and drag to pan in any tool (or the middle button)", group: "Draw" },
]);

/** Actions of the editor: a page without it (compare, read-only) leaves them out of its help. */
export const EDITOR_ACTIONS = Object.freeze(["tool", "undo", "redo", "drawing", "editing"]);

/** How keys are written in the help ("ArrowUp" -> "↑"). */
const KEY_NAMES = {
  ArrowUp: "↑", ArrowDown: "↓", ArrowLeft: "←", ArrowRight: "→", Escape: "Esc", A: "Shift+A", E: "Shift+E",
  F: "Shift+F", I: "Shift+I", P: "Shift+P", Enter: "Enter", Backspace: "Backspace", Space: "Space",
};

/**
 * A key as shown to the user.
 * @param {string} key
 * @returns {string}
 */
export function keyLabel(key) {
  return KEY_NAMES[key] ?? (key.includes("+") ? key : key.toUpperCase());
}

/**
 * The shortcut for a key event, or null.
 * @param {{key: string, ctrlKey?: boolean, metaKey?: boolean, altKey?: boolean}} event
 * @param {readonly Shortcut[]} [table=SHORTCUTS]
 * @returns {Shortcut|null}
 */
export function shortcutFor(event, table = SHORTCUTS) {
  if (event.ctrlKey || event.metaKey || event.altKey) {
    return null; // leave browser shortcuts alone
  }
  return table.find((s) => s.keys.includes(event.key)) ?? null;
}

/**
 * Dispatch keydown events on `target` to `handlers[action](arg, event)`.
 * Typing in form fields is left alone.
 * @param {EventTarget} target usually `document`
 * @param {Record<string, (arg: number|string|undefined, event: KeyboardEvent) => void>} handlers
 * @returns {() => void} a function that removes the listener
 */
export function bindShortcuts(target, handlers) {
  const listener = (event) => {
    const el = event.target;
    if (el instanceof Element && el.closest("input, select, textarea, [contenteditable]")) {
      if (event.key !== "Escape") {
        return;
      }
    }
    const shortcut = shortcutFor(event);
    if (!shortcut || !handlers[shortcut.action]) {
      return;
    }
    event.preventDefault();
    handlers[shortcut.action](shortcut.arg, event);
  };
  target.addEventListener("keydown", listener);
  return () => target.removeEventListener("keydown", listener);
}

/**
 * Fill a help element: one table per group, listing every shortcut.
 * @param {HTMLElement} container
 * @param {(shortcut: Shortcut) => boolean} [include] filter (e.g. drop compare-only keys)
 */
export function renderHelp(container, include = () => true) {
  const groups = new Map();
  for (const s of SHORTCUTS.filter(include)) {
    if (!groups.has(s.group)) {
      groups.set(s.group, []);
    }
    groups.get(s.group).push(s);
  }
  container.replaceChildren();
  for (const [group, items] of groups) {
    const section = document.createElement("section");
    const h = document.createElement("h3");
    h.textContent = group;
    const dl = document.createElement("dl");
    for (const s of items) {
      const dt = document.createElement("dt");
      s.keys.forEach((k, i) => {
        if (i) {
          dt.append(" ");
        }
        const kbd = document.createElement("kbd");
        kbd.textContent = keyLabel(k);
        dt.append(kbd);
      });
      const dd = document.createElement("dd");
      dd.textContent = s.label;
      dl.append(dt, dd);
    }
    section.append(h, dl);
    container.append(section);
  }
}
