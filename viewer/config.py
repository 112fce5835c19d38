"""Settings: one table, read in layers.

Every setting is a row of :data:`SETTINGS` with a default and a help line. The same name works
everywhere: as an environment variable ``WSI_VIEWER_<NAME>``, as a lower-case key in a TOML config
file (``--config FILE`` or ``WSI_VIEWER_CONFIG``), and as a ``--kebab-case`` option of
``wsi-viewer serve``. Later layers win: defaults < config file < environment < explicit overrides.
The README documents every row (``tests/test_docs.py`` checks it).
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from viewer.errors import ConfigError

ENV_PREFIX = "WSI_VIEWER_"


@dataclass(frozen=True)
class Setting:
    """One configurable value: its name, type, default and a one-line help text."""

    name: str
    type: type
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("SLIDE_DIR", str, "", "Directory scanned recursively for slides. "
            "Empty: serve the built-in demo."),
    Setting("DATA_DIR", str, "", "Writable directory for the demo slide, caches and the annotation database. "
            "Empty: ~/.local/share/wsi-viewer (or $XDG_DATA_HOME/wsi-viewer)."),
    Setting("HOST", str, "127.0.0.1", "Address `wsi-viewer serve` binds to."),
    Setting("PORT", int, 8000, "Port `wsi-viewer serve` binds to."),
    Setting("ALLOWED_HOSTS", str, "", "Comma-separated host names (optionally name:port) the server answers "
            "to besides localhost, 127.0.0.1, [::1] and a specific HOST; other Host headers get 421 "
            "(DNS rebinding). * accepts any (only behind a proxy that checks it)."),
    Setting("ALLOWED_ORIGINS", str, "", "Comma-separated origins (https://name[:port]) besides the server's "
            "own whose pages may write (POST/PUT/PATCH/DELETE); writes from other origins get 403."),
    Setting("WORKERS", int, 2, "Gunicorn worker processes."),
    Setting("THREADS", int, 8, "Threads per gunicorn worker (tile reads release the GIL)."),
    Setting("DEBUG", bool, False, "Run Flask's development server with the debugger instead of gunicorn."),
    Setting("TILE_SIZE", int, 0, "Deep Zoom tile size in px. 0: per slide, the slide's own stored tile size "
            "with overlap 0 when it is a JPEG-tiled TIFF (stored tiles are then sent as they are), "
            "else 254."),
    Setting("TILE_OVERLAP", int, -1, "Deep Zoom tile overlap in px. -1: 0 with stored-tile size, else 1."),
    Setting("TILE_FORMAT", str, "jpeg", "Format of decoded tiles: jpeg or png."),
    Setting("TILE_QUALITY", int, 80, "JPEG quality of re-encoded tiles (1-100)."),
    Setting("LIMIT_BOUNDS", bool, True, "Show only the slide's scanned bounds (openslide.bounds-*)."),
    Setting("COLOR_MANAGEMENT", bool, True, "Convert slides that carry an ICC profile to sRGB."),
    Setting("SLIDE_CACHE_SIZE", int, 32, "Open slide handles kept per worker (LRU)."),
    Setting("TILE_CACHE_MB", int, 256, "Encoded tiles kept in memory per worker, in MiB (LRU by bytes)."),
    Setting("RENDERED_TILE_CACHE_MB", int, 1024, "Rendered tiles (edge tiles, missing levels, PNG) kept on "
            "disk in DATA_DIR and shared by every worker, in MiB (oldest first out); 0: none."),
    Setting("DERIVED_LEVEL_MAX_MPX", int, 16, "Largest pyramid level, in megapixels, built in memory "
            "for a slide "
            "that lacks low-resolution levels (e.g. a single-level SVS)."),
    Setting("SERVE_ASSOCIATED_IMAGES", bool, False, "Serve associated images (label, macro). Off by default: "
            "a slide label can carry a patient name."),
    Setting("ASSOCIATED_IMAGE_ROLES", str, "admin,annotator", "With AUTH=builtin or proxy, the roles "
            "(comma-separated: viewer, annotator, admin) that see associated images when they are served."),
    Setting("THUMBNAIL_MAX", int, 1024, "Largest thumbnail edge a client may request, in px."),
    Setting("MAX_UPLOAD_MB", int, 64, "Largest request body accepted (annotation uploads), in MiB."),
    Setting("HEADER_TIMEOUT", int, 10, "Seconds a connection has to send a whole request head (request "
            "line and header fields), from its start or from its first byte after a keep-alive pause; "
            "later: 408 and closed."),
    Setting("BODY_IDLE_TIMEOUT", int, 30, "Longest pause, in seconds, while a client sends a request body "
            "or takes a response; longer: 408 (body) or closed."),
    Setting("BODY_TIMEOUT", int, 300, "Seconds a whole request body may take to arrive; longer: 408."),
    Setting("ANNOTATION_MAX_MB", int, 256, "Largest annotation file accepted, MiB."),
    Setting("DATABASE", str, "", "Annotation store: empty for SQLite (WAL) in DATA_DIR, or a "
            "postgresql://USER:PASSWORD@HOST/DB URL shared by several workers and hosts."),
    Setting("ANNOTATION_DIR", str, "", "Extra directory searched for ASAP sidecars <stem>.xml (relative: to "
            "SLIDE_DIR), besides the slide's own directory and a CAMELYON-style ../annotations/."),
    Setting("SIDECAR_IMPORT", bool, True, "Import a slide's ASAP XML sidecar (and a Hamamatsu "
            "<slide>.ndpi.ndpa beside it, as a set of its own) as a set on first use, and re-import it as a "
            "new change whenever it changes on disk."),
    Setting("SIDECAR_WRITEBACK", bool, False, "Write a set imported from a sidecar back to that XML (an "
            "NDPA sidecar as NDPA) after every change (atomically), so desktop ASAP sees browser edits."),
    Setting("MAX_SET_VERTICES", int, 5_000_000, "Most vertices one annotation set may hold."),
    Setting("READ_ONLY", bool, False, "Serve slides and annotations but refuse every write (403): a "
            "teaching or review server; the viewer shows no editing tools."),
    Setting("AUTH", str, "none", "Authentication: none (a workstation: binds 127.0.0.1 unless "
            "INSECURE_NO_AUTH), builtin (accounts of `wsi-viewer users`, a login page, API tokens) or proxy "
            "(a reverse proxy doing SSO names the user in PROXY_USER_HEADER)."),
    Setting("INSECURE_NO_AUTH", bool, False, "With AUTH=none, allow binding to an address other than "
            "loopback (anyone reaching the port reads and changes everything; a warning at start)."),
    Setting("PROXY_USER_HEADER", str, "X-Remote-User", "With AUTH=proxy, the request header naming the "
            "user, believed only from TRUSTED_PROXIES."),
    Setting("TRUSTED_PROXIES", str, "", "Comma-separated CIDRs (10.0.0.5/32, ::1/128) of the reverse "
            "proxies whose PROXY_USER_HEADER, X-Forwarded-For (the address logins are throttled by) and "
            "X-Forwarded-Proto (Secure cookies) are believed; from any other peer they are ignored. "
            "Empty: none."),
    Setting("PROXY_DEFAULT_ROLE", str, "viewer", "With AUTH=proxy, the role of a user the proxy names who "
            "has no account yet (viewer, annotator or admin); `wsi-viewer users set-role` changes it."),
    Setting("SESSION_HOURS", int, 12, "Hours a login session lasts (AUTH=builtin)."),
    Setting("LOGIN_MAX_FAILURES", int, 5, "Failed logins allowed per user name and address within "
            "LOGIN_WINDOW_S; more get 429 with Retry-After."),
    Setting("LOGIN_WINDOW_S", int, 900, "Seconds failed logins are counted over (throttling)."),
    Setting("IDEMPOTENCY_RETENTION_S", int, 7 * 86400, "Seconds the answer of a write sent with an "
            "Idempotency-Key is kept (a replay within it is answered again, not applied again)."),
    Setting("OVERLAY_DIR", str, "", "Directory of uploaded overlays (heatmaps, label maps). Empty: "
            "DATA_DIR/overlays."),
    Setting("OVERLAY_MAX_MPX", int, 1000, "Largest overlay value grid accepted, in megapixels (width x "
            "height of the map, not of the slide)."),
    Setting("OVERLAY_UPLOAD_MAX_MB", int, 2048, "Largest overlay upload (the overlays route only), in MiB."),
    Setting("MASK_JOBS", int, 1, "Mask export jobs that run at once on this host (each uses one core); "
            "the others wait in a queue."),
    Setting("MASK_JOB_QUEUE", int, 8, "Most mask export jobs waiting or running on this host; one more "
            "gets 503 (retry later)."),
    Setting("MASK_JOB_ABANDON_S", int, 60, "A mask export job nobody polled for this many seconds is "
            "cancelled."),
    Setting("MASK_JOB_RETENTION_S", int, 600, "Seconds a finished job (done, failed or cancelled) and its "
            "result are kept, then deleted."),
    Setting("MASK_MAX_COST", int, 20_000_000_000, "Largest mask export, as vertices painted x output rows; "
            "more gets 413 (a CAMELYON16 outline of 45,000 vertices at level 0: 10^10)."),
    Setting("MASK_DIRECT_MAX_COST", int, 100_000_000, "Largest mask a GET answers during the request, as "
            "vertices x output rows + output pixels; a larger one gets 409 and needs a job (POST). "
            "0: masks are always jobs."),
    # Production serving (issue 16): gunicorn, health, metrics, logs, CORS
    Setting("WORKER_TIMEOUT", int, 120, "Seconds a gunicorn worker may stay silent (a request stuck "
            "that long) before the master kills and replaces it."),
    Setting("GRACEFUL_TIMEOUT", int, 10, "Seconds a worker has to finish its requests in flight when it "
            "is stopped or replaced (SIGTERM, or a reload by SIGHUP); then it is killed."),
    Setting("METRICS", bool, True, "Count requests, tiles and store writes and serve them as Prometheus "
            "metrics at /metrics (summed over every worker)."),
    Setting("METRICS_ALLOW", str, "127.0.0.1/32,::1/128", "Comma-separated networks (CIDRs) whose peers "
            "(REMOTE_ADDR) may read /metrics; others get 403."),
    Setting("LOG_FORMAT", str, "text", "text, or json: one JSON object per line (time, level, logger, "
            "message, request_id), with a line per request (method, path, route, status, duration)."),
    Setting("CORS_ORIGINS", str, "", "Comma-separated origins (https://name[:port]) whose pages may read "
            "this server's API and tiles cross-origin (CORS); empty: CORS off."),
)

_BY_NAME = {setting.name: setting for setting in SETTINGS}


def _coerce(setting: Setting, value: Any, origin: str) -> Any:
    """Convert *value* (a string from the environment, or a TOML value) to the setting's type."""
    try:
        if setting.type is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(value)
        if setting.type is int:
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        return str(value)
    except ValueError:
        raise ConfigError(
            f"{origin}: {setting.name} must be {setting.type.__name__}, got {value!r}"
        ) from None


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Merge defaults, the config file, ``WSI_VIEWER_*`` variables and *overrides*.

    :param config_file: TOML file with lower-case setting names; defaults to ``$WSI_VIEWER_CONFIG``.
    :param environ: the environment to read (``os.environ`` when None).
    :param overrides: explicit values (CLI options, tests); keys are setting names.
    :raises ConfigError: on an unknown name or a value of the wrong type.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {s.name: s.default for s in SETTINGS}

    path = config_file or env.get(ENV_PREFIX + "CONFIG")
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
        for key, value in data.items():
            setting = _BY_NAME.get(key.upper())
            if setting is None:
                raise ConfigError(f"config file {path}: unknown setting {key!r}")
            values[setting.name] = _coerce(setting, value, f"config file {path}")

    for name, setting in _BY_NAME.items():
        if ENV_PREFIX + name in env:
            values[name] = _coerce(setting, env[ENV_PREFIX + name], ENV_PREFIX + name)

    for key, value in (overrides or {}).items():
        setting = _BY_NAME.get(key.upper())
        if setting is None:
            raise ConfigError(f"unknown setting {key!r}")
        values[setting.name] = _coerce(setting, value, "option")
    _check_ranges(values)
    return values


