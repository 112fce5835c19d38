/**
 * Exports of annotation sets, DOM-free: the download links of a set, the text shown for a mask
 * job (percent, rows, ETA), and the job's life as a state machine that POSTs the export and polls
 * the job until it ends. Every URL comes from the server (set.urls.export, job.urls.self /
 * result / cancel); only the documented query parameters are added here.
 */

import { csrfHeaders } from "./csrf.js";

/** Job states after which nothing changes any more. */
export const FINISHED = new Set(["done", "failed", "cancelled"]);

/** Writes carry a JSON body: the server refuses other writes from a browser (cross-site check). */
const JSON_WRITE = { headers: { "Content-Type": "application/json", ...csrfHeaders() }, body: "{}" };

/**
 * @param {string} url a URL given by the server (it may already have a query)
 * @param {string} query
 * @returns {string}
 */
export function withQuery(url, query) {
  return url + (url.includes("?") ? "&" : "?") + query;
}

/**
 * The query of a mask export.
 * @param {{downsample?: number, labels?: string}} [options] labels: "NAME=N,..." or empty
 * @returns {string}
 */
export function maskQuery({ downsample = 1, labels = "" } = {}) {
  const params = new URLSearchParams({ format: "mask", downsample: String(downsample) });
  if (labels.trim()) {
    params.set("labels", labels.trim());
  }
  return params.toString();
}

/**
 * The plain downloads of a set (answered at once by a GET).
 * @param {{urls: {export: string}}} set a set of GET urls.annotations
 * @returns {{format: string, label: string, href: string}[]}
 */
export function downloadLinks(set) {
  return [
    { format: "asap", label: "ASAP XML", href: withQuery(set.urls.export, "format=asap") },
    { format: "geojson", label: "GeoJSON", href: withQuery(set.urls.export, "format=geojson") },
  ];
}

/** Downsamples offered for masks. */
export const DOWNSAMPLES = [1, 2, 4, 8, 16, 32, 64, 128];

/**
 * The smallest offered downsample whose mask fits in *longest* px on its longer side.
 * @param {number} width level-0 px
 * @param {number} height level-0 px
 * @param {number} [longest]
 * @returns {number}
 */
export function defaultDownsample(width, height, longest = 4096) {
  const side = Math.max(width, height, 1);
  return DOWNSAMPLES.find((d) => Math.ceil(side / d) <= longest) ?? DOWNSAMPLES[DOWNSAMPLES.length - 1];
}

