/**
 * The one- and two-gesture tools (pure state machines): dot (a click), rectangle (a drag from
 * corner to corner, or two clicks), measurement ruler (a drag or two clicks, live length), point
 * set (clicks; Enter or a double-click ends, Backspace removes the last point, Esc cancels) and
 * freehand (a drag, simplified by Douglas-Peucker at 1 CSS px so a stroke is not thousands of
 * points). Rectangles are axis-aligned in slide space (as ASAP stores them), also on a rotated view;
 * a double-click with the rectangle tool asks for a size (ASAP's dialog: µm, 1000 × 1000) and
 * centres that rectangle on the click (`ToolResult.ask`: the editor shows the form).
 */

import { CLICK_PX, createOp, cssDistance, draftOf, simplify } from "./common.js";

/** The 4 corners of the slide-axis-aligned rectangle spanned by two points: TL, TR, BR, BL. */
export function rectangleCorners(a, b) {
  const x0 = Math.min(a[0], b[0]);
  const x1 = Math.max(a[0], b[0]);
  const y0 = Math.min(a[1], b[1]);
  const y1 = Math.max(a[1], b[1]);
  return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
}

export const dotTool = {
  name: "dot", key: "d", label: "Dot", cursor: "crosshair",
  icon: '<circle cx="12" cy="12" r="4" fill="currentColor"/>',
  start(ctx) {
    return {
      up(pt) {
        return pt.click ? { ops: [createOp(ctx, "Dot", [pt.slide])], done: true } : undefined;
      },
      cancel: () => undefined,
    };
  },
};

/**
 * A tool spanning a shape between two points: a drag, or a click then a second click.
 * @param {{name, key, label, icon, type, shape: (a, b) => number[][], valid: (ctx, a, b) => boolean}} spec
 */
function twoPointTool(spec) {
  return {
    name: spec.name, key: spec.key, label: spec.label, icon: spec.icon, cursor: "crosshair",
    start(ctx) {
      let first = null;
      let clicked = false; // the first point came from a click: the next click ends
      const draft = (b) => draftOf(ctx, spec.type, spec.shape(first, b), { closed: spec.type !== "Measurement" });
      const cancel = () => {
        const had = first !== null;
        first = null;
        clicked = false;
        return had ? { draft: null, done: true } : undefined;
      };
      const finish = (b) => {
        if (!spec.valid(ctx, first, b)) {
          return cancel();
        }
        const op = createOp(ctx, spec.type, spec.shape(first, b));
        first = null;
        clicked = false;
        return { draft: null, ops: [op], done: true };
      };
      return {
        get drawing() {
          return first !== null;
        },
        down(pt) {
          if (first === null) {
            first = pt.slide;
          }
          return undefined;
        },
        move(pt) {
          return first ? { draft: draft(pt.slide) } : undefined;
        },
        up(pt) {
          if (!first) {
            return undefined;
          }
          if (pt.click && !clicked) {
            clicked = true; // first corner placed; the second click ends
            return { draft: draft(pt.slide) };
          }
          return finish(pt.slide);
        },
        dblclick(pt) {
          cancel(); // the double-click's two clicks spanned nothing
          return spec.dblclick ? spec.dblclick(ctx, pt) : { draft: null, done: true };
        },
        key(event) {
          return event.key === "Escape" || event.key === "Backspace" || event.key === "Delete" ? cancel() : undefined;
        },
        cancel,
      };
    },
  };
}

/**
 * ASAP's rectangle double-click: ask for a width and height (µm with a resolution, else px;
 * 1000 × 1000 by default) and make the rectangle of that size centred on the click.
 */
function askRectangleSize(ctx, pt) {
  const physical = Boolean(ctx.mppX && ctx.mppY);
  const unit = physical ? "µm" : "px";
  const centre = pt.slide;
  return {
    draft: null,
    ask: {
      title: "Rectangle of a given size",
      fields: [
        { name: "width", label: `Width (${unit})`, value: 1000 },
        { name: "height", label: `Height (${unit})`, value: 1000 },
      ],
      /** @param {{width: number, height: number}} values */
      then(values) {
        const w = Number(values.width) / (physical ? ctx.mppX : 1);
        const h = Number(values.height) / (physical ? ctx.mppY : 1);
        if (!(w > 0 && h > 0 && Number.isFinite(w) && Number.isFinite(h))) {
          return { message: "width and height must be positive numbers", done: true };
        }
        const a = [centre[0] - w / 2, centre[1] - h / 2];
        const b = [centre[0] + w / 2, centre[1] + h / 2];
        return { ops: [createOp(ctx, "Rectangle", rectangleCorners(a, b))], done: true };
      },
    },
  };
}

