/**
 * Entry module of the viewer page (/view/<id>) while its slide is being prepared (the built-in
 * demo on a first start): the server's progress, asked for again every POLL_MS from the listing,
 * and the viewer itself (the page loaded again) as soon as the slide is ready.
 */

import { listSlides } from "./api.js";
import { POLL_MS, progressElement, updateProgress } from "./library-progress.js";

function initialize() {
  const root = document.querySelector("[data-preparing-page]");
  const config = JSON.parse(document.body.dataset.config);
  const slide = JSON.parse(root.dataset.slide);
  const block = progressElement(slide);
  root.querySelector("[data-progress-holder]").replaceChildren(block);

  const poll = () => {
    listSlides(config.slides)
      .then((list) => {
        const entry = list.find((s) => s.id === slide.id);
        if (!entry || !entry.status) {
          location.reload(); // ready (or gone): the server now answers with the viewer (or why not)
          return;
        }
        updateProgress(block, entry);
        root.querySelector("h2").textContent = entry.status === "failed" ? "Could not be prepared" : "Being prepared";
        setTimeout(poll, entry.status === "failed" ? 5 * POLL_MS : POLL_MS);
      })
      .catch(() => setTimeout(poll, 4 * POLL_MS)); // a server restarting: try again
  };
  setTimeout(poll, POLL_MS);
}

initialize();
