/**
 * The progress of a slide being prepared (the built-in demo while the server generates it), as
 * the library row and the viewer page show it: a bar fed by the entry's `progress` (percent,
 * stage, time left) of GET /api/slides. `describePreparation` is pure; the other exports build
 * and update the DOM when called (no side effect at import).
 */

import { formatDuration } from "./export-jobs.js";

/** How often pages ask again while a slide is being prepared, ms. */
export const POLL_MS = 1000;

/**
 * What to show for a slide being prepared: the bar's value (0-100), a line of text and a tone.
 * @param {object} slide an entry of /api/slides with `status` and `progress`
 * @returns {{percent: number, text: string, tone: "busy" | "error"}}
 */
export function describePreparation(slide) {
  const progress = slide.progress ?? {};
  const percent = Math.max(0, Math.min(100, Number(progress.percent) || 0));
  if (slide.status === "failed") {
    return { percent, tone: "error", text: `Could not be prepared: ${slide.error ?? "unknown error"}` };
  }
  const eta = progress.eta_seconds === null || progress.eta_seconds === undefined
    ? "estimating time left" : `about ${formatDuration(progress.eta_seconds)} left`;
  return { percent, tone: "busy", text: `${percent.toFixed(0)}% · ${progress.message || "starting"} · ${eta}` };
}

/**
 * A progress block for *slide*: `<div class="slide-progress">` with a `<progress>` and a line.
 * @param {object} slide
 * @returns {HTMLDivElement}
 */
export function progressElement(slide) {
  const block = document.createElement("div");
  block.className = "slide-progress";
  block.dataset.progress = "";
  const bar = document.createElement("progress");
  bar.max = 100;
  bar.setAttribute("aria-label", `Preparing ${slide.name}`);
  const text = document.createElement("p");
  text.className = "slide-progress-text";
  text.dataset.progressText = "";
  text.setAttribute("role", "status");
  block.append(bar, text);
  updateProgress(block, slide);
  return block;
}

/**
 * Show the current progress of *slide* in a block made by `progressElement`.
 * @param {HTMLElement} block
 * @param {object} slide
 */
export function updateProgress(block, slide) {
  const { percent, text, tone } = describePreparation(slide);
  const bar = block.querySelector("progress");
  bar.value = percent;
  bar.hidden = tone === "error";
  const line = block.querySelector("[data-progress-text]");
  line.textContent = text;
  line.dataset.tone = tone;
  block.dataset.percent = String(percent);
}
