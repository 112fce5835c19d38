"""``wsi-viewer db``: the annotation database's schema revision, upgrades, backups and restores
(for a lab's DBA)."""

from __future__ import annotations

import argparse
from typing import Any

from viewer.cli.common import EXIT_USAGE, option_name
from viewer.config import SETTINGS, load_settings


def add_db(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "db",
        help="the annotation database: its schema revision, upgrades, backup and restore",
        description="Show or upgrade the schema of the annotation database (DATABASE, or SQLite in "
        "DATA_DIR). Every server start upgrades it too, keeping every row; these are for a lab's DBA.",
    )
    commands = parser.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    current = commands.add_parser("current", help="print the database's schema revision")
    upgrade = commands.add_parser("upgrade", help="upgrade to the newest revision, keeping every row")
    upgrade.add_argument("--sql", action="store_true",
                         help="print the SQL script instead of running it (Alembic's offline mode)")
    upgrade.add_argument("--from", dest="from_revision", metavar="REVISION",
                         help="with --sql: the revision the database is at ('base': empty); default: read "
                         "from the database")
    backup = commands.add_parser(
        "backup", help="copy the SQLite database to FILE while servers run (SQLite's online backup); "
        "for PostgreSQL, prints the pg_dump line")
    backup.add_argument("file", metavar="FILE", help="the backup file to write")
    backup.add_argument("--force", action="store_true", help="replace FILE if it exists")
    restore = commands.add_parser(
        "restore", help="replace the SQLite database by the backup FILE (stop the servers first)")
    restore.add_argument("file", metavar="FILE", help="a file written by wsi-viewer db backup")
    for sub in (current, upgrade, backup, restore):
        sub.add_argument("--config", metavar="FILE", help="TOML config file (lower-case setting names)")
        for name in ("DATABASE", "DATA_DIR"):
            setting = next(s for s in SETTINGS if s.name == name)
            sub.add_argument(option_name(name), dest=name, metavar=name, help=setting.help)
    parser.set_defaults(handler=_db)


def _db(args: argparse.Namespace) -> int:
    from viewer import store
    from viewer.config import default_data_dir
    from viewer.errors import ConfigError

    overrides = {name: getattr(args, name) for name in ("DATABASE", "DATA_DIR") if getattr(args, name)}
    settings = load_settings(args.config, overrides=overrides)
    url = store.database_url(settings["DATABASE"], settings["DATA_DIR"] or default_data_dir())
    if getattr(args, "from_revision", None) and not args.sql:
        raise ConfigError("--from goes with --sql (a run reads the revision from the database)")
    if args.db_command in ("backup", "restore"):
        return _backup_or_restore(args, url)
    if args.db_command == "upgrade" and args.sql:
        print(store.upgrade_script(url, args.from_revision), end="")
        return 0
    print(f"database: {store.shown_url(url)}")
    if args.db_command == "current":
        status = store.database_status(url)
        newest = store.SchemaStatus(f"{store.SCHEMA_VERSION:04d}").describe()
        print(status.describe() if status is not None else f"no database yet; the newest is {newest}")
        return 0 if status is None or status.known else EXIT_USAGE
    before, after = store.upgrade_database(url)
    if before is None or before.revision is None:
        print(f"created the schema: {after.describe()}")
    elif before == after:
        print(f"nothing to do: {after.describe()}")
    else:
        origin = f"revision {before.revision}"
        if before.legacy:
            origin = f"schema version {before.version} of the in-house runner (stamped as {origin})"
        print(f"upgraded {origin} to {after.describe()}")
    return 0


def _backup_or_restore(args: argparse.Namespace, url: str) -> int:
    from viewer import store
    from viewer.store import backup

    print(f"database: {store.shown_url(url)}")
    if args.db_command == "backup":
        status = backup.backup(url, args.file, overwrite=args.force)
        print(f"backed up to {args.file}: {status.describe()}")
        return 0
    status = backup.restore(url, args.file)
    print(f"restored {args.file}: {status.describe()}")
    before, after = store.upgrade_database(url)
    if before != after:
        print(f"upgraded to {after.describe()}")
    return 0
