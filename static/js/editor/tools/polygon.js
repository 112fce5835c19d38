/**
 * Polygon and Spline tools (pure state machines), as ASAP draws them: a click adds a vertex;
 * holding the button while moving adds one every 40 CSS px; a click within 12 CSS px of the first
 * vertex (with at least 3), a double-click or Enter closes; Backspace/Delete removes the last
 * vertex (none left: cancelled); Esc cancels. A dashed rubber band follows the pointer.
 */

import { CLICK_PX, CLOSE_PX, createOp, cssDistance, draftOf } from "./common.js";

const DRAG_STEP_PX = 40;

/**
 * A tool drawing a closed outline of vertices.
 * @param {{name: string, key: string, label: string, type: string, icon: string}} spec
 */
export function vertexTool(spec) {
  return {
    name: spec.name, key: spec.key, label: spec.label, icon: spec.icon, cursor: "crosshair",
    start(ctx) {
      let points = [];
      let hover = null;
      let pressed = false;

      const draft = () => {
        if (!points.length) {
          return null;
        }
        const shown = hover ? [...points, hover] : points;
        return draftOf(ctx, spec.type, shown, { closed: false, rubber: Boolean(hover) });
      };
      const finish = () => {
        if (points.length < 3) {
          const had = points.length > 0;
          cancel();
          return had ? { draft: null, done: true, message: `a ${spec.label.toLowerCase()} needs 3 points at least` } : undefined;
        }
        const op = createOp(ctx, spec.type, points);
        points = [];
        hover = null;
        return { draft: null, ops: [op], done: true };
      };
      const cancel = () => {
        const had = points.length > 0;
        points = [];
        hover = null;
        return had ? { draft: null, done: true } : undefined;
      };
      const add = (p) => {
        const last = points[points.length - 1];
        if (!last || cssDistance(ctx, last, p) >= CLICK_PX / 2) {
          points.push(p);
        }
      };

      return {
        get drawing() {
          return points.length > 0;
        },
        down(pt) {
          pressed = true;
          return undefined;
        },
        move(pt) {
          hover = pt.slide;
          if (pressed && pt.dragging && points.length && cssDistance(ctx, points[points.length - 1], pt.slide) >= DRAG_STEP_PX) {
            points.push(pt.slide);
          }
          return points.length ? { draft: draft() } : undefined;
        },
        up(pt) {
          pressed = false;
          if (!pt.click && !points.length) {
            return undefined; // a drag that started nothing
          }
          if (points.length >= 3 && cssDistance(ctx, points[0], pt.slide) <= CLOSE_PX) {
            return finish();
          }
          add(pt.slide);
          hover = pt.slide;
          return { draft: draft() };
        },
        dblclick(pt) {
          // the double-click's second click added a vertex on the first one: drop it
          while (points.length >= 2 && cssDistance(ctx, points[points.length - 1], points[points.length - 2]) < CLICK_PX) {
            points.pop();
          }
          return finish();
        },
        key(event) {
          if (event.key === "Enter") {
            return points.length ? finish() : undefined;
          }
          if (event.key === "Backspace" || event.key === "Delete") {
            if (!points.length) {
              return undefined;
            }
            points.pop();
            return points.length ? { draft: draft() } : cancel() ?? { draft: null, done: true };
          }
          if (event.key === "Escape") {
            return cancel();
          }
          return undefined;
        },
        cancel,
      };
    },
  };
}

export const polygonTool = vertexTool({
  name: "polygon", key: "p", label: "Polygon", type: "Polygon",
  icon: '<path d="M5 18L4 8l8-4 8 5-3 10z"/>',
});

export const splineTool = vertexTool({
  name: "spline", key: "s", label: "Spline", type: "Spline",
  icon: '<path d="M4 16c2-9 6-11 9-7s5 4 7-3"/><circle cx="4" cy="16" r="1.5"/><circle cx="20" cy="6" r="1.5"/>',
});
