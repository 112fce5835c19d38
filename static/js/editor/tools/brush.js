/**
 * The brush tool (pure state machine; key `b`): drag to add a stroke of the brush's width to a
 * polygon, Alt+drag (or `c`, which switches the tool between add and cut) to cut it away. The
 * geometry is `../brush.js` (clipper2-ts on integer coordinates, simplified at 0.5 screen px).
 *
 * - Which polygon: the selected one (the one under the press if several are selected); with none
 *   selected, the area annotation under the press (it is loaded and selected). An add with nothing
 *   selected and nothing under the press draws a new polygon in the active group (as QuPath's).
 * - What the stroke makes: the biggest piece stays the annotation (`splice` ops of the changed run only; a rectangle
 *   or a spline becomes a Polygon), every other piece is a new annotation of the same group
 *   and colour (`create`: an add away from the polygon, a cut through it), holes are bridged into
 *   their piece's ring (`bridgeHoles`); a cut removing everything deletes the annotation. All in
 *   one undoable action.
 * - Width: `<` / `>` (smaller / larger by 1.25×, 2–400 CSS px; `[` `]` rotate the view), kept for
 *   the next session of the tool. The brush circle follows the cursor; while dragging, the
 *   stroke's outline is drawn (green: add, red: cut).
 * - A click is a dab (a disc). Esc cancels the stroke being drawn.
 * - Timing: the session's `lastStroke` ({ms, points, vertices, mode}, or null) is the script time of
 *   the last stroke's geometry (offset, union / difference, rings: what the tool computes on
 *   release), its stroke points and the vertices of the result; `benchmarks/editor.py` reads it.
 */

import { flattenSpline } from "../../layers/geometry.js";
import { annotationRings, brushShape, strokeOutline } from "../brush.js";
import { makeEntry, makeFeature, propertiesOf, ringSplices } from "../document.js";
import { createOp, newLocalId } from "./common.js";

export const MIN_WIDTH_PX = 2;
export const MAX_WIDTH_PX = 400;
export const DEFAULT_WIDTH_PX = 24;
/** The brush's outline and the result are simplified at this many CSS px. */
export const TOLERANCE_PX = 0.5;
/** A new stroke point every this many CSS px of pointer movement. */
const STEP_PX = 1;
const ADD_COLOR = "#00e676";
const CUT_COLOR = "#ff5252";
/** Types the brush edits (others have no area). */
const AREA_TYPES = new Set(["Polygon", "Rectangle", "Spline"]);

let warmed = false;
/**
 * A few small strokes, once a page, soon after the brush is first chosen: the page's first real
 * stroke then runs compiled code (clipper's first call on a 10,000-vertex polygon costs several
 * times a later one's; `benchmarks/brush.mjs` prints both).
 */
function warmUp() {
  // the path a real stroke takes (strokeOps: clipper, rings, splices) at a real size: a 10,000-point
  // circle and 100-point strokes across its edge; smaller warm-ups left the first real add at ~3x
  // a later one's time (benchmarks/editor.py, round 1)
  const n = 10000;
  const ring = Array.from({ length: n }, (_, i) => [1000 * Math.cos((i * 2 * Math.PI) / n), 1000 * Math.sin((i * 2 * Math.PI) / n)]);
  const stroke = Array.from({ length: 100 }, (_, i) => [900 + 2 * i, 40 * Math.sin(i / 9)]);
  const feature = makeFeature({ name: "warm-up", type: "Polygon", group: null, color: "#000000" }, ring);
  const entry = makeEntry({ localId: "warm-up", setId: 0, feature });
  for (let i = 0; i < 4; i++) {
    strokeOps(entry, stroke, 20, i % 2 ? "cut" : "add", { tolerance: 0.5, newId: () => "warm-up-piece" });
  }
}

/** The script time of the last stroke's geometry (see the module's doc); one per page. */
let lastStroke = null;

/** Record the time since *t0* of a stroke of *points* that gave *ops* (or rings). */
function timed(t0, points, mode, rings) {
  lastStroke = {
    ms: performance.now() - t0, points: points.length, mode,
    vertices: rings.reduce((n, ring) => n + ring.length, 0),
  };
}

/** Rings of the ops a stroke made (what the result holds). */
const ringsOf = (ops) => ops.rings ?? ops.flatMap((op) => (op.kind === "set-coordinates" ? [op.coordinates]
  : op.kind === "create" ? [op.entry.points] : []));

/** The brush's settings, kept across sessions of the tool (and page loads, when storage is given). */
const settings = { width: DEFAULT_WIDTH_PX, cut: false };
const STORAGE_KEY = "wsi-viewer-brush-width";

