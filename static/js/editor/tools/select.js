/**
 * The select/move tool (pure state machine; key `v`, and Esc in another tool comes back to it):
 *
 * - click an annotation: select it (the layer's `hitTest`); shift-click adds or removes it;
 *   click on empty space: select nothing;
 * - drag on empty space: box-select, the annotations whose bbox lies inside the box (shift: added);
 * - drag a selected annotation (or one just clicked): move every selected one (`translate`);
 * - one annotation selected: drag a vertex handle to move it, click on an edge to insert a vertex
 *   (drag from an edge: insert it where the drag ends), alt-click a vertex or Delete/Backspace
 *   after clicking it to delete it (`vertex-edit.js` gives the rules per ASAP type);
 * - Delete/Backspace: delete the selection; Ctrl+D: duplicate it; Ctrl+C / Ctrl+V: copy, paste
 *   (`clipboard.js`, across slides); arrows: nudge the selection by 1 CSS px (Shift: 10).
 *
 * Selected annotations are fetched exact into the document (`ctx.load`) and drawn by the editor
 * canvas with their handles; `session.editing` tells it what to draw (live points while a vertex
 * is dragged, the active vertex, the cursor for the nearest handle), `session.moving` the live
 * offset of a selection being dragged; results carry `redraw: true` when those changed.
 *
 * Context beyond a drawing tool's (editor.js provides it): `hitTest(pt)`, `load(ref)`,
 * `selection`, `select(ids)`, `inBox(box)` → refs whose bbox lies inside a slide box, `loadBox(box,
 * refs)` (loads them in one request per set: a box of thousands), `apply(ops)`
 * (ops made after a load finished), `slide` {id, width, height}, `storage` (localStorage),
 * `groupNames(setId)`.
 */

import { segmentDistanceSq } from "../../layers/geometry.js";
import { copyEntries, duplicateOps, pasteOps } from "../clipboard.js";
import { propertiesOf } from "../document.js";
import {
  HIT_RADIUS_PX, deleteVertexOp, insertVertexOp, pickEdge, pickVertex, vertexDrag, vertexRules,
} from "../vertex-edit.js";
import { CLICK_PX, newLocalId } from "./common.js";

/** Shift of a duplicate or of a paste on the slide copied from, CSS px. */
export const PASTE_OFFSET_PX = 24;
const AREA_TYPES = new Set(["Polygon", "Spline", "Rectangle"]);

/**
 * Whether a slide point is on an entry: inside an area, or within `radius` slide px of its outline,
 * line or points.
 */
export function entryContains(entry, at, radius) {
  const pts = entry.points;
  const type = propertiesOf(entry.feature).type;
  const n = pts.length;
  if (!n) {
    return false;
  }
  const [x, y] = at;
  const ring = AREA_TYPES.has(type);
  if (type === "Dot" || type === "PointSet" || n === 1) {
    return pts.some((p) => Math.hypot(p[0] - x, p[1] - y) <= radius);
  }
  let inside = false;
  const r2 = radius * radius;
  const last = ring ? n : n - 1;
  for (let i = 0; i < last; i++) {
    const p = pts[i];
    const q = pts[(i + 1) % n];
    if (segmentDistanceSq(x, y, p[0], p[1], q[0], q[1]) <= r2) {
      return true;
    }
    if (ring && (p[1] > y) !== (q[1] > y) && x < ((q[0] - p[0]) * (y - p[1])) / (q[1] - p[1]) + p[0]) {
      inside = !inside; // even-odd ray crossing
    }
  }
  return ring && n >= 3 && inside;
}

/** Whether a slide point lies in the bounding box of points, grown by `radius`. */
function inBounds(points, [x, y], radius) {
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  return points.length > 0 && x >= Math.min(...xs) - radius && x <= Math.max(...xs) + radius
    && y >= Math.min(...ys) - radius && y <= Math.max(...ys) + radius;
}

/**
 * A screen vector (CSS px) as a slide vector, through the view's rotation and mirroring when the
 * context has a viewer, else at the zoom alone.
 */
