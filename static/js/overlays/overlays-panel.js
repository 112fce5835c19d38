/**
 * The overlays panel: one section per value overlay of the slide (`ValueOverlayLayer` entries,
 * in drawing order, the top-most first): visible, colormap, display range (min / max),
 * threshold (below → transparent), opacity, sampling (nearest / smooth), order up / down, a
 * legend with values, the stored value under the cursor (`urls.value`, throttled, one request in
 * flight per overlay), and "To polygons" (heatmaps: POST `{threshold}` to `urls.polygons`, the
 * new set drawn and listed like a set made in the layers panel). Settings go to the URL
 * (`overlay-state.js`, prefixed in compare mode).
 *
 * `mountOverlays(viewer, options)` makes the layer and the panel and puts the handle
 * `{values, overlaysPanel, layer(id), panel(id)}` on `viewer.pane.wsi.overlays` (tests,
 * benchmarks): `layer(id)` the ValueOverlayLayer (`draws`, `tilesDrawn`, `settled()`,
 * `readPixel(x, y)`), `panel(id)` an overlay's section (`controls`, `show(visible)`).
 */

import { el, apiWrite, writeErrorText } from "../panel-dom.js";
import { getJson } from "../api.js";
import { COLORMAPS, colormapLut, lutCss } from "./colormaps.js";
import { ValueOverlayLayer } from "./overlay-layer.js";
import { encodeOverlayState } from "./overlay-state.js";
import { formatValue, maxCode, valueDecimals } from "./value-codec.js";

/** Least time between two value requests of one overlay while the pointer moves (ms). */
const VALUE_INTERVAL_MS = 80;
/** How long the URL waits after the last control change (ms). */
const URL_DELAY_MS = 250;

const LABELS = { magma: "Magma", viridis: "Viridis", jet: "Jet (ASAP)", grey: "Grey", labels: "Categorical" };

