/**
 * Entry module of the viewer page (/view/<id>): one slide, full window. The only module of the
 * page with side effects; the others only export.
 */

import {
  bindHelpAndKeys, bindToolbar, readData, renderInfoPanel, syncToolbar, urlWriter, viewerActions,
} from "./controls.js";
import { authorName, setAuthorName } from "./author.js";
import { Editor } from "./editor/editor.js";
import { openPersist } from "./editor/persist.js";
import { SaveQueue } from "./editor/save-queue.js";
import { mountSaveStatus, showReadOnly } from "./editor/save-status.js";
import { ConflictDialog } from "./editor/conflict-dialog.js";
import { bindExportPanel } from "./export-panel.js";
import { AnnotationOverlay, annotationsWanted } from "./layers/annotations.js";
import { mountLayersPanel } from "./layers-panel.js";
import { mountOverlays } from "./overlays/overlays-panel.js";
import { SlideViewer } from "./slide-viewer.js";
import { EDITOR_ACTIONS } from "./keys.js";
import { decodeViewState } from "./url-state.js";

function initialize() {
  const app = document.querySelector("[data-viewer-app]");
  const slide = readData(app, "slide");
  const config = readData(document.body, "config");
  let editor = null;
  const toolbar = app.querySelector("[data-toolbar]");
  const panel = app.querySelector("[data-info-panel]");
  const viewer = new SlideViewer(app.querySelector("[data-pane]"), slide);
  // every annotation set of the slide, drawn over it (fetched while the first tiles load)
  const annotations = annotationsWanted(location.search) ? new AnnotationOverlay(viewer) : null;
  // a handle for the layers panel, tests and benchmarks: the pane knows what it shows
  viewer.pane.wsi = { viewer, annotations };
  bindExportPanel(app, slide);
  const active = () => viewer;
  const writeUrl = urlWriter(() => [["", viewer]]);

  viewer.addEventListener("open", () => {
    const state = decodeViewState(location.search);
    if (state) {
      viewer.setViewState(state, true);
    }
    syncToolbar(toolbar, viewer);
  });
  viewer.addEventListener("view-change", () => {
    syncToolbar(toolbar, viewer);
    writeUrl();
  });

  const infoButton = toolbar.querySelector('button[data-action="info"]');
  const togglePanel = (open = panel.hidden) => {
    panel.hidden = !open;
    infoButton.setAttribute("aria-expanded", String(open));
    if (open && !panel.dataset.rendered) {
      renderInfoPanel(panel, slide);
      panel.dataset.rendered = "true";
    }
  };
  panel.querySelector("[data-close]").addEventListener("click", () => togglePanel(false));

  // the layers panel: sets, groups, the list of every annotation, review; changes made elsewhere
  const layersRoot = app.querySelector("[data-layers-panel]");
  // who is editing: kept in this browser, sent with each change (the history names the author)
  const authorInput = layersRoot.querySelector("[data-author-name]");
  authorInput.value = authorName();
  authorInput.addEventListener("change", () => { authorInput.value = setAuthorName(authorInput.value); });
  authorInput.closest(".panel-author").hidden = Boolean(config.readOnly || config.user); // a login names the author
  const layersButton = toolbar.querySelector('button[data-action="layers"]');
  let layers = null;
  if (annotations) {
    // the panel, hover and click on the slide, the change watcher (pane.wsi.panel, .watcher)
    layers = mountLayersPanel(layersRoot, annotations, viewer, { button: layersButton });
    annotations.ready.then(async () => {
      if (config.readOnly) {
        showReadOnly(toolbar);
      } else {
        // the editor: drawing tools, undo, saving (only when the server takes writes)
        const queue = new SaveQueue({
          slideId: slide.id, storage: await openPersist("wsi-viewer-edits"), author: () => authorName(),
        });
        mountSaveStatus(toolbar, queue); // "saved 12:03:14", "offline: 3 changes queued"...; beforeunload
        viewer.pane.wsi.conflicts = new ConflictDialog({ queue, viewer }); // 412s: mine / theirs / both
        viewer.pane.wsi.queue = queue;
        await queue.open(); // replays this slide's changes stored but not confirmed (crash, closed tab)
        editor = new Editor({ viewer, annotations, queue, panel: layers, toolbar, user: config.user ?? null });
        viewer.pane.wsi.editor = editor;
        editor.addEventListener("set-created", (event) => {
          layers.attach(annotations.layer(event.detail.set.id));
          layers.render();
        });
      }
    });
  } else {
    layersButton.disabled = true;
  }
  // heatmaps and label maps over the slide (the demo's likelihood map shows at first open)
  const overlaysButton = toolbar.querySelector("[data-overlays-toggle]");
  const overlays = mountOverlays(viewer, {
    root: app.querySelector("[data-overlays-panel]"), button: overlaysButton, annotations, layersPanel: layers,
    readOnly: Boolean(config.readOnly),
  });
  overlaysButton.addEventListener("click", () => overlays?.overlaysPanel.toggle());

  const actions = {
    ...viewerActions(active, app),
    info: () => togglePanel(),
    layers: () => layers?.toggle(),
    review: (delta) => layers?.review(delta),
    tool: (name) => editor?.setTool(name),
    close() {
      togglePanel(false);
      layers?.toggle(false);
      overlays?.overlaysPanel.toggle(false);
    },
    compare() {
      const params = new URLSearchParams({ left: slide.id, right: slide.id });
      location.assign(`${config.compare}?${params}`);
    },
  };
  const all = bindHelpAndKeys(actions, (s) => s.action !== "lock" && (!config.readOnly || !EDITOR_ACTIONS.includes(s.action)));
  bindToolbar(toolbar, active, all);
  window.addEventListener("resize", () => viewer.updateReadouts());
}

initialize();
