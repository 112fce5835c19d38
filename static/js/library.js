/**
 * Entry module of the library page (/): every slide with a thumbnail, filtered, sorted and
 * grouped in the browser. Stays quick with thousands of slides: rows are rendered a page at a
 * time (PAGE_SIZE), thumbnails load lazily, and filter/sort state lives in the URL. While a slide
 * is being prepared (the built-in demo on a first start) its row shows the server's progress,
 * asked for again every POLL_MS, and becomes an ordinary row, in place, once the slide is ready.
 */

import { listSlides } from "./api.js";
import {
  filterSlides, formatDimensions, formatPhysicalSize, formatResolution, groupByFolder, isPending, listingShape,
  sortSlides,
} from "./library-model.js";
import { POLL_MS, progressElement, updateProgress } from "./library-progress.js";
import { setsAndAnnotationsText } from "./layers/panel-model.js";

const PAGE_SIZE = 200;
const THUMB_PX = 96;

/**
 * Read the page state from the URL.
 * @returns {{q: string, sort: string, dir: "asc"|"desc", group: boolean, page: number}}
 */
function readState() {
  const p = new URLSearchParams(location.search);
  return {
    q: p.get("q") ?? "",
    sort: p.get("sort") ?? "name",
    dir: p.get("dir") === "desc" ? "desc" : "asc",
    group: p.get("group") !== "0",
    page: Math.max(0, Number.parseInt(p.get("page") ?? "0", 10) || 0),
  };
}

/**
 * Write the page state to the URL (replaceState; defaults omitted).
 * @param {ReturnType<typeof readState>} state
 */
function writeState(state) {
  const p = new URLSearchParams();
  if (state.q) p.set("q", state.q);
  if (state.sort !== "name") p.set("sort", state.sort);
  if (state.dir !== "asc") p.set("dir", state.dir);
  if (!state.group) p.set("group", "0");
  if (state.page) p.set("page", String(state.page));
  const query = p.toString();
  history.replaceState(null, "", query ? `?${query}` : location.pathname);
}

/**
 * One table row.
 * @param {object} slide
 * @param {boolean} showAnnotations
 * @param {Set<string>} picked ids ticked for compare
 * @returns {HTMLTableRowElement}
 */
function slideRow(slide, showAnnotations, picked) {
  if (isPending(slide)) {
    return pendingRow(slide, showAnnotations);
  }
  const tr = document.createElement("tr");
  tr.dataset.slideId = slide.id;
  tr.className = slide.error ? "slide-row broken" : "slide-row";

  const pick = document.createElement("td");
  pick.className = "col-pick";
  if (!slide.error) {
    const box = document.createElement("input");
    box.type = "checkbox";
    box.dataset.pick = slide.id;
    box.checked = picked.has(slide.id);
    box.setAttribute("aria-label", `Select ${slide.name} for comparison`);
    pick.append(box);
  }

  const thumb = document.createElement("td");
  thumb.className = "col-thumb";
  const frame = document.createElement(slide.error ? "div" : "a");
  frame.className = "thumb";
  if (!slide.error) {
    frame.href = slide.urls.viewer;
    frame.tabIndex = -1; // the name link is the focus stop; one per row keeps Tab order short
    frame.setAttribute("aria-hidden", "true");
    const img = document.createElement("img");
    img.loading = "lazy";
    img.decoding = "async";
    img.alt = "";
    img.width = THUMB_PX;
    img.height = THUMB_PX;
    const src = new URL(slide.urls.thumbnail, location.href);
    src.searchParams.set("max", String(THUMB_PX * 2)); // sharp on 2x screens
    img.src = src.href;
    img.addEventListener("error", () => frame.classList.add("no-thumb"), { once: true });
    frame.append(img);
  } else {
    frame.classList.add("no-thumb");
    frame.textContent = "!";
  }
  thumb.append(frame);

  const name = document.createElement("td");
  name.className = "col-name";
  if (slide.error) {
    const strong = document.createElement("span");
    strong.className = "slide-name";
    strong.textContent = slide.name;
    const err = document.createElement("p");
    err.className = "slide-error";
    err.dataset.error = "";
    err.textContent = slide.error;
    name.append(strong, err);
  } else {
    const link = document.createElement("a");
    link.className = "slide-name";
    link.href = slide.urls.viewer;
    link.textContent = slide.name;
    name.append(link);
  }
  const path = document.createElement("span");
  path.className = "slide-path";
  path.textContent = slide.folder ? `${slide.folder}/` : "";
  name.append(path);

  const dims = document.createElement("td");
  dims.className = "col-dims";
  dims.textContent = slide.error ? "–" : formatDimensions(slide);
  const physical = slide.error ? "" : formatPhysicalSize(slide);
  if (physical) {
    const small = document.createElement("span");
    small.className = "muted block";
    small.textContent = physical;
    dims.append(small);
  }

  const res = document.createElement("td");
  res.textContent = slide.error ? "–" : formatResolution(slide);

  const vendor = document.createElement("td");
  vendor.textContent = slide.vendor ?? "–";

  tr.append(pick, thumb, name, dims, res, vendor);
  if (showAnnotations) {
    const count = document.createElement("td");
    count.className = "num";
    count.textContent = slide.error ? "–" : setsAndAnnotationsText(slide.set_count, slide.annotation_count);
    count.dataset.annotationCount = String(slide.annotation_count ?? "");
    tr.append(count);
  }
  return tr;
}