/** One overlay's section of the panel. */
class OverlaySection {
  constructor(panel, entry) {
    this.panel = panel;
    this.id = entry.desc.id;
    this.desc = entry.desc;
    const d = entry.desc;
    const heat = d.kind !== "labels";
    const { min, max } = d.value_range;
    const step = String((max - min) / maxCode(d.encoding) || 1);
    const c = {};
    c.visible = el("input", { type: "checkbox", dataset: { control: "visible" } });
    c.colormap = el("select", { dataset: { control: "colormap" } },
      ...COLORMAPS.map((name) => new Option(LABELS[name] ?? name, name)));
    c.min = el("input", { type: "number", step, dataset: { control: "min" } });
    c.max = el("input", { type: "number", step, dataset: { control: "max" } });
    c.threshold = el("input", { type: "range", min: String(min), max: String(max), step, dataset: { control: "threshold" } });
    c.thresholdNumber = el("input", { type: "number", min: String(min), max: String(max), step, dataset: { control: "threshold-number" }, "aria-label": "Threshold value" });
    c.opacity = el("input", { type: "range", min: "0", max: "1", step: "0.01", dataset: { control: "opacity" } });
    c.sampling = el("select", { dataset: { control: "sampling" } }, new Option("Nearest", "n"), new Option("Smooth", "s"));
    this.controls = c;
    const field = (text, control, hidden = false) => {
      const label = el("label", { className: "ov-field" }, el("span", {}, text), control);
      label.hidden = hidden;
      return label;
    };
    this.legend = el("canvas", { className: "ov-legend-bar", width: 256, height: 12, dataset: { legend: "" } });
    this.ticks = el("div", { className: "ov-legend-ticks" });
    this.value = el("output", { className: "ov-value", dataset: { overlayValue: "" } }, "–");
    this.status = el("p", { className: "ov-status muted", role: "status", dataset: { overlayStatus: "" } });
    this.polygons = el("button", { type: "button", className: "btn", dataset: { overlayPolygons: "" } }, "To polygons");
    this.polygons.hidden = !heat || !d.urls.polygons || panel.readOnly;
    const up = el("button", { type: "button", className: "btn icon-btn ov-order", dataset: { overlayUp: "" }, "aria-label": `Move ${d.name} up`, title: "Draw above the next one" }, "▲");
    const down = el("button", { type: "button", className: "btn icon-btn ov-order", dataset: { overlayDown: "" }, "aria-label": `Move ${d.name} down`, title: "Draw below the next one" }, "▼");
    this.root = el("section", { className: "ov-section", dataset: { overlayId: d.id }, "aria-label": d.name },
      el("header", { className: "ov-head" },
        el("label", { className: "ov-title" }, c.visible, el("span", {}, d.name)), up, down),
      el("p", { className: "ov-meta muted" }, `${d.kind}, ${d.width} × ${d.height} cells of ${d.scale} px` +
        (d.attached ? ", beside the slide" : "")),
      field("Colormap", c.colormap),
      el("div", { className: "ov-range" }, field("Min", c.min, !heat), field("Max", c.max, !heat)),
      field("Threshold", el("span", { className: "ov-threshold" }, c.threshold, c.thresholdNumber), !heat),
      field("Opacity", c.opacity),
      field("Sampling", c.sampling, !heat),
      el("div", { className: "ov-legend" }, this.legend, this.ticks),
      el("p", { className: "ov-here" }, "Value here: ", this.value),
      el("div", { className: "ov-actions" }, this.polygons), this.status);
    const layer = panel.layer;
    const set = (changes) => layer.update(this.id, changes);
    c.visible.addEventListener("change", () => set({ visible: c.visible.checked }));
    c.colormap.addEventListener("change", () => set({ colormap: c.colormap.value }));
    c.min.addEventListener("change", () => this.#range());
    c.max.addEventListener("change", () => this.#range());
    c.threshold.addEventListener("input", () => set({ threshold: Number(c.threshold.value) }));
    c.thresholdNumber.addEventListener("change", () => {
      const v = Number(c.thresholdNumber.value);
      if (Number.isFinite(v)) {
        set({ threshold: v });
      }
    });
    c.opacity.addEventListener("input", () => set({ opacity: Number(c.opacity.value) }));
    c.sampling.addEventListener("change", () => set({ smooth: c.sampling.value === "s" }));
    this.up = up;
    this.down = down;
    up.addEventListener("click", () => layer.move(this.id, 1));
    down.addEventListener("click", () => layer.move(this.id, -1));
    this.polygons.addEventListener("click", () => this.#toPolygons());
    this.sync();
  }

  get settings() {
    return this.panel.layer.entry(this.id).settings;
  }

  /** Show or hide the overlay (the benchmark's probe). */
  show(visible) {
    this.panel.layer.update(this.id, { visible: Boolean(visible) });
  }

  #range() {
    const lo = Number(this.controls.min.value);
    const hi = Number(this.controls.max.value);
    if (Number.isFinite(lo) && Number.isFinite(hi) && lo <= hi) {
      this.panel.layer.update(this.id, { min: lo, max: hi });
    } else {
      this.sync(); // refused: back to what is drawn
    }
  }

  /** Controls and legend from the current settings. */
  sync() {
    const s = this.settings;
    const c = this.controls;
    // only values that changed are written: a write restyles the panel, work the frame of a moving
    // slider shares with the overlay's repaint
    const put = (input, value) => {
      if (input.value !== value) {
        input.value = value;
      }
    };
    c.visible.checked = s.visible;
    put(c.colormap, s.colormap);
    put(c.min, String(s.min));
    put(c.max, String(s.max));
    if (document.activeElement !== c.threshold) {
      put(c.threshold, String(s.threshold));
    }
    put(c.thresholdNumber, s.threshold.toFixed(valueDecimals(this.desc)));
    put(c.opacity, String(s.opacity));
    put(c.sampling, s.smooth ? "s" : "n");
    this.root.classList.toggle("is-hidden", !s.visible); // a no-op when it already is
    this.#drawLegend(s);
  }

  #drawLegend(s) {
    // a slider moving sends many events: the legend is redrawn only when what it shows changed
    const key = JSON.stringify([s.colormap, s.min, s.max, s.threshold]);
    if (key === this.legendKey) {
      return;
    }
    this.legendKey = key;
    const lut = colormapLut(s.colormap, this.desc.classes);
    const ctx = this.legend.getContext("2d");
    ctx.clearRect(0, 0, 256, 12);
    const labels = this.desc.kind === "labels";
    if (labels) {
      const classes = this.desc.classes ?? [];
      this.legend.hidden = true;
      this.ticks.replaceChildren(...classes.filter((k) => k.value > 0).map((k) => el("span", { className: "ov-class" },
        el("i", { className: "ov-swatch", style: `background: ${lutCss(lut, k.value / 255)}` }), `${k.value} ${k.name}`)));
      return;
    }
    // the display range left to right; below the threshold is not drawn (shown as a gap)
    const image = ctx.createImageData(256, 12);
    for (let x = 0; x < 256; x++) {
      const value = s.min + ((x + 0.5) / 256) * (s.max - s.min);
      if (value >= s.threshold) {
        for (let y = 0; y < 12; y++) {
          image.data.set(lut.subarray(x * 4, x * 4 + 4), (y * 256 + x) * 4);
        }
      }
    }
    ctx.putImageData(image, 0, 0);
    const f = (v) => formatValue(v, this.desc);
    const mid = (s.min + s.max) / 2;
    this.ticks.replaceChildren(
      el("span", { dataset: { legendMin: f(s.min) } }, f(s.min)),
      el("span", { dataset: { legendMid: f(mid) } }, f(mid)),
      el("span", { dataset: { legendMax: f(s.max) } }, f(s.max)),
    );
    this.ticks.dataset.threshold = f(s.threshold);
  }

  /** The stored value under the cursor, as text (null: the pointer is off the slide). */
  showValue(value, known = true) {
    if (!known) {
      this.value.textContent = "–";
      delete this.value.dataset.value;
      return;
    }
    const cls = this.desc.kind === "labels" && value !== null ? this.desc.classes?.find((k) => k.value === value) : null;
    this.value.textContent = value === null ? "no data" : `${formatValue(value, this.desc)}${cls ? ` (${cls.name})` : ""}`;
    this.value.dataset.value = value === null ? "" : String(value);
  }

  async #toPolygons() {
    const threshold = this.settings.threshold;
    const text = formatValue(threshold, this.desc);
    this.polygons.disabled = true;
    this.status.textContent = `Contouring ${this.desc.name} at ${text}…`;
    try {
      const made = await apiWrite("POST", this.desc.urls.polygons, {
        body: { threshold, name: `${this.desc.name} ≥ ${text}` },
      });
      this.status.textContent = `${made.regions} region${made.regions === 1 ? "" : "s"} in the new set "${made.set.name}"`;
      this.panel.addSet(made.set);
    } catch (err) {
      this.status.textContent = writeErrorText(`Contouring ${this.desc.name}`, err);
    } finally {
      this.polygons.disabled = false;
    }
  }
}

