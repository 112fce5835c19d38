/**
 * The change watcher of a pane's annotation sets (issue 12 §5), used by the layers panel
 * (`layers-panel.js` re-exports it). Nothing happens at import.
 */

import { getJson } from "./api.js";

/** How often the watcher asks whether the slide's sets changed, ms (while the tab is visible). */
export const CHECK_INTERVAL_MS = 2000;

/**
 * Changes made elsewhere: every CHECK_INTERVAL_MS while the tab is visible, one conditional GET
 * per set (the layer's `checkForChanges()`: a 304 while unchanged; a change reloads the layer and,
 * through its `data-change` event, the panel's list) and one GET of the slide's set list (new
 * sets appear). A layer that has drawn nothing (a set hidden since the page opened, or hidden
 * when a change reloaded it) has no version to ask about: the set list's version of it tells the
 * panel to read its list again, so a hidden set's count stays right, and the layer fetches the
 * current state when it is shown. Paused while the tab is hidden; checked at once when shown.
 */
export class ChangeWatcher {
  /**
   * @param {import("./layers/annotations.js").AnnotationOverlay} overlay
   * @param {(layer: object) => void} onNewLayer called with the layer of a set created elsewhere
   * @param {number} [intervalMs]
   * @param {import("./layers-panel.js").LayersPanel|null} [panel] the panel listing the sets (default: the pane's `wsi.panel`)
   */
  constructor(overlay, onNewLayer, intervalMs = CHECK_INTERVAL_MS, panel = null) {
    this.overlay = overlay;
    this.panel = panel;
    this.onNewLayer = onNewLayer;
    this.intervalMs = intervalMs;
    this.timer = 0;
    this.running = false;
    this.checks = 0;
    this.onVisibility = () => {
      if (document.visibilityState === "visible") {
        this.#schedule(0);
      } else {
        clearTimeout(this.timer);
        this.timer = 0;
      }
    };
    document.addEventListener("visibilitychange", this.onVisibility);
    this.#schedule(this.intervalMs);
  }

  #schedule(ms) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.check(), ms);
  }

  /** One round of checks (also callable by tests and scripts). */
  async check() {
    if (this.running || document.visibilityState === "hidden") {
      return;
    }
    this.running = true;
    try {
      this.checks += 1;
      await this.overlay.checkForChanges();
      const body = await getJson(this.overlay.viewer.slide.urls.annotations);
      const panel = this.panel ?? this.overlay.viewer.pane.wsi?.panel ?? null;
      for (const set of body.sets ?? []) {
        const layer = this.overlay.layer(set.id);
        if (!layer) {
          this.overlay.sets.push(set);
          this.onNewLayer(this.overlay.add(set));
        } else if (layer.version === null && panel?.versions.has(set.id) && panel.versions.get(set.id) !== set.version) {
          await panel.load(layer); // not drawn (hidden): its list follows the set list's version
        }
      }
    } catch {
      // the next round tries again (a server restart, a network blip)
    } finally {
      this.running = false;
      if (document.visibilityState !== "hidden") {
        this.#schedule(this.intervalMs);
      }
    }
  }

  stop() {
    clearTimeout(this.timer);
    document.removeEventListener("visibilitychange", this.onVisibility);
  }
}
