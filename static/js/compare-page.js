/**
 * Entry module of compare mode (/compare?left=<id>&right=<id>): two slides side by side, pan,
 * zoom and rotation synchronised while the lock is on (sync.js). The toolbar and keys act on the
 * active view (the one last pointed at or focused); the other follows when linked. Each pane has
 * its own layers panel (its button in the pane's head, `Shift+A` for the active pane's); the review
 * keys step through the active pane's list; each pane's hidden sets and groups are in the URL
 * with its prefix (`lhide=`, `lhg=`, `rhide=`, `rhg=`).
 */

import { listSlides } from "./api.js";
import { AnnotationOverlay, annotationsWanted } from "./layers/annotations.js";
import { mountLayersPanel } from "./layers-panel.js";
import { mountOverlays } from "./overlays/overlays-panel.js";
import {
  bindHelpAndKeys, bindToolbar, readData, syncToolbar, urlWriter, viewerActions,
} from "./controls.js";
import { EDITOR_ACTIONS } from "./keys.js";
import { SlideViewer } from "./slide-viewer.js";
import { followView } from "./sync.js";
import { decodeViewState } from "./url-state.js";

function initialize() {
  const app = document.querySelector("[data-compare-app]");
  const toolbar = app.querySelector("[data-toolbar]");
  const config = readData(document.body, "config");
  const panes = app.querySelectorAll("[data-pane]");
  const views = {
    l: new SlideViewer(panes[0], readData(app, "left")),
    r: new SlideViewer(panes[1], readData(app, "right")),
  };
  const panels = { l: null, r: null };
  for (const [key, viewer] of Object.entries(views)) {
    const side = viewer.pane.closest("[data-side]");
    const button = side.querySelector("[data-layers-toggle]");
    if (!annotationsWanted(location.search)) {
      button.disabled = true;
      continue;
    }
    const overlay = new AnnotationOverlay(viewer);
    viewer.pane.wsi = { viewer, annotations: overlay };
    // no editor in compare mode: no active set / group to choose
    panels[key] = mountLayersPanel(side.querySelector("[data-layers-panel]"), overlay, viewer, {
      prefix: key, button, activeControls: false,
    });
    button.addEventListener("click", () => panels[key].toggle());
  }
  const overlayPanels = { l: null, r: null };
  for (const [key, viewer] of Object.entries(views)) {
    // each pane's heatmaps, their settings in the URL with its prefix (lov=, rov=)
    const side = viewer.pane.closest("[data-side]");
    const button = side.querySelector("[data-overlays-toggle]");
    const mounted = mountOverlays(viewer, {
      root: side.querySelector("[data-overlays-panel]"), button, prefix: key,
      annotations: viewer.pane.wsi?.annotations ?? null, layersPanel: panels[key], readOnly: Boolean(config.readOnly),
    });
    overlayPanels[key] = mounted?.overlaysPanel ?? null;
    button.addEventListener("click", () => overlayPanels[key]?.toggle());
  }
  const params = new URLSearchParams(location.search);
  let locked = params.get("lock") !== "0";
  let activeKey = "l";
  let syncing = false;
  const last = { l: null, r: null }; // last seen state of each view, for incremental sync
  const active = () => views[activeKey];
  const writeUrl = urlWriter(() => [["l", views.l], ["r", views.r]]);

  const setActive = (key) => {
    activeKey = key;
    for (const [k, v] of Object.entries(views)) {
      v.pane.classList.toggle("is-active", k === key);
    }
    app.querySelector("[data-active-label]").textContent = `active: ${key === "l" ? "left" : "right"}`;
    syncToolbar(toolbar, active());
  };

  const showLock = () => {
    const button = toolbar.querySelector('[data-action="lock"]');
    button.setAttribute("aria-pressed", String(locked));
    app.querySelector("[data-lock-label]").textContent = locked ? "Linked" : "Unlinked";
    const p = new URLSearchParams(location.search);
    if (locked) {
      p.delete("lock");
    } else {
      p.set("lock", "0");
    }
    history.replaceState(history.state, "", `${location.pathname}?${p}`);
  };

  let opened = 0;
  for (const [key, viewer] of Object.entries(views)) {
    const other = key === "l" ? "r" : "l";
    viewer.addEventListener("open", () => {
      const state = decodeViewState(location.search, key);
      if (state) {
        viewer.setViewState(state, true);
      }
      last[key] = viewer.getViewState(true);
      opened += 1;
      if (opened === 2) {
        app.dataset.ready = "true";
        setActive(activeKey);
      }
    });
    viewer.addEventListener("view-change", () => {
      if (!viewer.isOpen) {
        return;
      }
      const now = viewer.getViewState(true);
      // Only the active view (the one the user points at, types to or clicks for) leads; the
      // other one's own change events, caused by following, must not echo back.
      if (key === activeKey && !syncing && locked && last[key] && views[other].isOpen && last[other]) {
        syncing = true;
        const next = followView(last[key], now, last[other]);
        views[other].setViewState(next, true);
        last[other] = views[other].getViewState(true);
        syncing = false;
      }
      last[key] = now;
      if (key === activeKey) {
        syncToolbar(toolbar, viewer);
      }
      writeUrl();
    });
    // the pane and its layers panel: pointing at or typing in either makes the view active
    const side = viewer.pane.closest("[data-side]");
    side.addEventListener("pointerdown", () => setActive(key));
    side.addEventListener("pointerenter", () => setActive(key));
    side.addEventListener("focusin", () => setActive(key));
  }

  const actions = {
    ...viewerActions(active, app),
    lock() {
      locked = !locked;
      for (const key of ["l", "r"]) {
        if (views[key].isOpen) {
          last[key] = views[key].getViewState(true);
        }
      }
      showLock();
    },
  };
  actions.layers = () => panels[activeKey]?.toggle();
  actions.review = (delta) => panels[activeKey]?.review(delta);
  actions.close = () => [...Object.values(panels), ...Object.values(overlayPanels)].forEach((p) => p?.toggle(false));
  const all = bindHelpAndKeys(actions, (s) => s.action !== "info" && !EDITOR_ACTIONS.includes(s.action)); // no editor here
  bindToolbar(toolbar, active, all);
  showLock();

  // Fill the slide pickers; choosing a slide reloads compare mode with it.
  listSlides(config.slides).then((slides) => {
    for (const select of app.querySelectorAll("[data-picker]")) {
      const current = select.value;
      select.replaceChildren();
      for (const slide of slides.filter((s) => !s.error)) {
        const option = new Option(slide.id, slide.id, false, slide.id === current);
        select.append(option);
      }
      select.addEventListener("change", () => {
        const p = new URLSearchParams(location.search);
        p.set(select.dataset.picker, select.value);
        const prefix = select.dataset.picker === "left" ? "l" : "r";
        for (const k of ["x", "y", "z", "r", "flip", "hide", "hg", "ov"]) {
          p.delete(`${prefix}${k}`);
        }
        location.assign(`${location.pathname}?${p}`);
      });
    }
  }).catch(() => {});
  window.addEventListener("resize", () => Object.values(views).forEach((v) => v.updateReadouts()));
}

initialize();