/** The panel: its sections in drawing order, the top-most first. */
export class OverlaysPanel {
  /**
   * @param {HTMLElement} root the panel element (`[data-overlays-body]` inside)
   * @param {ValueOverlayLayer} layer
   * @param {object} options {viewer, prefix, button, annotations, layersPanel, readOnly}
   */
  constructor(root, layer, options) {
    this.root = root;
    this.layer = layer;
    this.options = options;
    this.readOnly = Boolean(options.readOnly);
    this.body = root.querySelector("[data-overlays-body]") ?? root;
    this.sections = new Map(layer.entries.map((e) => [e.desc.id, new OverlaySection(this, e)]));
    this.render();
    this.urlTimer = 0;
    layer.addEventListener("change", (event) => {
      const section = this.sections.get(event.detail.id);
      section?.sync();
      this.render();
      clearTimeout(this.urlTimer);
      this.urlTimer = setTimeout(() => this.writeUrl(), URL_DELAY_MS);
    });
    root.querySelector("[data-close]")?.addEventListener("click", () => this.toggle(false));
    this.#followPointer(options.viewer);
  }

  /** Put the sections in order (the top-most overlay first). */
  render() {
    const sections = [...this.layer.entries].reverse().map((e) => this.sections.get(e.desc.id));
    sections.forEach((section, i) => {
      section.up.disabled = i === 0;
      section.down.disabled = i === sections.length - 1;
    });
    const order = sections.map((section) => section.root);
    if (order.some((node, i) => this.body.children[i] !== node) || this.body.children.length !== order.length) {
      this.body.replaceChildren(...order);
    }
    if (!order.length) {
      this.body.replaceChildren(el("p", { className: "muted" }, "This slide has no overlays."));
    }
  }

