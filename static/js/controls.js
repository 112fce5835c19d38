/**
 * Toolbar, help overlay, info panel and URL syncing shared by the viewer and compare pages.
 * Nothing happens at import; entry modules call these functions.
 */

import { bindShortcuts, renderHelp } from "./keys.js";
import { formatDimensions, formatPhysicalSize, formatResolution } from "./library-model.js";
import { MAGNIFICATIONS, formatMagnification } from "./magnification.js";
import { encodeViewState, sameView } from "./url-state.js";

/**
 * Parse JSON from a data-* attribute.
 * @param {HTMLElement} el
 * @param {string} name dataset key
 * @returns {any}
 */
export function readData(el, name) {
  return JSON.parse(el.dataset[name]);
}

/**
 * Run `fn` at most once per `ms` after the last call.
 * @param {() => void} fn
 * @param {number} ms
 * @returns {() => void}
 */
export function debounce(fn, ms) {
  let timer = 0;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

/**
 * Wire the toolbar buttons ([data-action], [data-mag]) to a function returning the active viewer.
 * @param {HTMLElement} root
 * @param {() => import("./slide-viewer.js").SlideViewer} active
 * @param {Record<string, (arg?: number) => void>} actions page-level actions (help, info, ...)
 */
export function bindToolbar(root, active, actions) {
  root.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("button[data-action], button[data-mag]") : null;
    if (!button || button.disabled) {
      return;
    }
    if (button.dataset.mag) {
      active().zoomToMagnification(Number(button.dataset.mag));
      return;
    }
    const action = actions[button.dataset.action];
    if (action) {
      action(button.dataset.arg === undefined ? undefined : Number(button.dataset.arg));
    }
  });
  const rotation = root.querySelector("[data-rotation]");
  if (rotation) {
    rotation.addEventListener("input", () => active().setRotation(Number(rotation.value), true));
  }
}

/**
 * The actions every viewer page has, acting on the active viewer.
 * @param {() => import("./slide-viewer.js").SlideViewer} active
 * @param {HTMLElement} fullscreenRoot element shown full screen
 * @returns {Record<string, (arg?: number) => void>}
 */
export function viewerActions(active, fullscreenRoot) {
  const PAN = 0.2; // fraction of the view per key press
  return {
    pan(direction) {
      const v = active();
      const el = v.hooks.osd;
      const dx = [0, 0, -1, 1][direction] * el.clientWidth * PAN;
      const dy = [-1, 1, 0, 0][direction] * el.clientHeight * PAN;
      v.panBy(dx, dy);
    },
    zoomBy: (factor) => active().zoomBy(factor),
    magnify: (index) => active().zoomToMagnification(MAGNIFICATIONS[index]),
    fit: () => active().fit(),
    native: () => active().zoomTo(1),
    rotateBy: (degrees) => active().rotateBy(degrees),
    resetRotation: () => active().setRotation(0),
    flip: () => active().toggleFlip(),
    fullscreen() {
      if (document.fullscreenElement) {
        document.exitFullscreen();
      } else if (fullscreenRoot.requestFullscreen) {
        fullscreenRoot.requestFullscreen().catch(() => {});
      }
    },
    async screenshot() {
      const v = active();
      const blob = await v.screenshot();
      const state = v.getViewState(true);
      const stem = v.slide.name.replace(/\.[^.]+$/, "");
      const mag = v.getMagnification();
      const label = mag === null ? `${Math.round(state.zoom * 100)}pct` : formatMagnification(mag).replace("×", "x");
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = `${stem}_x${Math.round(state.x)}_y${Math.round(state.y)}_${label}.png`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    },
  };
}

/**
 * Keep the toolbar in step with a viewer: pressed magnification button, disabled buttons beyond
 * the overzoom cap, rotation slider, flip state.
 * @param {HTMLElement} root toolbar
 * @param {import("./slide-viewer.js").SlideViewer} viewer
 */
export function syncToolbar(root, viewer) {
  const reachable = viewer.reachableMagnifications();
  const active = viewer.pane.dataset.activeMagnification;
  for (const button of root.querySelectorAll("button[data-mag]")) {
    const ok = reachable.get(Number(button.dataset.mag));
    button.disabled = !ok;
    button.title = ok
      ? `${button.dataset.mag}× objective (key ${MAGNIFICATIONS.indexOf(Number(button.dataset.mag)) + 1})`
      : viewer.native
        ? "Beyond 2× the scanned resolution"
        : "Magnification unknown: this slide has no resolution (mpp)";
    button.setAttribute("aria-pressed", String(active === button.dataset.mag));
  }
  if (!viewer.isOpen) {
    return;
  }
  const state = viewer.getViewState(false);
  const rotation = root.querySelector("[data-rotation]");
  if (rotation && document.activeElement !== rotation) {
    rotation.value = String(Math.round(state.rotation));
  }
  const rotationOut = root.querySelector("[data-rotation-readout]");
  if (rotationOut) {
    rotationOut.textContent = `${Math.round(state.rotation)}°`;
  }
  const flip = root.querySelector('button[data-action="flip"]');
  if (flip) {
    flip.setAttribute("aria-pressed", String(state.flip));
  }
}

