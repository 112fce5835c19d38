"""Peer tile servers for ``benchmarks/tiles.py`` (run under gunicorn by the benchmark, not shipped)."""
