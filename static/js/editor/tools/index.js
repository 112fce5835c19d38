/**
 * The editor's tools: one registry, in toolbar order. A tool is
 * `{name, key, label, icon (SVG inner markup), cursor, start(ctx) -> ToolSession}`; see
 * `/work/agents/editor-interfaces.md` and `editor.js` for ToolContext, ToolSession, ToolResult.
 * Other modules add theirs with `registerTool` (e.g. select, brush) before the editor is made.
 */

import { brushTool } from "./brush.js";
import { panTool, zoomTool } from "./navigate.js";
import { polygonTool, splineTool } from "./polygon.js";
import { selectTool } from "./select.js";
import { dotTool, freehandTool, pointSetTool, rectangleTool, rulerTool } from "./shapes.js";

/** @type {Map<string, object>} */
const TOOLS = new Map();

/**
 * Add a tool (or replace one of the same name).
 * @param {object} tool
 * @param {{before?: string}} [options] put it before the tool of that name in the toolbar
 */
export function registerTool(tool, options = {}) {
  if (!tool?.name || (typeof tool.start !== "function" && !tool.navigates)) {
    throw new TypeError("a tool needs a name and start(ctx) (or navigates: true)");
  }
  TOOLS.delete(tool.name);
  if (options.before && TOOLS.has(options.before)) {
    const entries = [...TOOLS];
    TOOLS.clear();
    for (const [name, t] of entries) {
      if (name === options.before) {
        TOOLS.set(tool.name, tool);
      }
      TOOLS.set(name, t);
    }
  } else {
    TOOLS.set(tool.name, tool);
  }
}

/** @returns {object[]} every tool, in toolbar order */
export function tools() {
  return [...TOOLS.values()];
}

/** @returns {object|null} the tool of a name */
export function tool(name) {
  return TOOLS.get(name) ?? null;
}

/** @returns {object|null} the tool of a key ("p" → polygon) */
export function toolForKey(key) {
  return tools().find((t) => t.key === key) ?? null;
}

registerTool(selectTool);
registerTool(panTool);
registerTool(zoomTool);
registerTool(dotTool);
registerTool(rectangleTool);
registerTool(polygonTool);
registerTool(freehandTool);
registerTool(splineTool);
registerTool(pointSetTool);
registerTool(rulerTool);
registerTool(brushTool);
