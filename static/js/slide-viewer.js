/**
 * One slide in one OpenSeadragon viewer, with its readouts: magnification, scale bar, cursor
 * position. Used by the viewer page (one) and compare mode (two). Nothing happens at import.
 *
 * The pane element holds the hooks (all optional but `[data-osd]`):
 *   [data-osd]            the OpenSeadragon container
 *   [data-mag-readout]    current magnification ("20×", or % of native without mpp)
 *   [data-scalebar]       scale bar; [data-scalebar-bar] its line, [data-scalebar-label] its text
 *   [data-scale-notice]   shown instead of the scale bar when the slide has no mpp
 *   [data-overzoom]       shown while zoomed past the scanned resolution
 *   [data-cursor-px], [data-cursor-um]  pointer position in slide space
 *
 * Events (CustomEvent on the instance): "open", "view-change" (every frame), "view-settled"
 * (after animations), "first-viewport" ({detail: {ms}} once every tile of the first view is drawn).
 *
 * Layers: the slide's own TiledImage is `slideImage` (named, not "world item 0"), so other tiled
 * images (heatmaps) may join the world without touching the first-viewport logic or the zoom
 * maths. Overlays drawn on their own canvas (annotations, issue 12; heatmaps, 14; the editor, 13)
 * are layers: `addLayer(layer)` gives `layer.attach(stage)` the viewer's one overlay stage
 * (`layers/stage.js`: one WebGL2 canvas, or Canvas 2D without WebGL2, made on first use);
 * `removeLayer(layer)` calls `layer.detach()`. `layers` lists them in drawing order.
 */

import { chooseScaleBar, formatSlidePoint, imageToSlide, slideToImage, unflipElementX, validMpp } from "./coords.js";
import {
  MAGNIFICATIONS, MAX_OVERZOOM, formatMagnification, formatZoomPercent, isReachable,
  magnificationToZoom, matchingMagnification, nativeMagnification, zoomToMagnification,
} from "./magnification.js";
import { OverlayStage, webglDisabledBy } from "./layers/stage.js";
import { normalizeRotation } from "./url-state.js";

/* global OpenSeadragon */

/**
 * OpenSeadragon's tile folder of a DZI descriptor, derived exactly as OpenSeadragon does.
 * @param {string} dziUrl
 * @returns {string}
 */
function dziFilesUrl(dziUrl) {
  return dziUrl.replace(/([^/]+?)(\.(dzi|xml|js)?(\?[^/]*)?)?\/?$/, "$1_files/");
}

/**
 * The inline DZI tile source of a slide (saves fetching the .dzi descriptor).
 * @param {object} slide body of GET /api/slides/<id>
 * @returns {object}
 */
function tileSourceOf(slide) {
  const dz = slide.deepzoom;
  return {
    Image: {
      xmlns: "http://schemas.microsoft.com/deepzoom/2008",
      Url: dziFilesUrl(slide.urls.dzi),
      Format: dz.format,
      Overlap: String(dz.overlap),
      TileSize: String(dz.tile_size),
      Size: { Width: String(dz.width), Height: String(dz.height) },
    },
  };
}