/**
 * The outline an area annotation's points stand for (a spline is flattened as drawn).
 * @param {string} type
 * @param {number[][]} points
 * @returns {number[][]}
 */
export function outlineOf(type, points) {
  return type === "Spline" ? flattenSpline(points, true) : points;
}

/**
 * The ops of one brush stroke on an entry of the document.
 * @param {object} entry the brushed annotation (document entry)
 * @param {number[][]} stroke slide px
 * @param {number} width slide px
 * @param {"add"|"cut"} mode
 * @param {{tolerance: number, newId?: () => string}} options tolerance in slide px
 * @returns {object[]} ops (empty: nothing changed)
 */
export function strokeOps(entry, stroke, width, mode, { tolerance, newId = newLocalId }) {
  const props = propertiesOf(entry.feature);
  const outer = outlineOf(props.type, entry.points);
  const pieces = brushShape({ outer, holes: [] }, stroke, width, mode, { tolerance });
  const { main, extra } = annotationRings(pieces);
  if (!main) {
    return [{ kind: "delete", localId: entry.localId }];
  }
  if (!extra.length && main === outer) {
    return []; // brushShape gave the input back (an empty stroke)
  }
  const ops = [];
  if (props.type !== "Polygon") {
    ops.push({ kind: "set-properties", localId: entry.localId, properties: { type: "Polygon" } });
  }
  // only the run the stroke changed (undo then stores that run, not the whole 10,000-point ring)
  ops.push(...ringSplices(entry.localId, entry.points, main));
  extra.forEach((ring, i) => {
    const feature = makeFeature({ ...props, type: "Polygon", name: `${props.name} (${i + 2})` }, ring);
    ops.push({ kind: "create", entry: makeEntry({ localId: newId(), setId: entry.setId, feature }) });
  });
  ops.rings = [main, ...extra]; // what the result holds (the stroke's timing record counts them)
  return ops;
}

/** A ring of `n` points round a centre (the brush circle), slide px. */
function circle(center, radius, n = 48) {
  return Array.from({ length: n }, (_, i) => {
    const a = (2 * Math.PI * i) / n;
    return [center[0] + radius * Math.cos(a), center[1] + radius * Math.sin(a)];
  });
}