/**
 * Mirror views into the URL (history.replaceState), a short while after they settle.
 * @param {() => Array<[string, import("./slide-viewer.js").SlideViewer]>} views [prefix, viewer] pairs
 * @returns {() => void} call on every view change
 */
export function urlWriter(views) {
  let last = new Map();
  return debounce(() => {
    let params = new URLSearchParams(location.search);
    let changed = false;
    for (const [prefix, viewer] of views()) {
      if (!viewer.isOpen) {
        continue;
      }
      const state = viewer.getViewState(false);
      if (!sameView(last.get(prefix) ?? null, state)) {
        changed = true;
        last.set(prefix, state);
      }
      params = encodeViewState(state, params, prefix);
    }
    if (changed) {
      history.replaceState(history.state, "", `${location.pathname}?${params}${location.hash}`);
      document.body.dataset.urlState = params.toString();
    }
  }, 250);
}

/**
 * Wire the help dialog ([data-help]) and the keyboard.
 * @param {Record<string, (arg?: number, event?: KeyboardEvent) => void>} actions
 * @param {(s: import("./keys.js").Shortcut) => boolean} [include]
 */
export function bindHelpAndKeys(actions, include) {
  const dialog = document.querySelector("[data-help]");
  renderHelp(dialog.querySelector("[data-help-body]"), include);
  const all = {
    ...actions,
    help() {
      if (dialog.open) {
        dialog.close();
      } else {
        dialog.showModal();
      }
    },
    close() {
      if (dialog.open) {
        dialog.close();
      }
      actions.close?.();
    },
  };
  dialog.querySelector("[data-close]")?.addEventListener("click", () => dialog.close());
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) {
      dialog.close(); // a click on the backdrop
    }
  });
  bindShortcuts(document, all);
  return all;
}

/**
 * Fill the info panel: facts, label/macro images (when served) and every property.
 * @param {HTMLElement} panel
 * @param {object} slide body of GET /api/slides/<id>
 */
export function renderInfoPanel(panel, slide) {
  const body = panel.querySelector("[data-info-body]");
  body.replaceChildren();
  const facts = [
    ["Name", slide.name],
    ["Folder", slide.folder || "(top)"],
    ["Vendor", slide.vendor || "unknown"],
    ["Dimensions", formatDimensions(slide)],
    ["Physical size", formatPhysicalSize(slide) || "unknown (no mpp)"],
    ["Resolution", formatResolution(slide)],
    ["Levels", `${slide.level_count} (downsamples ${slide.level_downsamples.map((d) => +d.toFixed(2)).join(", ")})`],
    ["Bounds", `x ${slide.bounds.x}, y ${slide.bounds.y}, ${slide.bounds.width} × ${slide.bounds.height} px`],
  ];
  if (typeof slide.annotation_count === "number") {
    facts.push(["Annotations", String(slide.annotation_count)]);
  }
  if (slide.quickhash) {
    facts.push(["Quickhash", slide.quickhash.slice(0, 16) + "…"]);
  }
  const dl = document.createElement("dl");
  dl.className = "facts";
  for (const [k, v] of facts) {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v;
    dl.append(dt, dd);
  }
  body.append(section("Slide", dl));

  const associated = slide.urls.associated ?? {};
  const names = Object.keys(associated).filter((n) => n !== "thumbnail");
  if (names.length) {
    const figures = document.createElement("div");
    figures.className = "associated";
    for (const name of names) {
      const figure = document.createElement("figure");
      const img = document.createElement("img");
      img.src = associated[name];
      img.alt = `${name} image of the slide`;
      img.loading = "lazy";
      img.dataset.associated = name;
      const caption = document.createElement("figcaption");
      caption.textContent = name;
      figure.append(img, caption);
      figures.append(figure);
    }
    body.append(section("Label and macro", figures));
  } else if (slide.associated.some((n) => n !== "thumbnail")) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = `This slide has ${slide.associated.filter((n) => n !== "thumbnail").join(" and ")} images; the server does not serve them (SERVE_ASSOCIATED_IMAGES is off).`;
    body.append(section("Label and macro", p));
  }

  const props = Object.entries(slide.properties ?? {});
  const filter = document.createElement("input");
  filter.type = "search";
  filter.placeholder = "Filter properties";
  filter.setAttribute("aria-label", "Filter properties");
  filter.className = "input";
  const table = document.createElement("table");
  table.className = "props";
  const tbody = document.createElement("tbody");
  for (const [k, v] of props) {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = k;
    const td = document.createElement("td");
    td.textContent = v;
    tr.append(th, td);
    tbody.append(tr);
  }
  table.append(tbody);
  filter.addEventListener("input", () => {
    const q = filter.value.toLowerCase();
    for (const tr of tbody.rows) {
      tr.hidden = q !== "" && !tr.textContent.toLowerCase().includes(q);
    }
  });
  body.append(section(`Properties (${props.length})`, filter, table));
}

/**
 * A titled section.
 * @param {string} title
 * @param {...Node} children
 * @returns {HTMLElement}
 */
function section(title, ...children) {
  const s = document.createElement("section");
  const h = document.createElement("h3");
  h.textContent = title;
  s.append(h, ...children);
  return s;
}