/**
 * The row of a slide being prepared: its name, facts known in advance, and the progress bar; no
 * link, thumbnail or checkbox until it is ready.
 * @param {object} slide
 * @param {boolean} showAnnotations
 * @returns {HTMLTableRowElement}
 */
function pendingRow(slide, showAnnotations) {
  const tr = document.createElement("tr");
  tr.dataset.slideId = slide.id;
  tr.dataset.status = slide.status;
  tr.className = slide.status === "failed" ? "slide-row broken" : "slide-row preparing";
  const cell = (className = "") => {
    const td = document.createElement("td");
    td.className = className;
    return td;
  };
  const thumb = cell("col-thumb");
  const frame = document.createElement("div");
  frame.className = "thumb no-thumb";
  frame.textContent = slide.status === "failed" ? "!" : "…";
  thumb.append(frame);
  const name = cell("col-name");
  const label = document.createElement("span");
  label.className = "slide-name";
  label.textContent = slide.name;
  const note = document.createElement("span");
  note.className = "slide-path";
  note.textContent = slide.status === "failed" ? "not available" : "being prepared";
  name.append(label, note, progressElement(slide));
  const dims = cell("col-dims");
  dims.textContent = formatDimensions(slide);
  const res = cell();
  res.textContent = formatResolution(slide);
  const vendor = cell();
  vendor.textContent = "–";
  tr.append(cell("col-pick"), thumb, name, dims, res, vendor);
  if (showAnnotations) {
    const count = cell("num");
    count.textContent = "–";
    tr.append(count);
  }
  return tr;
}

