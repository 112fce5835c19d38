"""``wsi-viewer serve``: every setting as an option, then gunicorn."""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Mapping
from typing import Any

from viewer.cli.common import EXIT_USAGE, option_name
from viewer.config import SETTINGS, load_settings
from viewer.logs import notice


def add_serve(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve a slide directory (or the built-in demo) in the browser",
        description="Serve SLIDE_DIR (every slide OpenSlide opens, recursively) under gunicorn. "
        "With no SLIDE_DIR, serve a generated demo slide. Every option is also a setting "
        "(env WSI_VIEWER_<NAME>, or a TOML config file).",
    )
    parser.add_argument("slide_dir", nargs="?", metavar="SLIDE_DIR", help="directory of slides")
    parser.add_argument("--config", metavar="FILE", help="TOML config file (lower-case setting names)")
    for setting in SETTINGS:
        if setting.name == "SLIDE_DIR":
            continue
        if setting.type is bool:
            parser.add_argument(
                option_name(setting.name), dest=setting.name, action=argparse.BooleanOptionalAction,
                default=None, help=setting.help,
            )
        else:
            parser.add_argument(
                option_name(setting.name), dest=setting.name, type=setting.type, default=None,
                metavar=setting.name, help=setting.help,
            )
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    overrides = {s.name: getattr(args, s.name) for s in SETTINGS if getattr(args, s.name, None) is not None}
    if args.slide_dir:
        overrides["SLIDE_DIR"] = args.slide_dir
    settings = load_settings(args.config, overrides=overrides)
    refused = check_bind(settings)
    if refused:
        return refused
    from viewer.server import run_server

    return run_server(settings, config_file=args.config)


_LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """Whether binding *host* reaches this machine only (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(settings: Mapping[str, Any]) -> int:
    """The bind rule of AUTH=none: loopback only, said at start; elsewhere only with INSECURE_NO_AUTH
    (and a warning). Returns the exit status to stop with (2), or 0 to go on."""
    log_format = str(settings["LOG_FORMAT"])
    if settings["AUTH"] == "proxy" and not str(settings["TRUSTED_PROXIES"]).strip():
        notice("wsi-viewer serve: warning: AUTH=proxy without TRUSTED_PROXIES believes no proxy: only API "
               "tokens get in", log_format, "warning")
    if settings["AUTH"] != "none":
        return 0
    host = str(settings["HOST"])
    if is_loopback(host):
        notice(f"wsi-viewer serve: AUTH=none: binding {host} only, so that only this machine reaches the "
               "server (no login: whoever reaches it reads and changes everything); for a network use "
               "--auth builtin or --auth proxy", log_format)
        return 0
    if not settings["INSECURE_NO_AUTH"]:
        notice(f"wsi-viewer serve: error: AUTH=none on {host or 'every interface'} would let anyone who "
               "reaches the port read and change every annotation; use --auth builtin (accounts) or "
               "--auth proxy, or --insecure-no-auth if this network is yours alone", log_format, "error")
        return EXIT_USAGE
    notice(f"wsi-viewer serve: warning: AUTH=none on {host or 'every interface'} (--insecure-no-auth): "
           "anyone who reaches the port reads and changes every annotation", log_format, "warning")
    return 0