def _check_ranges(values: Mapping[str, Any]) -> None:
    """Reject values of the right type but outside what the setting allows."""
    problems = []
    if values["TILE_FORMAT"] not in ("jpeg", "png"):
        problems.append(f"TILE_FORMAT must be jpeg or png, got {values['TILE_FORMAT']!r}")
    if not 1 <= values["TILE_QUALITY"] <= 100:
        problems.append(f"TILE_QUALITY must be from 1 to 100, got {values['TILE_QUALITY']}")
    if not 0 <= values["PORT"] <= 65535:
        problems.append(f"PORT must be from 0 to 65535, got {values['PORT']}")
    if values["TILE_SIZE"] < 0 or values["TILE_SIZE"] > 4096:
        problems.append(f"TILE_SIZE must be 0 (automatic) or 1-4096, got {values['TILE_SIZE']}")
    if values["TILE_OVERLAP"] < -1 or values["TILE_OVERLAP"] > 64:
        problems.append(f"TILE_OVERLAP must be -1 (automatic) or 0-64, got {values['TILE_OVERLAP']}")
    for name in ("WORKERS", "THREADS", "SLIDE_CACHE_SIZE", "THUMBNAIL_MAX", "MAX_UPLOAD_MB",
                 "HEADER_TIMEOUT", "BODY_IDLE_TIMEOUT", "BODY_TIMEOUT"):
        if values[name] < 1:
            problems.append(f"{name} must be at least 1, got {values[name]}")
    for name in ("OVERLAY_MAX_MPX", "OVERLAY_UPLOAD_MAX_MB"):
        if values[name] < 1:
            problems.append(f"{name} must be at least 1, got {values[name]}")
    for name in ("MASK_JOBS", "MASK_JOB_QUEUE", "MASK_JOB_ABANDON_S", "MASK_JOB_RETENTION_S",
                 "MASK_MAX_COST", "IDEMPOTENCY_RETENTION_S"):
        if values[name] < 1:
            problems.append(f"{name} must be at least 1, got {values[name]}")
    for name in ("SESSION_HOURS", "LOGIN_MAX_FAILURES", "LOGIN_WINDOW_S"):
        if values[name] < 1:
            problems.append(f"{name} must be at least 1, got {values[name]}")
    if values["AUTH"] not in ("none", "builtin", "proxy"):
        problems.append(f"AUTH must be none, builtin or proxy, got {values['AUTH']!r}")
    if values["PROXY_DEFAULT_ROLE"] not in ("viewer", "annotator", "admin"):
        role = values["PROXY_DEFAULT_ROLE"]
        problems.append(f"PROXY_DEFAULT_ROLE must be viewer, annotator or admin, got {role!r}")
    problems.extend(_cidr_problems("TRUSTED_PROXIES", values["TRUSTED_PROXIES"]))
    problems.extend(_cidr_problems("METRICS_ALLOW", values["METRICS_ALLOW"]))
    problems.extend(f"CORS_ORIGINS: {entry!r} is not an origin like https://dashboard.example.org"
                    for entry in _entries(values["CORS_ORIGINS"]) if not ORIGIN.fullmatch(entry))
    roles = ("viewer", "annotator", "admin")
    given = map(str.strip, str(values["ASSOCIATED_IMAGE_ROLES"]).split(","))
    unknown = [r for r in given if r and r not in roles]
    if unknown:
        problems.append(f"ASSOCIATED_IMAGE_ROLES names roles of {', '.join(roles)}, got {unknown!r}")
    for name in ("WORKER_TIMEOUT", "GRACEFUL_TIMEOUT"):
        if values[name] < 1:
            problems.append(f"{name} must be at least 1, got {values[name]}")
    if values["LOG_FORMAT"] not in ("text", "json"):
        problems.append(f"LOG_FORMAT must be text or json, got {values['LOG_FORMAT']!r}")
    if values["MASK_DIRECT_MAX_COST"] < 0:
        value = values["MASK_DIRECT_MAX_COST"]
        problems.append(f"MASK_DIRECT_MAX_COST must be 0 (always a job) or more, got {value}")
    if values["RENDERED_TILE_CACHE_MB"] < 0:
        value = values["RENDERED_TILE_CACHE_MB"]
        problems.append(f"RENDERED_TILE_CACHE_MB must be 0 (none) or more, got {value}")
    if problems:
        raise ConfigError("; ".join(problems), details=problems)


#: An origin as CORS_ORIGINS lists it (lower case, no trailing slash).
ORIGIN = re.compile(r"https?://[a-z0-9.\[\]:_-]+")


def _entries(text: str) -> list[str]:
    """The lower-case entries of a comma-separated list, trailing slashes dropped."""
    return [e for e in (part.strip().lower().rstrip("/") for part in text.split(",")) if e]


def cidrs(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The networks of a comma-separated CIDR list (``10.0.0.0/8, ::1/128``; a bare address is /32
    or /128). :raises ValueError: an entry that is not one."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


def _cidr_problems(name: str, text: str) -> list[str]:
    problems = []
    for part in text.split(","):
        try:
            cidrs(part)
        except ValueError:
            problems.append(f"{name}: {part.strip()!r} is not an address or CIDR (10.0.0.0/8, ::1/128)")
    return problems


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The data directory used when DATA_DIR is empty (XDG base directory convention)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "wsi-viewer"
