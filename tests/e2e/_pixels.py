"""Pixel probes run inside the page: read OpenSeadragon's drawn canvas, find coloured regions."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

#: The drawn slide canvas: the largest canvas of the pane (the navigator's is small) that is not an
#: overlay (the annotation, label, editor and conflict canvases are as large: the WebGL one has no 2D
#: context, and one a pixel larger than OpenSeadragon's in a compare pane was picked).
_CANVAS = """(pane) => {
  const slideCanvases = '[data-osd] canvas:not([data-overlay])';
  const canvases = [...document.querySelector(pane).querySelectorAll(slideCanvases)];
  return canvases.sort((a, b) => b.width * b.height - a.width * a.height)[0];
}"""


def canvas_stats(page: Page, pane: str = "[data-pane]") -> dict[str, Any]:
    """Summary of the drawn pixels: size, how many are drawn (alpha > 0) and how many only partly
    (a seam), how many look like H&E stain, and the spread of brightness."""
    return page.evaluate(
        f"""(pane) => {{
          const canvas = ({_CANVAS})(pane);
          const ctx = canvas.getContext('2d');
          const {{ data }} = ctx.getImageData(0, 0, canvas.width, canvas.height);
          let drawn = 0, translucent = 0, pinkish = 0, sum = 0, sum2 = 0, n = 0;
          for (let i = 0; i < data.length; i += 4) {{
            const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
            if (a === 0) continue;
            drawn++;
            if (a < 250) translucent++;  // 254 is rounding of the rotated drawing; a seam is far lower
            const lum = (r + g + b) / 3;
            sum += lum; sum2 += lum * lum; n++;
            if (r > g + 25 && b > g + 10) pinkish++;  // eosin / haematoxylin hues
          }}
          const mean = n ? sum / n : 0;
          return {{ width: canvas.width, height: canvas.height, total: data.length / 4, drawn, translucent,
                    pinkish, std: n ? Math.sqrt(sum2 / n - mean * mean) : 0 }};
        }}""",
        pane,
    )


def find_colour(page: Page, rgb: tuple[int, int, int], tolerance: int = 40,
                pane: str = "[data-pane]") -> dict[str, float] | None:
    """Centroid (page CSS px) and pixel count of the canvas pixels close to *rgb*, or None."""
    return page.evaluate(
        f"""([pane, rgb, tol]) => {{
          const canvas = ({_CANVAS})(pane);
          const {{ data }} = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
          let sx = 0, sy = 0, n = 0;
          for (let y = 0; y < canvas.height; y++) {{
            for (let x = 0; x < canvas.width; x++) {{
              const i = (y * canvas.width + x) * 4;
              if (Math.abs(data[i] - rgb[0]) <= tol && Math.abs(data[i + 1] - rgb[1]) <= tol &&
                  Math.abs(data[i + 2] - rgb[2]) <= tol && data[i + 3] > 200) {{
                sx += x; sy += y; n++;
              }}
            }}
          }}
          if (!n) return null;
          const rect = canvas.getBoundingClientRect();
          const scale = rect.width / canvas.width;
          return {{ x: rect.left + (sx / n + 0.5) * scale, y: rect.top + (sy / n + 0.5) * scale,
                    count: n, scale }};
        }}""",
        [pane, list(rgb), tolerance],
    )
