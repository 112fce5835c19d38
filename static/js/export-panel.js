/**
 * The viewer page's Export panel: the slide's annotation sets as ASAP XML and GeoJSON downloads,
 * and training masks made by a server job with a progress bar, ETA and a cancel button; the
 * finished mask is downloaded. The job's life is export-jobs.js (DOM-free); this module draws it.
 * No side effects on import: viewer-page.js calls bindExportPanel.
 */

import { getJson } from "./api.js";
import {
  DOWNSAMPLES, MaskExport, defaultDownsample, describeJob, downloadLinks, formatCount,
} from "./export-jobs.js";

/**
 * fetch as export-jobs.js wants it: status, parsed JSON body (or null) and Retry-After.
 * @type {import("./export-jobs.js").Request}
 */
async function request(url, init) {
  const response = await fetch(url, { ...init, headers: { Accept: "application/json", ...(init.headers ?? {}) } });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null; // not JSON (a proxy's error page): errorText falls back to the status
  }
  return { status: response.status, body, retryAfter: response.headers.get("Retry-After") };
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/**
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {(Node | string)[]} [children]
 * @returns {HTMLElement}
 */
function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

/** Start a download of *url* (the server sends it as an attachment). */
function download(url) {
  const link = el("a", { href: url, download: "", hidden: "" });
  document.body.append(link);
  link.click();
  link.remove();
}

/**
 * The mask controls of one set: downsample, labels, the start button, and the job's bar.
 * @param {object} set a set of GET urls.annotations
 * @param {object} slide the page's slide (its level-0 size picks the default downsample)
 * @returns {HTMLElement}
 */
function maskForm(set, slide) {
  const id = `mask-${set.id}`;
  const downsample = el("select", { id: `${id}-downsample`, class: "input", "data-mask-downsample": "" });
  const chosen = defaultDownsample(slide.width, slide.height);
  for (const d of DOWNSAMPLES) {
    const size = `${Math.ceil(slide.width / d)} × ${Math.ceil(slide.height / d)} px`;
    const option = el("option", { value: String(d) }, [`1/${d} (${size})`]);
    option.selected = d === chosen;
    downsample.append(option);
  }
  const labels = el("input", {
    id: `${id}-labels`, class: "input", type: "text", placeholder: "all annotations = 1", "data-mask-labels": "",
    autocomplete: "off", spellcheck: "false",
  });
  const start = el("button", { type: "button", class: "btn", "data-mask-start": "" }, ["Make mask"]);
  const cancel = el("button", { type: "button", class: "btn", "data-mask-cancel": "", hidden: "" }, ["Cancel"]);
  const bar = el("progress", { max: "100", value: "0", "data-mask-progress": "", hidden: "", "aria-label": `Mask of ${set.name}` });
  const status = el("p", { class: "export-status", "data-mask-status": "", "aria-live": "polite" });
  const again = el("a", { class: "export-again", "data-mask-result": "", hidden: "", download: "" }, ["Download the mask again"]);

  /** @type {MaskExport | null} the export running now */
  let current = null;
  start.addEventListener("click", async () => {
    start.disabled = true;
    cancel.hidden = false;
    cancel.disabled = false;
    bar.hidden = false;
    bar.value = 0;
    again.hidden = true;
    status.removeAttribute("role");
    const job = new MaskExport({
      request,
      sleep,
      onChange(exp) {
        if (exp.state === "starting") {
          status.textContent = "Starting…";
          return;
        }
        if (exp.state === "error") {
          status.textContent = exp.error;
          status.dataset.tone = "error";
          status.setAttribute("role", "alert");
          return;
        }
        if (exp.cancelRequested && !exp.finished) {
          cancel.disabled = true;
          status.textContent = "Cancelling…";
          return;
        }
        const shown = describeJob(exp.job);
        bar.value = shown.percent;
        status.textContent = shown.text;
        status.dataset.tone = shown.tone;
        if (shown.tone === "error") {
          status.setAttribute("role", "alert");
        }
        bar.dataset.state = exp.state;
      },
    });
    current = job;
    await job.run(set.urls.export, { downsample: Number(downsample.value), labels: labels.value });
    current = null;
    start.disabled = false;
    cancel.hidden = true;
    if (job.resultUrl && !job.cancelRequested) {
      again.href = job.resultUrl;
      again.hidden = false;
      download(job.resultUrl);
    }
  });
  cancel.addEventListener("click", () => current?.cancel());

  const form = el("div", { class: "export-mask", "data-mask-form": "" }, [
    el("label", { for: downsample.id }, ["Mask size"]), downsample,
    el("label", { for: labels.id }, ["Labels (group=N,…)"]), labels,
    el("div", { class: "export-actions" }, [start, cancel]),
    bar, status, again,
  ]);
  return form;
}

/**
 * One set: its name and counts, the plain downloads, the mask form.
 * @returns {HTMLElement}
 */
function setSection(set, slide) {
  const links = downloadLinks(set).map((link) => el("a", {
    class: "btn", href: link.href, download: "", "data-export-format": link.format,
  }, [link.label]));
  return el("section", { class: "export-set", "data-export-set": String(set.id) }, [
    el("h3", {}, [set.name]),
    el("p", { class: "muted" }, [
      `${formatCount(set.annotation_count)} annotations · ${formatCount(set.vertex_count)} vertices · version ${set.version}`,
    ]),
    el("div", { class: "export-actions" }, links),
    maskForm(set, slide),
  ]);
}

async function render(body, slide) {
  body.replaceChildren(el("p", { class: "muted" }, ["Loading the annotation sets…"]));
  try {
    const listing = await getJson(slide.urls.annotations);
    if (!listing.sets.length) {
      body.replaceChildren(el("p", { class: "muted" }, ["This slide has no annotation sets."]));
      return;
    }
    body.replaceChildren(...listing.sets.map((set) => setSection(set, slide)));
  } catch (err) {
    body.replaceChildren(el("p", { class: "export-status", "data-tone": "error", role: "alert" }, [err.message]));
  }
}

/**
 * Wire the Export button and panel of the viewer page.
 * @param {HTMLElement} app the page's [data-viewer-app] element
 * @param {object} slide the slide of the page (its urls.annotations lists the sets)
 */
export function bindExportPanel(app, slide) {
  const panel = app.querySelector("[data-export-panel]");
  const toggle = app.querySelector("[data-export-toggle]");
  if (!panel || !toggle) {
    return;
  }
  const body = panel.querySelector("[data-export-body]");
  const show = (open) => {
    panel.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open && !panel.dataset.rendered) {
      panel.dataset.rendered = "true";
      render(body, slide);
    }
  };
  toggle.addEventListener("click", () => show(panel.hidden));
  panel.querySelector("[data-close]").addEventListener("click", () => show(false));
}