const farEnough = (ctx, a, b) => cssDistance(ctx, a, b) >= CLICK_PX;

export const rectangleTool = twoPointTool({
  name: "rectangle", key: "r", label: "Rectangle", type: "Rectangle",
  icon: '<rect x="4" y="6" width="16" height="12" rx="1"/>',
  shape: rectangleCorners,
  dblclick: askRectangleSize,
  valid: (ctx, a, b) => Math.abs(a[0] - b[0]) * ctx.zoom() >= CLICK_PX / 2 && Math.abs(a[1] - b[1]) * ctx.zoom() >= CLICK_PX / 2,
});

export const rulerTool = twoPointTool({
  name: "ruler", key: "m", label: "Measurement", type: "Measurement",
  icon: '<path d="M4 16L16 4l4 4L8 20z"/><path d="M8 12l2 2M11 9l2 2M14 6l2 2"/>',
  shape: (a, b) => [a, b],
  valid: farEnough,
});

export const pointSetTool = {
  name: "pointset", key: "i", label: "Point set", cursor: "crosshair",
  icon: '<circle cx="6" cy="8" r="2" fill="currentColor"/><circle cx="16" cy="6" r="2" fill="currentColor"/><circle cx="10" cy="17" r="2" fill="currentColor"/><circle cx="18" cy="16" r="2" fill="currentColor"/>',
  start(ctx) {
    let points = [];
    const draft = () => (points.length ? draftOf(ctx, "PointSet", points) : null);
    const cancel = () => {
      const had = points.length > 0;
      points = [];
      return had ? { draft: null, done: true } : undefined;
    };
    const finish = () => {
      if (!points.length) {
        return undefined;
      }
      const op = createOp(ctx, "PointSet", points);
      points = [];
      return { draft: null, ops: [op], done: true };
    };
    return {
      get drawing() {
        return points.length > 0;
      },
      up(pt) {
        if (!pt.click) {
          return undefined;
        }
        points.push(pt.slide);
        return { draft: draft() };
      },
      dblclick() {
        // the second click of the double-click added a point on the first one: drop it
        while (points.length >= 2 && cssDistance(ctx, points[points.length - 1], points[points.length - 2]) < CLICK_PX) {
          points.pop();
        }
        return finish();
      },
      key(event) {
        if (event.key === "Enter") {
          return finish();
        }
        if (event.key === "Backspace" || event.key === "Delete") {
          if (!points.length) {
            return undefined;
          }
          points.pop();
          return points.length ? { draft: draft() } : cancel();
        }
        return event.key === "Escape" ? cancel() : undefined;
      },
      cancel,
    };
  },
};

/** Douglas-Peucker tolerance of a freehand stroke, CSS px. */
export const FREEHAND_TOLERANCE_PX = 1;

export const freehandTool = {
  name: "freehand", key: "f", label: "Freehand", cursor: "crosshair",
  icon: '<path d="M4 15c2-6 5-9 8-7s1 6 4 7 3-3 4-5"/>',
  start(ctx) {
    let stroke = null;
    const cancel = () => {
      const had = stroke !== null;
      stroke = null;
      return had ? { draft: null, done: true } : undefined;
    };
    return {
      get drawing() {
        return stroke !== null;
      },
      down(pt) {
        stroke = [pt.slide];
        return undefined;
      },
      move(pt) {
        if (!stroke) {
          return undefined;
        }
        const last = stroke[stroke.length - 1];
        if (cssDistance(ctx, last, pt.slide) >= 0.5) {
          stroke.push(pt.slide);
        }
        return pt.dragging ? { draft: draftOf(ctx, "Polygon", stroke, { closed: true }) } : undefined;
      },
      up(pt) {
        if (!stroke) {
          return undefined;
        }
        stroke.push(pt.slide);
        const points = simplify(stroke, FREEHAND_TOLERANCE_PX / ctx.zoom());
        stroke = null;
        if (pt.click || points.length < 3) {
          return { draft: null, done: true };
        }
        const last = points[points.length - 1];
        if (points.length > 3 && cssDistance(ctx, points[0], last) < CLICK_PX) {
          points.pop(); // the stroke ended on its start: the ring closes by itself
        }
        return { draft: null, ops: [createOp(ctx, "Polygon", points)], done: true };
      },
      key(event) {
        return event.key === "Escape" ? cancel() : undefined;
      },
      cancel,
    };
  },
};