/**
 * A duration for people: "8 s", "2 min 05 s", "1 h 02 min"; "–" when unknown.
 * @param {number | null | undefined} seconds
 * @returns {string}
 */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) {
    return "–";
  }
  const whole = Math.ceil(seconds);
  if (whole < 60) {
    return `${whole} s`;
  }
  if (whole < 3600) {
    return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, "0")} s`;
  }
  const minutes = Math.round(whole / 60);
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

const number = new Intl.NumberFormat("en-US");

/**
 * @param {number} value
 * @returns {string} 12,345
 */
export function formatCount(value) {
  return number.format(value);
}

/**
 * What to show for a job: the bar's value (0-100) and a line of text.
 * @param {object} job a job of the API (see the OpenAPI schema Job)
 * @returns {{percent: number, text: string, tone: "busy" | "done" | "error"}}
 */
export function describeJob(job) {
  const percent = Math.max(0, Math.min(100, Number(job.percent) || 0));
  switch (job.state) {
    case "queued":
      return { percent, tone: "busy", text: `Waiting in the queue (position ${job.queue_position ?? "?"})` };
    case "running": {
      const rows = `${number.format(job.rows_done)} / ${number.format(job.rows_total)} rows`;
      const eta = job.eta_seconds === null || job.eta_seconds === undefined
        ? "estimating time left" : `${formatDuration(job.eta_seconds)} left`;
      return { percent, tone: "busy", text: `${percent.toFixed(0)}% · ${rows} · ${eta}` };
    }
    case "done":
      return { percent: 100, tone: "done", text: `Done: ${job.filename}` };
    case "cancelled":
      return { percent, tone: "error", text: `Cancelled${job.error ? `: ${job.error}` : ""}` };
    default:
      return { percent, tone: "error", text: `Failed: ${job.error ?? "unknown error"}` };
  }
}

/**
 * Milliseconds until the next poll: the server's Retry-After (seconds), kept within 0.25-5 s.
 * @param {string | null | undefined} retryAfter
 * @returns {number}
 */
export function pollDelay(retryAfter) {
  const seconds = Number(retryAfter);
  if (retryAfter === null || retryAfter === undefined || retryAfter === "" || !Number.isFinite(seconds)) {
    return 1000;
  }
  return Math.min(5000, Math.max(250, seconds * 1000));
}

/**
 * The error text of a failed response (the API's one error shape, else the status).
 * @param {{status: number, body: any}} response
 * @returns {string}
 */
export function errorText(response) {
  const message = response.body && typeof response.body.error === "string" ? response.body.error : null;
  return message ?? `the server answered HTTP ${response.status}`;
}

/**
 * @typedef {{status: number, body: any, retryAfter: string | null}} Reply
 * @typedef {(url: string, init: {method: string, headers?: object, body?: string}) => Promise<Reply>} Request
 */

/**
 * One mask export from start to end. States: idle → starting → queued → running → done, or
 * failed / cancelled / error (the request itself failed: a 4xx, the network). I/O is injected:
 * *request* sends one HTTP request, *sleep* waits, *onChange* hears every change.
 */
export class MaskExport {
  /**
   * @param {{request: Request, sleep: (ms: number) => Promise<void>, onChange?: (e: MaskExport) => void}} io
   */
  constructor({ request, sleep, onChange = () => {} }) {
    this.request = request;
    this.sleep = sleep;
    this.onChange = onChange;
    this.state = "idle";
    /** @type {object | null} the latest job from the server */
    this.job = null;
    /** @type {string | null} */
    this.error = null;
    this.cancelRequested = false;
  }

  /** The URL of the result once done. */
  get resultUrl() {
    return this.state === "done" && this.job ? this.job.urls.result : null;
  }

  /** Whether the export is over (whatever the outcome). */
  get finished() {
    return FINISHED.has(this.state) || this.state === "error";
  }

  _update(state, job = this.job, error = this.error) {
    this.state = state;
    this.job = job;
    this.error = error;
    this.onChange(this);
  }

  async _send(url, init) {
    try {
      return await this.request(url, init);
    } catch (err) {
      return { status: 0, body: { error: `network error: ${err && err.message ? err.message : err}` }, retryAfter: null };
    }
  }

  /**
   * POST the export, then poll the job until it ends.
   * @param {string} exportUrl set.urls.export
   * @param {{downsample?: number, labels?: string}} options
   * @returns {Promise<MaskExport>}
   */
  async run(exportUrl, options) {
    this._update("starting", null, null);
    let reply = await this._send(withQuery(exportUrl, maskQuery(options)), { method: "POST", ...JSON_WRITE });
    if (reply.status !== 202) {
      this._update("error", null, errorText(reply));
      return this;
    }
    this._update(reply.body.state, reply.body);
    let cancelSent = false;
    while (!FINISHED.has(this.state)) {
      if (this.cancelRequested && !cancelSent) {
        cancelSent = true;
        reply = await this._send(this.job.urls.cancel, { method: "POST", ...JSON_WRITE });
      } else {
        await this.sleep(pollDelay(reply.retryAfter));
        if (this.cancelRequested && !cancelSent) {
          continue; // cancel at once rather than poll first
        }
        reply = await this._send(this.job.urls.self, { method: "GET" });
      }
      if (reply.status !== 200) {
        this._update("error", this.job, errorText(reply));
        return this;
      }
      this._update(reply.body.state, reply.body);
    }
    return this;
  }

  /** Ask the server to cancel (sent before the next poll). */
  cancel() {
    if (!this.finished) {
      this.cancelRequested = true;
      this.onChange(this);
    }
  }
}