/** A slide shown in an OpenSeadragon viewer, with readouts. */
export class SlideViewer extends EventTarget {
  /**
   * @param {HTMLElement} pane element holding the hooks listed in the module docstring
   * @param {object} slide body of GET /api/slides/<id>
   * @param {{navigator?: boolean}} [options]
   */
  constructor(pane, slide, options = {}) {
    super();
    this.pane = pane;
    this.slide = slide;
    this.transform = slide.image_to_slide ?? { offset_x: 0, offset_y: 0, scale: 1 };
    this.mppX = validMpp(slide.mpp_x);
    this.mppY = validMpp(slide.mpp_y) ?? this.mppX;
    this.native = nativeMagnification(this.mppX, slide.objective_power);
    this.pointer = null; // last pointer position in element CSS px
    this.slideImage = null; // the slide's TiledImage, once OpenSeadragon has added it
    this.layers = [];
    this.stage = null;
    this.startedAt = performance.now();
    this.firstViewportMs = null;
    this.hooks = {
      osd: pane.querySelector("[data-osd]"),
      mag: pane.querySelector("[data-mag-readout]"),
      scalebar: pane.querySelector("[data-scalebar]"),
      scalebarBar: pane.querySelector("[data-scalebar-bar]"),
      scalebarLabel: pane.querySelector("[data-scalebar-label]"),
      scaleNotice: pane.querySelector("[data-scale-notice]"),
      overzoom: pane.querySelector("[data-overzoom]"),
      cursorPx: pane.querySelector("[data-cursor-px]"),
      cursorUm: pane.querySelector("[data-cursor-um]"),
    };
    this.osd = OpenSeadragon({
      element: this.hooks.osd,
      tileSources: tileSourceOf(slide),
      // The 2D-canvas drawer: exact pixels for screenshots and tests, no WebGL context limits.
      drawer: "canvas",
      showNavigationControl: false,
      showNavigator: options.navigator ?? true,
      navigatorPosition: "BOTTOM_RIGHT",
      navigatorSizeRatio: 0.16,
      navigatorAutoFade: false,
      navigatorMaintainSizeRatio: true,
      maxZoomPixelRatio: MAX_OVERZOOM,
      minZoomImageRatio: 0.2,
      visibilityRatio: 0.25,
      constrainDuringPan: false,
      animationTime: 0.3,
      springStiffness: 9,
      // No cross-fade: a tile is either the right one or not drawn over the coarser level,
      // so the view never looks soft once it is at rest.
      blendTime: 0,
      alwaysBlend: false,
      immediateRender: false,
      imageLoaderLimit: 12,
      // Ask for several tiles per frame (OpenSeadragon's default is one), so a full viewport is
      // requested in a few frames instead of one tile every 16 ms.
      maxTilesPerFrame: 8,
      timeout: 60000,
      zoomPerScroll: 1.35,
      zoomPerClick: 2,
      preserveImageSizeOnResize: true,
      gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: true, flickEnabled: false },
      gestureSettingsTouch: { pinchRotate: true },
      crossOriginPolicy: false,
    });
    // OpenSeadragon's canvas is the one focus stop of the slide; name it for screen readers.
    this.osd.canvas.setAttribute("role", "application");
    this.osd.canvas.setAttribute(
      "aria-label", `Slide ${slide.name}: drag or arrow keys to pan, scroll or + and - to zoom, ? for all keys`,
    );
    // Our shortcuts (keys.js) replace OpenSeadragon's own (its "f" flips, ours is full screen).
    this.osd.addHandler("canvas-key", (event) => {
      event.preventDefaultAction = true;
    });
    this.osd.addHandler("open", () => {
      this.updateReadouts();
      this.dispatchEvent(new CustomEvent("open"));
    });
    this.osd.addHandler("viewport-change", () => {
      this.updateReadouts();
      this.dispatchEvent(new CustomEvent("view-change"));
    });
    // Flipping does not animate, so OpenSeadragon raises no viewport-change for it.
    this.osd.addHandler("flip", () => {
      this.updateReadouts();
      this.dispatchEvent(new CustomEvent("view-change"));
    });
    this.osd.addHandler("animation-finish", () => {
      this.updateReadouts();
      this.dispatchEvent(new CustomEvent("view-settled"));
    });
    this.osd.addHandler("resize", () => this.updateReadouts());
    this.osd.world.addHandler("add-item", (event) => {
      if (this.slideImage !== null) {
        return; // another layer's tiled image: the readouts and first viewport are the slide's
      }
      this.slideImage = event.item; // the constructor opens the slide before anything else
      event.item.addHandler("fully-loaded-change", (e) => {
        if (e.fullyLoaded && this.firstViewportMs === null) {
          this.firstViewportMs = performance.now();
          pane.dataset.firstViewportMs = String(Math.round(this.firstViewportMs));
          this.dispatchEvent(new CustomEvent("first-viewport", { detail: { ms: this.firstViewportMs } }));
        }
        pane.dataset.fullyLoaded = e.fullyLoaded ? "true" : "false";
      });
    });
    this.hooks.osd.addEventListener("pointermove", (event) => {
      const rect = this.hooks.osd.getBoundingClientRect();
      this.pointer = { x: event.clientX - rect.left, y: event.clientY - rect.top };
      this.updateCursor();
    });
    this.hooks.osd.addEventListener("pointerleave", () => {
      this.pointer = null;
      this.updateCursor();
    });
  }

  /** @returns {any} the slide's TiledImage, or null before "open" */
  get image() {
    return this.slideImage;
  }

  /**
   * The overlay stage of this viewer (one canvas over the tiles), made on first use.
   * @returns {OverlayStage}
   */
  overlayStage() {
    if (!this.stage) {
      this.stage = new OverlayStage(this, { forceCanvas: webglDisabledBy(location.search) });
    }
    return this.stage;
  }

  /**
   * Add an overlay layer on top of the others: `layer.attach(stage)` is called.
   * @param {{attach: (stage: OverlayStage) => void, detach: () => void}} layer
   */
  addLayer(layer) {
    this.layers.push(layer);
    layer.attach(this.overlayStage());
  }

  /**
   * Remove an overlay layer: `layer.detach()` is called.
   * @param {{detach: () => void}} layer
   */
  removeLayer(layer) {
    const index = this.layers.indexOf(layer);
    if (index >= 0) {
      this.layers.splice(index, 1);
      layer.detach();
    }
  }

  /** @returns {boolean} whether the slide has opened */
  get isOpen() {
    return this.image !== null;
  }

  /**
   * Current image zoom: screen CSS px per slide px (1 = native resolution).
   * @param {boolean} [current=true] the drawn zoom (true) or the animation's target (false)
   * @returns {number}
   */
  getZoom(current = true) {
    const image = this.image;
    if (!image) {
      return 0;
    }
    const scale = this.transform.scale || 1;
    return image.viewportToImageZoom(this.osd.viewport.getZoom(current)) / scale;
  }

  /**
   * The magnification (objective equivalent), or null when the slide has no mpp/objective.
   * @param {boolean} [current=true]
   * @returns {number|null}
   */
  getMagnification(current = true) {
    return this.native ? zoomToMagnification(this.getZoom(current), this.native.mag) : null;
  }

  /**
   * The view in slide space (for the URL, compare sync and screenshots).
   * @param {boolean} [current=false] target of the animation (false) or what is drawn (true)
   * @returns {import("./url-state.js").ViewState}
   */
  getViewState(current = false) {
    const image = this.image;
    const viewport = this.osd.viewport;
    const centre = imageToSlide(image.viewportToImageCoordinates(viewport.getCenter(current)), this.transform);
    return {
      x: centre.x,
      y: centre.y,
      zoom: this.getZoom(current),
      rotation: normalizeRotation(viewport.getRotation(current)),
      flip: viewport.getFlip(),
    };
  }

  /**
   * Show a view given in slide space.
   * @param {import("./url-state.js").ViewState} state
   * @param {boolean} [immediately=false]
   */
  setViewState(state, immediately = false) {
    const image = this.image;
    const viewport = this.osd.viewport;
    if (viewport.getFlip() !== Boolean(state.flip)) {
      viewport.setFlip(Boolean(state.flip));
    }
    viewport.setRotation(state.rotation, immediately);
    const image_pt = slideToImage(state, this.transform);
    viewport.zoomTo(image.imageToViewportZoom(state.zoom * (this.transform.scale || 1)), null, immediately);
    viewport.panTo(image.imageToViewportCoordinates(image_pt.x, image_pt.y), immediately);
    viewport.applyConstraints(immediately);
  }

  /**
   * Zoom to an image zoom around the view centre (capped at MAX_OVERZOOM past native).
   * @param {number} zoom screen CSS px per slide px
   */
  zoomTo(zoom) {
    const capped = Math.min(zoom, MAX_OVERZOOM);
    this.osd.viewport.zoomTo(this.image.imageToViewportZoom(capped * (this.transform.scale || 1)));
  }

  /**
   * Zoom to an objective magnification (no-op without mpp/objective).
   * @param {number} mag e.g. 20
   */
  zoomToMagnification(mag) {
    if (this.native && isReachable(mag, this.native.mag)) {
      this.zoomTo(magnificationToZoom(mag, this.native.mag));
    }
  }

  /**
   * Multiply the zoom (keyboard +/-).
   * @param {number} factor
   */
  zoomBy(factor) {
    this.osd.viewport.zoomBy(factor);
    this.osd.viewport.applyConstraints();
  }

  /** Show the whole slide. */
  fit() {
    this.osd.viewport.goHome();
  }

  /**
   * Pan by a screen distance (what the user sees moves the other way).
   * @param {number} dx CSS px, positive shows what is right of the view
   * @param {number} dy CSS px, positive shows what is below
   */
  panBy(dx, dy) {
    const viewport = this.osd.viewport;
    const flipDx = viewport.getFlip() ? -dx : dx;
    viewport.panBy(viewport.deltaPointsFromPixels(new OpenSeadragon.Point(flipDx, dy)));
    viewport.applyConstraints();
  }

  /**
   * Rotate by `degrees` (clockwise on screen).
   * @param {number} degrees
   */
  rotateBy(degrees) {
    this.setRotation(this.osd.viewport.getRotation() + degrees);
  }

  /**
   * Set the rotation; animated for quarter turns, immediate for free rotation.
   * @param {number} degrees clockwise
   * @param {boolean} [immediately=false]
   */
  setRotation(degrees, immediately = false) {
    // Keep the angle continuous (350 -> 370, not -> 10) so the animation takes the short way.
    this.osd.viewport.setRotation(degrees, immediately);
  }

  /** Mirror the view horizontally. */
  toggleFlip() {
    this.osd.viewport.toggleFlip();
  }

  /**
   * The current view as a PNG (what is on screen, at device resolution): the tiles and, over
   * them, the overlay stage's canvases (annotations, labels) as drawn.
   * @returns {Promise<Blob>}
   */
  screenshot() {
    const tiles = this.osd.drawer.canvas;
    let canvas = tiles;
    if (this.stage) {
      canvas = document.createElement("canvas");
      canvas.width = tiles.width;
      canvas.height = tiles.height;
      const ctx = canvas.getContext("2d");
      ctx.drawImage(tiles, 0, 0);
      // a WebGL canvas keeps no drawing buffer after a frame is shown: draw it again and copy
      // it in the same task
      this.stage.draw({ direct: true }); // the view's pixels, not the stage's raster cache
      // in stacking order: value overlays (heatmaps, overlays/overlay-layer.js), annotations, labels
      const values = [...this.osd.canvas.querySelectorAll('canvas[data-overlay="values"]')];
      for (const overlay of [...values, this.stage.canvas, this.stage.labelCanvas]) {
        if (overlay.width && overlay.height) {
          ctx.drawImage(overlay, 0, 0, canvas.width, canvas.height);
        }
      }
    }
    return new Promise((resolve, reject) => {
      canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("the canvas is empty"))), "image/png");
    });
  }

  /** Redraw the magnification, the scale bar and the cursor readout. */
  updateReadouts() {
    if (!this.isOpen) {
      return;
    }
    const zoom = this.getZoom(true);
    const { mag, scalebar, scalebarBar, scalebarLabel, scaleNotice, overzoom } = this.hooks;
    if (overzoom) {
      overzoom.hidden = zoom <= 1.001; // tell the user the detail is interpolated, not scanned
    }
    if (mag) {
      const value = this.getMagnification(true);
      mag.textContent = value === null ? formatZoomPercent(zoom) : formatMagnification(value);
      mag.title = value === null ? "Zoom relative to native resolution (magnification unknown)" : "Objective magnification equivalent";
      mag.dataset.magnification = value === null ? "" : String(value);
      mag.dataset.zoom = String(zoom);
      const target = this.getMagnification(false);
      this.pane.dataset.activeMagnification = target === null ? "" : String(matchingMagnification(target) ?? "");
    }
    const bar = chooseScaleBar(this.mppX, zoom, 140);
    if (scalebar) {
      scalebar.hidden = bar === null;
      if (bar) {
        scalebarBar.style.width = `${bar.css_px}px`;
        scalebarLabel.textContent = bar.label;
        scalebar.dataset.um = String(bar.um);
      }
    }
    if (scaleNotice) {
      scaleNotice.hidden = bar !== null;
    }
    this.updateCursor();
  }

  /** Redraw the pointer position readout (slide px and µm). */
  updateCursor() {
    const { cursorPx, cursorUm } = this.hooks;
    if (!cursorPx) {
      return;
    }
    const l0_pt = this.pointer && this.isOpen ? this.elementToSlide(this.pointer) : null;
    if (!l0_pt) {
      cursorPx.textContent = "–";
      if (cursorUm) {
        cursorUm.textContent = "";
      }
      delete this.pane.dataset.cursorX;
      delete this.pane.dataset.cursorY;
      return;
    }
    const text = formatSlidePoint(l0_pt, this.mppX, this.mppY);
    cursorPx.textContent = text.px;
    if (cursorUm) {
      cursorUm.textContent = text.um ?? "";
    }
    this.pane.dataset.cursorX = String(Math.floor(l0_pt.x));
    this.pane.dataset.cursorY = String(Math.floor(l0_pt.y));
  }

  /**
   * A point of the viewer element (CSS px) in slide space, through rotation, flip and the
   * bounds offset.
   * @param {{x: number, y: number}} element_pt
   * @returns {{x: number, y: number}} slide (level-0) px
   */
  elementToSlide(element_pt) {
    const width = this.hooks.osd.clientWidth;
    const x = unflipElementX(element_pt.x, width, this.osd.viewport.getFlip());
    const image_pt = this.image.viewerElementToImageCoordinates(new OpenSeadragon.Point(x, element_pt.y));
    return imageToSlide(image_pt, this.transform);
  }

  /**
   * Which magnification buttons can be used (within the overzoom cap).
   * @returns {Map<number, boolean>}
   */
  reachableMagnifications() {
    const out = new Map();
    for (const m of MAGNIFICATIONS) {
      out.set(m, Boolean(this.native) && isReachable(m, this.native.mag));
    }
    return out;
  }
}