function initialize() {
  const root = document.querySelector("[data-library]");
  const config = JSON.parse(document.body.dataset.config);
  const q = (sel) => root.querySelector(sel);
  const filter = q("[data-filter]");
  const sort = q("[data-sort]");
  const direction = q("[data-direction]");
  const group = q("[data-group]");
  const table = q("[data-table]");
  const status = q("[data-status]");
  const count = q("[data-count]");
  const pager = q("[data-pager]");
  const compare = q("[data-compare]");
  const state = readState();
  const picked = new Set();
  const collapsed = new Set(); // folders whose rows are hidden
  let slides = [];

  filter.value = state.q;
  sort.value = state.sort;
  group.checked = state.group;

  const showDirection = () => {
    direction.textContent = state.dir === "asc" ? "↑ Asc" : "↓ Desc";
    direction.setAttribute("aria-label", `Sort direction: ${state.dir === "asc" ? "ascending" : "descending"}`);
  };

  const updateCompare = () => {
    const ids = [...picked];
    if (ids.length >= 1 && ids.length <= 2) {
      const params = new URLSearchParams({ left: ids[0], right: ids[1] ?? ids[0] });
      compare.href = `${config.compare}?${params}`;
      compare.removeAttribute("aria-disabled");
      compare.title = ids.length === 2 ? "Compare the two ticked slides" : "Compare the ticked slide with itself";
    } else {
      compare.removeAttribute("href");
      compare.setAttribute("aria-disabled", "true");
      compare.title = ids.length > 2 ? "Tick at most two slides" : "Tick two slides (or one) to compare";
    }
  };

  const render = () => {
    showDirection();
    writeState(state);
    const showAnnotations = slides.some((s) => typeof s.annotation_count === "number");
    q("[data-annotations-col]").hidden = !showAnnotations;
    const visible = sortSlides(filterSlides(slides, state.q), state.sort, state.dir);
    const pages = Math.max(1, Math.ceil(visible.length / PAGE_SIZE));
    state.page = Math.min(state.page, pages - 1);
    const shown = visible.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE);
    const broken = slides.filter((s) => s.error).length;
    count.textContent = visible.length === slides.length
      ? `${slides.length}${broken ? ` · ${broken} unreadable` : ""}`
      : `${visible.length} of ${slides.length}`;

    for (const body of table.querySelectorAll("tbody")) {
      body.remove();
    }
    const columns = showAnnotations ? 7 : 6;
    const groups = state.group ? groupByFolder(shown) : [{ folder: null, slides: shown }];
    for (const g of groups) {
      const tbody = document.createElement("tbody");
      if (g.folder !== null) {
        tbody.dataset.folder = g.folder;
        const head = document.createElement("tr");
        head.className = "group-row";
        const th = document.createElement("th");
        th.scope = "rowgroup";
        th.colSpan = columns;
        const toggle = document.createElement("button");
        toggle.type = "button";
        toggle.className = "group-toggle";
        toggle.dataset.toggleFolder = g.folder;
        toggle.setAttribute("aria-expanded", String(!collapsed.has(g.folder)));
        toggle.textContent = g.folder || "(top folder)";
        const n = document.createElement("span");
        n.className = "muted";
        n.textContent = ` ${g.slides.length}`;
        toggle.append(n);
        th.append(toggle);
        head.append(th);
        tbody.append(head);
      }
      if (g.folder === null || !collapsed.has(g.folder)) {
        for (const slide of g.slides) {
          tbody.append(slideRow(slide, showAnnotations, picked));
        }
      }
      table.append(tbody);
    }
    table.hidden = visible.length === 0;
    status.hidden = visible.length !== 0;
    if (visible.length === 0) {
      status.textContent = slides.length ? "No slide matches the filter." : "No slides found in the slide directory.";
    }

    pager.replaceChildren();
    pager.hidden = pages <= 1;
    for (let i = 0; i < pages && pages > 1; i++) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "btn";
      b.textContent = String(i + 1);
      b.setAttribute("aria-label", `Page ${i + 1} of ${pages}`);
      if (i === state.page) {
        b.setAttribute("aria-current", "page");
      }
      b.addEventListener("click", () => {
        state.page = i;
        render();
        window.scrollTo({ top: 0 });
      });
      pager.append(b);
    }
  };

  q("[data-tools]").addEventListener("submit", (event) => event.preventDefault());
  filter.addEventListener("input", () => {
    state.q = filter.value.trim();
    state.page = 0;
    render();
  });
  sort.addEventListener("change", () => {
    state.sort = sort.value;
    render();
  });
  direction.addEventListener("click", () => {
    state.dir = state.dir === "asc" ? "desc" : "asc";
    render();
  });
  group.addEventListener("change", () => {
    state.group = group.checked;
    render();
  });
  table.addEventListener("click", (event) => {
    const toggle = event.target instanceof Element ? event.target.closest("[data-toggle-folder]") : null;
    if (toggle) {
      const folder = toggle.dataset.toggleFolder;
      if (collapsed.has(folder)) {
        collapsed.delete(folder);
      } else {
        collapsed.add(folder);
      }
      render();
      table.querySelector(`[data-toggle-folder="${CSS.escape(folder)}"]`)?.focus();
    }
  });
  table.addEventListener("change", (event) => {
    const box = event.target;
    if (box instanceof HTMLInputElement && box.dataset.pick) {
      if (box.checked) {
        picked.add(box.dataset.pick);
      } else {
        picked.delete(box.dataset.pick);
      }
      updateCompare();
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && document.activeElement !== filter) {
      event.preventDefault();
      filter.focus();
    }
  });

  // While a slide is being prepared, ask again: only its progress moved -> update its bar in
  // place (focus, scroll and ticks stay); a slide became ready (or came, or went) -> a new table.
  const refresh = () => {
    listSlides(config.slides)
      .then((list) => {
        if (listingShape(list) !== listingShape(slides)) {
          slides = list;
          render();
        } else {
          slides = list;
          for (const slide of list.filter(isPending)) {
            const row = table.querySelector(`tr[data-slide-id="${CSS.escape(slide.id)}"] [data-progress]`);
            if (row) {
              updateProgress(row, slide);
            }
          }
        }
        watch();
      })
      .catch(() => setTimeout(refresh, 4 * POLL_MS)); // a server restarting: keep the table, retry
  };
  const watch = () => {
    if (slides.some((s) => s.status === "preparing")) {
      setTimeout(refresh, POLL_MS);
    }
  };

  listSlides(config.slides)
    .then((list) => {
      slides = list;
      root.dataset.loaded = "true";
      render();
      watch();
    })
    .catch((err) => {
      status.textContent = `Could not load the slides: ${err.message}`;
      status.classList.add("error");
    });
  updateCompare();
}

initialize();