export function screenToSlide(ctx, dx, dy) {
  const m = ctx.viewer?.stage?.frame?.()?.elementToSlide;
  if (m) {
    return [m.a * dx + m.c * dy, m.b * dx + m.d * dy];
  }
  return [dx / ctx.zoom(), dy / ctx.zoom()];
}

/** Slide box `[x0, y0, x1, y1]` of two corners. */
export function boxOf(a, b) {
  return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]), Math.max(a[1], b[1])];
}

export const selectTool = {
  name: "select", key: "v", label: "Select and edit", cursor: "default",
  icon: '<path d="M5 3l14 8-6 1.5L10 19z"/>',
  start(ctx) {
    let press = null; // {mode, start, ...} while the button is down
    let activeVertex = -1; // clicked vertex of the one selected annotation (Delete removes it)
    let cursor = null; // element px of the pointer, for the nearest handle
    let live = null; // {localId, points} while a vertex is dragged
    let moving = null; // {localIds, dx, dy} while the selection is dragged

    const zoom = () => ctx.zoom();
    const radius = () => HIT_RADIUS_PX / zoom();
    const selected = () => [...ctx.selection];
    const loaded = () => selected().map((id) => ctx.doc.get(id)).filter(Boolean);
    /** The one selected annotation when it is in the document (vertex editing needs it). */
    const single = () => {
      const ids = selected();
      return ids.length === 1 ? ctx.doc.get(ids[0]) ?? null : null;
    };
    const typeOf = (entry) => propertiesOf(entry.feature).type;
    const select = (ids) => {
      activeVertex = -1;
      ctx.select(ids);
    };
    const load = (ref) => (ctx.doc.has(ref.localId) ? Promise.resolve(ref.localId) : ctx.load(ref));
    /** Apply the ops `make` gives for entries (one undoable action), once all are loaded. */
    const withLoaded = (ids, make) => {
      const run = () => {
        const ops = make(ids.map((id) => ctx.doc.get(id)).filter(Boolean));
        if (ops.length) {
          ctx.apply(ops);
        }
      };
      if (ids.every((id) => ctx.doc.has(id))) {
        run();
        return { redraw: true };
      }
      Promise.all(pending.values()).then(run);
      return { message: "loading the selection…" };
    };
    const pending = new Map(); // localId -> Promise of its load
    const fetch = (refs) => {
      for (const ref of refs) {
        if (!ctx.doc.has(ref.localId) && !pending.has(ref.localId)) {
          const p = Promise.resolve(load(ref)).catch(() => null).finally(() => pending.delete(ref.localId));
          pending.set(ref.localId, p);
        }
      }
    };
    /** Load what a box selected: in one request per set where the context can (`ctx.loadBox`). */
    const fetchBox = (refs, box) => {
      const missing = refs.filter((r) => !ctx.doc.has(r.localId) && !pending.has(r.localId));
      if (!ctx.loadBox) {
        fetch(missing);
        return;
      }
      const all = Promise.resolve(ctx.loadBox(box, missing)).catch(() => null);
      for (const ref of missing) {
        pending.set(ref.localId, all.finally(() => pending.delete(ref.localId)));
      }
    };
    /**
     * Selected entry under a slide point (drawn by the editor, so the layer's hitTest may miss it);
     * a selected point set also between its points (its box): a drag there moves the whole set,
     * a drag on one of its points moves that point.
     */
    const selectedAt = (at) => loaded().find((e) => entryContains(e, at, radius())
      || (typeOf(e) === "PointSet" && inBounds(e.points, at, radius()))) ?? null;
    const shift = (px) => [px / zoom(), px / zoom()];

    const hover = (pt) => {
      const entry = single();
      if (entry && pickVertex(entry.points, pt.slide, radius()) >= 0) {
        return "move";
      }
      if (entry && pickEdge(typeOf(entry), entry.points, pt.slide, radius())) {
        return "copy";
      }
      if (selectedAt(pt.slide) || ctx.hitTest(pt)) {
        return "pointer";
      }
      return "default";
    };

    const session = {
      /** What the editor canvas draws with handles: the one annotation being edited. */
      get editing() {
        const entry = single();
        if (!entry) {
          return null;
        }
        const points = live && live.localId === entry.localId ? live.points : entry.points;
        return { localId: entry.localId, points, active: press?.mode === "vertex" ? press.index : activeVertex, cursor };
      },
      /** While the selection is dragged: its live offset (the editor canvas draws it there). */
      get moving() { return moving; },
      /** Keys beyond Enter/Backspace/Delete/Escape the editor passes to this tool. */
      keys: ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Ctrl+c", "Ctrl+v", "Ctrl+d"],
      /** Whether the tool still draws an entry (the editor keeps it in the document). */
      holds(localId) { return live?.localId === localId || Boolean(moving?.localIds.includes(localId)); },
      down(pt) {
        cursor = pt.element;
        if (ctx.readOnly) {
          return undefined;
        }
        const entry = single();
        if (entry) {
          const type = typeOf(entry);
          const v = pickVertex(entry.points, pt.slide, radius());
          if (v >= 0) {
            if (pt.alt) {
              const { op, message } = deleteVertexOp(entry.localId, type, entry.points.length, v);
              activeVertex = -1;
              return op ? { ops: [op] } : { message };
            }
            activeVertex = v;
            press = { mode: "vertex", start: pt, index: v, drag: vertexDrag(entry.localId, type, entry.points, v) };
            return { cursor: "move" };
          }
          const edge = pickEdge(type, entry.points, pt.slide, radius());
          if (edge) {
            press = { mode: "edge", start: pt, entry, edge };
            return undefined;
          }
        }
        activeVertex = -1;
        const mine = selectedAt(pt.slide);
        const ref = mine ? { localId: mine.localId, setId: mine.setId, annotationId: mine.annotationId } : ctx.hitTest(pt);
        if (!ref) {
          press = { mode: "box", start: pt, base: pt.shift ? selected() : [] };
          return undefined;
        }
        if (pt.shift) {
          const ids = new Set(ctx.selection);
          if (ids.has(ref.localId)) {
            ids.delete(ref.localId);
          } else {
            ids.add(ref.localId);
            fetch([ref]);
          }
          select([...ids]);
          press = null;
          return undefined;
        }
        if (!ctx.selection.has(ref.localId)) {
          select([ref.localId]);
          fetch([ref]);
        }
        press = { mode: "move", start: pt };
        return undefined;
      },
      move(pt) {
        cursor = pt.element;
        if (!press) {
          return { cursor: hover(pt), redraw: single() !== null }; // the handle under the cursor
        }
        const far = Math.hypot(pt.element[0] - press.start.element[0], pt.element[1] - press.start.element[1]) >= CLICK_PX;
        if (!far && !press.moved) {
          return undefined;
        }
        press.moved = true;
        const dx = pt.slide[0] - press.start.slide[0];
        const dy = pt.slide[1] - press.start.slide[1];
        switch (press.mode) {
          case "vertex": {
            live = { localId: single()?.localId, points: press.drag.move(pt.slide) };
            return { cursor: "move", redraw: true };
          }
          case "edge": {
            const { entry, edge } = press;
            const points = entry.points.slice();
            points.splice(edge.index, 0, pt.slide);
            live = { localId: entry.localId, points };
            return { cursor: "move", redraw: true };
          }
          case "move": {
            press.dx = dx;
            press.dy = dy;
            moving = { localIds: selected(), dx, dy };
            return { cursor: "move", redraw: true };
          }
          case "box": {
            const [x0, y0, x1, y1] = boxOf(press.start.slide, pt.slide);
            const corners = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
            return { draft: { type: "Rectangle", coordinates: corners, closed: true, style: "selection" } };
          }
          default:
            return undefined;
        }
      },
      up(pt) {
        cursor = pt.element;
        const p = press;
        press = null;
        live = null;
        moving = null;
        if (!p) {
          return undefined;
        }
        const click = !p.moved;
        switch (p.mode) {
          case "vertex":
            return click ? { cursor: "move", redraw: true } : { ops: p.drag.end(), cursor: "move", redraw: true };
          case "edge": {
            const at = click ? p.edge.at : pt.slide;
            const op = insertVertexOp(p.entry.localId, typeOf(p.entry), { index: p.edge.index, at });
            activeVertex = op ? p.edge.index : -1;
            return op ? { ops: [op] } : { redraw: true };
          }
          case "move": {
            if (click || (!p.dx && !p.dy)) {
              return { redraw: true };
            }
            const { dx, dy } = p;
            return withLoaded(selected(), (entries) => [{ kind: "translate", localIds: entries.map((e) => e.localId), dx, dy }]);
          }
          case "box": {
            if (click) {
              select(p.base);
              return { draft: null };
            }
            const refs = ctx.inBox(boxOf(p.start.slide, pt.slide));
            const ids = new Set(p.base);
            for (const r of refs) {
              ids.add(r.localId);
            }
            fetchBox(refs, boxOf(p.start.slide, pt.slide));
            select([...ids]);
            return { draft: null, message: `${ids.size} selected` };
          }
          default:
            return undefined;
        }
      },
      dblclick() {
        return undefined;
      },
      key(event) {
        const k = event.key;
        const ctrl = event.ctrl;
        if (ctrl && (k === "c" || k === "C")) {
          const entries = loaded();
          if (!entries.length) {
            return undefined;
          }
          const n = copyEntries(ctx.storage, ctx.slide.id, entries);
          return { message: `copied ${n}` };
        }
        if (ctrl && (k === "v" || k === "V")) {
          if (ctx.readOnly) {
            return undefined;
          }
          const ops = pasteOps(ctx.storage, ctx.slide.id, {
            setId: ctx.activeSetId(), group: ctx.activeGroup?.() ?? null, groups: ctx.groupNames?.(ctx.activeSetId()) ?? null,
            offset: shift(PASTE_OFFSET_PX), width: ctx.slide.width, height: ctx.slide.height, newId: ctx.newId ?? newLocalId,
          });
          if (!ops.length) {
            return { message: "nothing to paste" };
          }
          select(ops.map((o) => o.entry.localId));
          return { ops, message: `pasted ${ops.length}` };
        }
        if (ctx.readOnly || ctx.selection.size === 0) {
          return undefined;
        }
        if (ctrl && (k === "d" || k === "D")) {
          const entries = loaded();
          const ops = duplicateOps(entries, {
            offset: shift(PASTE_OFFSET_PX), width: ctx.slide.width, height: ctx.slide.height, newId: ctx.newId ?? newLocalId,
          });
          if (!ops.length) {
            return undefined;
          }
          select(ops.map((o) => o.entry.localId));
          return { ops };
        }
        if (k === "Delete" || k === "Backspace") {
          const entry = single();
          if (entry && activeVertex >= 0 && activeVertex < entry.points.length && vertexRules(typeOf(entry)).remove) {
            const { op, message } = deleteVertexOp(entry.localId, typeOf(entry), entry.points.length, activeVertex);
            activeVertex = -1;
            return op ? { ops: [op] } : { message };
          }
          const result = withLoaded(selected(), (entries) => entries.map((e) => ({ kind: "delete", localId: e.localId })));
          select([]); // after the deletes: the editor keeps what is being saved
          return result;
        }
        const nudge = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[k];
        if (nudge && !ctrl) {
          const [dx, dy] = screenToSlide(ctx, nudge[0] * (event.shift ? 10 : 1), nudge[1] * (event.shift ? 10 : 1));
          return withLoaded(selected(), (entries) => [{ kind: "translate", localIds: entries.map((e) => e.localId), dx, dy }]);
        }
        if (k === "Escape") {
          select([]);
          return { draft: null };
        }
        return undefined;
      },
      cancel() {
        const had = press !== null;
        press = null;
        live = null;
        moving = null;
        return had ? { draft: null, redraw: true } : undefined;
      },
    };
    return session;
  },
};