export const brushTool = {
  name: "brush", key: "b", label: "Brush (drag adds to a polygon, Alt+drag cuts)", cursor: "crosshair",
  icon: '<path d="M4 20c3 0 5-2 5-5l9-9a2 2 0 0 0-3-3l-9 9c-3 0-5 2-2 8z"/>',

  /** @param {object} ctx ToolContext (editor.js) */
  start(ctx) {
    if (!warmed) {
      warmed = true;
      setTimeout(warmUp, 0);
    }
    const stored = Number(ctx.storage?.getItem?.(STORAGE_KEY));
    if (stored >= MIN_WIDTH_PX && stored <= MAX_WIDTH_PX) {
      settings.width = stored;
    }
    let stroke = null; // slide points of the stroke being drawn
    let mode = "add";
    let target = null; // localId of the brushed annotation, or null (a new one)
    let loading = null; // Promise<localId> while the target is fetched
    let hover = null;

    const zoom = () => ctx.zoom() || 1;
    const widthSlide = () => settings.width / zoom();
    const tolerance = () => TOLERANCE_PX / zoom();
    const modeNow = (alt) => ((settings.cut !== Boolean(alt)) ? "cut" : "add");
    const label = (m) => `${m} ${Math.round(settings.width)} px`;
    const draft = () => {
      const m = stroke ? mode : modeNow(false);
      const color = m === "cut" ? CUT_COLOR : ADD_COLOR;
      if (stroke) {
        const rings = strokeOutline(stroke, widthSlide(), { tolerance: tolerance() });
        const ring = rings.reduce((a, b) => (b.length > a.length ? b : a), rings[0] ?? []);
        return {
          type: "Polygon", coordinates: ring, closed: true, vertices: false, style: m === "cut" ? "cut" : "draft", color,
        };
      }
      if (!hover) {
        return null;
      }
      return {
        type: "Polygon", coordinates: circle(hover, widthSlide() / 2), closed: true, vertices: false,
        style: m === "cut" ? "cut" : "draft", color,
        label: label(m),
      };
    };
    const isArea = (localId) => {
      const entry = ctx.doc.get(localId);
      return Boolean(entry) && AREA_TYPES.has(propertiesOf(entry.feature).type) && entry.points.length >= 3;
    };
    const chooseTarget = (pt) => {
      const selected = [...(ctx.selection ?? [])].filter(isArea);
      const hit = ctx.hitTest(pt);
      if (hit && selected.includes(hit.localId)) {
        return hit.localId;
      }
      if (selected.length) {
        return selected[0];
      }
      if (!hit) {
        return null;
      }
      loading = ctx.load({ setId: hit.setId, annotationId: hit.annotationId }).then((localId) => {
        if (isArea(localId)) {
          ctx.select([localId]);
        }
        return localId;
      });
      return hit.localId;
    };
    const finish = () => {
      const points = stroke;
      const m = mode;
      const id = target;
      const pending = loading;
      stroke = null;
      target = null;
      loading = null;
      const width = widthSlide();
      const tol = tolerance();
      if (id === null) {
        if (m === "cut") {
          return { draft: draft(), message: "brush: select a polygon to cut from" };
        }
        const t0 = performance.now();
        const pieces = brushShape({ outer: [] }, points, width, "add", { tolerance: tol });
        const { main } = annotationRings(pieces);
        timed(t0, points, m, main ? [main] : []);
        if (!main) {
          return { draft: draft() };
        }
        const op = createOp(ctx, "Polygon", main);
        ctx.select?.([op.entry.localId]); // the next stroke adds to it
        return { draft: draft(), ops: [op], message: label(m) };
      }
      const make = () => {
        if (!isArea(id)) {
          return null;
        }
        const t0 = performance.now();
        const ops = strokeOps(ctx.doc.get(id), points, width, m, { tolerance: tol, newId: ctx.newId });
        timed(t0, points, m, ringsOf(ops));
        return ops;
      };
      if (ctx.doc.has(id)) {
        const ops = make();
        if (!ops) {
          return { draft: draft(), message: "brush: not an area" };
        }
        const created = ops.filter((op) => op.kind === "create").map((op) => op.entry.localId);
        if (created.length) {
          // the pieces stay selected together (and held by the editor, so that an undo finds them)
          ctx.select?.([id, ...created]);
        }
        return { draft: draft(), ops, message: label(m) };
      }
      if (pending && ctx.apply) {
        pending.then(() => {
          const ops = make();
          if (ops?.length) {
            ctx.apply(ops);
          }
        }, () => {});
        return { draft: draft(), message: label(m) };
      }
      return { draft: draft(), message: "brush: the polygon is still loading; brush again" };
    };

    return {
      keys: ["<", ">", "c"],
      get drawing() {
        return stroke !== null;
      },
      get lastStroke() {
        return lastStroke;
      },
      holds(localId) {
        return localId === target;
      },
      down(pt) {
        if (ctx.readOnly) {
          return undefined;
        }
        mode = modeNow(pt.alt);
        target = chooseTarget(pt);
        stroke = [pt.slide];
        hover = pt.slide;
        return { draft: draft() };
      },
      move(pt) {
        hover = pt.slide;
        if (stroke) {
          const last = stroke[stroke.length - 1];
          if (Math.hypot(pt.slide[0] - last[0], pt.slide[1] - last[1]) * zoom() >= STEP_PX) {
            stroke.push(pt.slide);
          }
        }
        return { draft: draft() };
      },
      up(pt) {
        if (!stroke) {
          return undefined;
        }
        const last = stroke[stroke.length - 1];
        if (!pt.click && (pt.slide[0] !== last[0] || pt.slide[1] !== last[1])) {
          stroke.push(pt.slide);
        }
        hover = pt.slide;
        return finish();
      },
      key(event) {
        if (event.key === "<" || event.key === ">") {
          const factor = event.key === ">" ? 1.25 : 1 / 1.25;
          settings.width = Math.min(MAX_WIDTH_PX, Math.max(MIN_WIDTH_PX, settings.width * factor));
          ctx.storage?.setItem?.(STORAGE_KEY, String(settings.width));
          return { draft: draft(), message: label(modeNow(false)) };
        }
        if (event.key === "c") {
          settings.cut = !settings.cut;
          return { draft: draft(), message: label(modeNow(false)) };
        }
        if (event.key === "Escape" && stroke) {
          return this.cancel();
        }
        return undefined;
      },
      cancel() {
        const had = stroke !== null;
        stroke = null;
        target = null;
        loading = null;
        return had ? { draft: draft() } : undefined;
      },
    };
  },
};

/** The brush's width in CSS px and whether it cuts (for the toolbar and tests). */
export function brushSettings() {
  return { ...settings };
}
