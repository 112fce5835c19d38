/**
 * Measurement labels (a line's length, centred over it) on the overlay stage's 2D label canvas,
 * in device px: at most 500, each annotation once however many tiles hold it.
 * @param {Array<{tile: {batch: {labels: Array<{slot: number, x0: number, y0: number, x1: number, y1: number, text: string}>}}}>} draws
 *   what a layer last drew
 * @param {{labels: CanvasRenderingContext2D, slideToDevice: import("./view.js").Affine, width: number, height: number, dpr: number}} frame
 * @param {(slot: number) => boolean} visible whether an annotation is shown
 * @returns {boolean} whether any label was drawn
 */

import { applyAffine } from "./view.js";

export function drawLabels(draws, frame, visible) {
  const ctx = frame.labels;
  const seen = new Set();
  let drawn = false;
  for (const d of draws) {
    for (const label of d.tile.batch.labels) {
      if (seen.has(label.slot) || !visible(label.slot) || seen.size > 500) {
        continue;
      }
      seen.add(label.slot);
      const a = applyAffine(frame.slideToDevice, { x: label.x0, y: label.y0 });
      const b = applyAffine(frame.slideToDevice, { x: label.x1, y: label.y1 });
      const x = (a.x + b.x) / 2;
      const y = (a.y + b.y) / 2;
      if (x < -50 || y < -50 || x > frame.width + 50 || y > frame.height + 50) {
        continue;
      }
      ctx.font = `600 ${12 * frame.dpr}px system-ui, sans-serif`;
      const w = ctx.measureText(label.text).width + 10 * frame.dpr;
      const h = 18 * frame.dpr;
      ctx.fillStyle = "rgba(0, 0, 0, 0.65)";
      ctx.fillRect(x - w / 2, y - h - 4 * frame.dpr, w, h);
      ctx.fillStyle = "#fff";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(label.text, x, y - h / 2 - 4 * frame.dpr);
      drawn = true;
    }
  }
  return drawn;
}
