// The save status a user can trust, in the toolbar: "saved 12:03:14", "saving…", "offline: 3 changes
// queued", "conflict: …", "error: <message>"; a warning before the tab closes only while a change is
// not in IndexedDB yet (changes are stored before they are sent, so normally never); and the page's
// read-only notice.
//
//   mountSaveStatus(toolbar, queue, {window})  -> SaveStatus (the element: [data-save-status])
//   showReadOnly(toolbar)                       -> the notice element ([data-read-only])
//   statusText(status) -> string               (pure: node tests)

const pad = (n) => String(n).padStart(2, "0");

// Colours per state (set through the CSSOM: the page's CSP allows no inline style attribute).
const STATE_COLORS = { offline: "#ffd38a", conflict: "#ff9800", error: "#ff8f8f", saving: "", saved: "", idle: "" };

function placeBadge(element) {
  Object.assign(element.style, {
    alignSelf: "center", margin: "0 8px", fontSize: "12px", whiteSpace: "nowrap",
    fontVariantNumeric: "tabular-nums", color: "var(--muted)",
    // a long error is cut (the whole text is in the tooltip); the status itself never shrinks away
    maxWidth: "240px", overflow: "hidden", textOverflow: "ellipsis", flexShrink: "0",
  });
}

/** "12:03:14" in local time. */
export function clockTime(date) {
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** What the toolbar says for a queue status (`SaveQueue.status()`); "" before anything was saved. */
export function statusText(status) {
  switch (status.state) {
    case "saved":
      return status.savedAt ? `saved ${clockTime(status.savedAt)}` : "saved";
    case "saving":
      return status.pending > 1 ? `saving… (${status.pending} changes)` : "saving…";
    case "offline":
      return status.message || `offline: ${status.pending} changes queued`;
    case "conflict":
      return "conflict";
    case "error":
      return status.message || "error";
    default:
      return status.pending ? `${status.pending} changes to save` : "";
  }
}

/** A longer line for the element's title (tooltip). */
function statusTitle(status, durable) {
  const lines = [];
  if (status.state === "error" || status.state === "offline") lines.push(statusText(status) + ".");
  if (status.state === "offline") {
    lines.push("The server cannot be reached. Your changes are kept in this browser and sent, in order, "
      + "as soon as it answers (also after closing the tab: reopen the slide).");
  } else if (status.state === "conflict") {
    lines.push("Someone else changed this annotation. Choose which version to keep.");
  } else if (status.state === "error") {
    lines.push("The server refused a change; it was not saved.");
  } else if (status.state === "saved") {
    lines.push("Every change is saved on the server.");
  }
  if (!durable) lines.push("This browser does not keep changes (private mode?): a closed tab loses unsaved changes.");
  return lines.join(" ");
}

export class SaveStatus {
  /**
   * @param {HTMLElement} toolbar  the page's toolbar; the status goes after its drawing tools
   * @param {import("./save-queue.js").SaveQueue} queue
   * @param {{window?: Window, durable?: boolean}} [options]
   */
  constructor(toolbar, queue, { window: win = globalThis.window, durable = true } = {}) {
    this.queue = queue;
    this.durable = durable;
    const doc = toolbar.ownerDocument;
    this.element = doc.createElement("span");
    this.element.className = "save-status";
    this.element.dataset.saveStatus = "";
    this.element.setAttribute("role", "status");
    this.element.setAttribute("aria-live", "polite");
    placeBadge(this.element);
    const tools = toolbar.querySelector("[data-editor-tools]");
    if (tools) tools.after(this.element);
    else toolbar.append(this.element);
    this.onStatus = () => this.render();
    queue.addEventListener("status", this.onStatus);
    this.onUnload = (event) => {
      if (queue.hasUnstored()) {
        event.preventDefault();
        event.returnValue = ""; // the browser's own "leave the page?" prompt
      }
    };
    this.onOnline = () => queue.retryNow();
    win?.addEventListener("beforeunload", this.onUnload);
    win?.addEventListener("online", this.onOnline);
    this.window = win;
    this.render();
  }

  render() {
    const status = this.queue.status();
    this.element.textContent = statusText(status);
    this.element.dataset.state = status.state;
    this.element.dataset.pending = String(status.pending);
    this.element.title = statusTitle(status, this.durable);
    this.element.style.color = STATE_COLORS[status.state] || "var(--muted)";
  }

  destroy() {
    this.queue.removeEventListener("status", this.onStatus);
    this.window?.removeEventListener("beforeunload", this.onUnload);
    this.window?.removeEventListener("online", this.onOnline);
    this.element.remove();
  }
}

export function mountSaveStatus(toolbar, queue, options = {}) {
  return new SaveStatus(toolbar, queue, { durable: queue.storage?.durable !== false, ...options });
}

/** The read-only notice in the toolbar (READ_ONLY server: no editing tools, no saving). */
export function showReadOnly(toolbar) {
  const doc = toolbar.ownerDocument;
  const notice = doc.createElement("span");
  notice.className = "save-status read-only";
  notice.dataset.readOnly = "";
  notice.setAttribute("role", "status");
  placeBadge(notice);
  Object.assign(notice.style, { color: "#ffd38a", fontWeight: "600" });
  notice.textContent = "read-only: this server does not accept changes";
  notice.title = "The server runs in read-only mode (READ_ONLY): slides and annotations can be viewed, "
    + "not edited.";
  const tools = toolbar.querySelector("[data-editor-tools]");
  if (tools) tools.after(notice);
  else toolbar.append(notice);
  return notice;
}
