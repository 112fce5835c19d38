/**
 * Navigation tools (ASAP's `x` pan and `z` zoom). Pan hands the pointer back to OpenSeadragon
 * (drag to pan, double-click to zoom); zoom: a click zooms in ×2 at the pointer (Shift+click
 * out), a vertical drag zooms continuously (up = in), as ASAP's zoom tool.
 */

export const panTool = {
  name: "pan", key: "x", label: "Pan (navigate)", cursor: "", navigates: true,
  icon: '<path d="M12 3v18M3 12h18M12 3l-3 3M12 3l3 3M12 21l-3-3M12 21l3-3M3 12l3-3M3 12l3 3M21 12l-3-3M21 12l-3 3"/>',
};

export const zoomTool = {
  name: "zoom", key: "z", label: "Zoom (drag up or down)", cursor: "zoom-in",
  icon: '<circle cx="10" cy="10" r="6"/><path d="M14.5 14.5L20 20M7.5 10h5M10 7.5v5"/>',
  start() {
    let anchor = null;
    let lastY = 0;
    return {
      down(pt) {
        anchor = pt.element;
        lastY = pt.element[1];
        return undefined;
      },
      move(pt) {
        if (!anchor || !pt.dragging) {
          return undefined;
        }
        const dy = pt.element[1] - lastY;
        lastY = pt.element[1];
        return { view: { zoomBy: Math.exp(-dy / 150), at: anchor } };
      },
      up(pt) {
        const at = anchor;
        anchor = null;
        return pt.click ? { view: { zoomBy: pt.shift ? 0.5 : 2, at: at ?? pt.element } } : undefined;
      },
      cancel() {
        anchor = null;
        return undefined;
      },
    };
  },
};
