# WSI Viewer: gunicorn under a non-root user. Slides are mounted read-only at /slides; the data
# directory (demo slide, caches, jobs, overlays, SQLite annotation store) is a volume at /data.
# compose.yaml runs two of these behind nginx on PostgreSQL. A container binds every interface of
# its own, and a published port reaches the whole network: so logins are on (AUTH=builtin; add
# accounts with `wsi-viewer users add`), and AUTH=none would need WSI_VIEWER_INSECURE_NO_AUTH=1.
#   docker build -t wsi-viewer .
#   docker run -d --name wsi -p 8000:8000 -v /path/to/slides:/slides:ro -v wsi-data:/data wsi-viewer
#   docker exec -i wsi wsi-viewer users add alice --role admin    # the password on standard input
FROM python:3.12-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    WSI_VIEWER_SLIDE_DIR=/slides \
    WSI_VIEWER_DATA_DIR=/data \
    WSI_VIEWER_HOST=0.0.0.0 \
    WSI_VIEWER_PORT=8000 \
    WSI_VIEWER_AUTH=builtin

WORKDIR /src
COPY pyproject.toml README.md ./
COPY viewer/ viewer/
COPY static/ static/
COPY templates/ templates/
# A plain (non-editable) install: static/ and templates/ ship inside the wheel.
RUN pip install . && rm -rf /src

RUN useradd --create-home --uid 1000 viewer \
    && mkdir -p /slides /data && chown viewer:viewer /data
USER viewer
WORKDIR /home/viewer
VOLUME ["/slides", "/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('WSI_VIEWER_PORT', '8000'), timeout=4)"

# `wsi-viewer serve` runs gunicorn (threaded workers); set WSI_VIEWER_WORKERS / _THREADS as needed.
# With an empty WSI_VIEWER_SLIDE_DIR it serves the built-in demo from /data.
CMD ["wsi-viewer", "serve"]