  /** Open (true), close (false) or flip the panel. */
  toggle(open = this.root.hidden) {
    this.root.hidden = !open;
    this.options.button?.setAttribute("aria-expanded", String(open));
  }

  /** Write the settings into the URL now. */
  writeUrl() {
    const params = encodeOverlayState(this.layer.entries, this.layer.descriptors, new URLSearchParams(location.search), this.options.prefix ?? "");
    history.replaceState(history.state, "", `${location.pathname}?${params}${location.hash}`);
    document.body.dataset.urlState = params.toString();
  }

  /** A set made from an overlay: drawn and listed as a set made in the layers panel. */
  addSet(set) {
    const annotations = this.options.annotations;
    if (!annotations) {
      return;
    }
    let layer = annotations.layer(set.id); // the change watcher may have seen it first
    if (!layer) {
      annotations.sets.push(set);
      layer = annotations.add(set);
      this.options.layersPanel?.attach(layer);
    }
    this.options.layersPanel?.render?.();
  }

  #followPointer(viewer) {
    // per overlay: the latest point asked for, whether a request is in flight, when it started
    const state = new Map(this.layer.entries.map((e) => [e.desc.id, { point: null, busy: false, at: 0, timer: 0 }]));
    const ask = (entry) => {
      const s = state.get(entry.desc.id);
      const section = this.sections.get(entry.desc.id);
      if (s.busy || !s.point) {
        return;
      }
      const wait = s.at + VALUE_INTERVAL_MS - performance.now();
      if (wait > 0) {
        clearTimeout(s.timer);
        s.timer = setTimeout(() => ask(entry), wait);
        return;
      }
      const point = s.point;
      s.point = null;
      s.busy = true;
      s.at = performance.now();
      const url = `${entry.desc.urls.value}?x=${point.x.toFixed(2)}&y=${point.y.toFixed(2)}`;
      getJson(url).then((body) => section.showValue(body.value), () => section.showValue(null, false)).finally(() => {
        s.busy = false;
        ask(entry);
      });
    };
    viewer.hooks.osd.addEventListener("pointermove", () => {
      if (!viewer.isOpen || !viewer.pointer) {
        return;
      }
      const point = viewer.elementToSlide(viewer.pointer);
      for (const entry of this.layer.entries) {
        if (entry.settings.visible) {
          state.get(entry.desc.id).point = point;
          ask(entry);
        }
      }
    });
    viewer.hooks.osd.addEventListener("pointerleave", () => {
      for (const [id, s] of state) {
        s.point = null;
        this.sections.get(id).showValue(null, false);
      }
    });
  }
}

/**
 * The overlays of a viewer: the value layer on its stage and the panel.
 * @param {import("../slide-viewer.js").SlideViewer} viewer
 * @param {{root: HTMLElement, button?: HTMLElement, prefix?: string, annotations?: object,
 *   layersPanel?: object, readOnly?: boolean}} options
 * @returns {object|null} the handle above; null when the slide has none
 */
export function mountOverlays(viewer, options) {
  const descriptors = viewer.slide.overlays ?? [];
  if (options.button) {
    options.button.disabled = !descriptors.length;
    options.button.title = descriptors.length ? options.button.title : "This slide has no overlays";
  }
  if (!descriptors.length) {
    return null;
  }
  const values = new ValueOverlayLayer(viewer, descriptors, { search: location.search, prefix: options.prefix ?? "" });
  viewer.addLayer(values);
  const panel = new OverlaysPanel(options.root, values, { ...options, viewer });
  const handle = {
    values, overlaysPanel: panel,
    layer: () => values, // one layer draws every overlay of the pane
    panel: (id) => panel.sections.get(id),
  };
  viewer.pane.wsi ??= {};
  viewer.pane.wsi.overlays = handle;
  return handle;
}
