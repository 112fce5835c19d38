"""``wsi-viewer users``: the accounts of ``AUTH=builtin`` (and the roles of ``AUTH=proxy`` users).

``add NAME --role ROLE`` reads the password from standard input (asked twice on a terminal, one
line from a pipe: ``printf '%s\\n' "$PW" | wsi-viewer users add ann --role annotator``); ``list``,
``remove``, ``set-role``, ``password``; ``token NAME [--label L]`` prints a new API token once (only
its hash is kept), ``token NAME --list`` lists them, ``token --revoke ID`` revokes one.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from typing import Any

from viewer.cli.common import add_store_options
from viewer.config import load_settings
from viewer.errors import InvalidInputError


def add_users(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "users",
        help="accounts, roles and API tokens (AUTH=builtin / proxy)",
        description="Manage the accounts in the annotation database (DATABASE, or SQLite in DATA_DIR): "
        "every server sharing the database sees them at once.",
    )
    commands = parser.add_subparsers(dest="users_command", required=True, metavar="USERS_COMMAND")
    add = commands.add_parser("add", help="add an account; the password is read from standard input")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", required=True, choices=("viewer", "annotator", "admin"))
    listing = commands.add_parser("list", help="list the accounts and their roles")
    remove = commands.add_parser("remove", help="remove an account (its history stays; its sessions end)")
    remove.add_argument("name", metavar="NAME")
    set_role = commands.add_parser("set-role", help="change an account's role")
    set_role.add_argument("name", metavar="NAME")
    set_role.add_argument("role", metavar="ROLE", choices=("viewer", "annotator", "admin"))
    password = commands.add_parser("password", help="set an account's password (read from standard input)")
    password.add_argument("name", metavar="NAME")
    token = commands.add_parser("token", help="make (printed once), list or revoke API tokens")
    token.add_argument("name", metavar="NAME", nargs="?")
    token.add_argument("--label", default="", help="what the token is for (shown in --list)")
    token.add_argument("--list", action="store_true", help="list NAME's tokens (ids, labels), never secrets")
    token.add_argument("--revoke", metavar="ID", type=int, help="revoke the token of this id")
    for sub in (add, listing, remove, set_role, password, token):
        add_store_options(sub)
    parser.set_defaults(handler=_users)


def read_password(stream: Any = None) -> str:
    """The password from *stream* (stdin): asked twice on a terminal, else its first line.

    :raises InvalidInputError: empty, or the two entries differ.
    """
    stream = sys.stdin if stream is None else stream
    if stream.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise InvalidInputError("the two passwords differ")
    else:
        first = stream.readline().rstrip("\r\n")
    if not first:
        raise InvalidInputError("no password given on standard input")
    return first


def _users(args: argparse.Namespace) -> int:
    from viewer.auth import Accounts
    from viewer.config import default_data_dir
    from viewer.store import Store, database_url

    overrides = {name: getattr(args, name) for name in ("DATABASE", "DATA_DIR") if getattr(args, name)}
    settings = load_settings(args.config, overrides=overrides)
    store = Store(database_url(settings["DATABASE"], settings["DATA_DIR"] or default_data_dir()))
    try:
        accounts = Accounts(store)
        return _run(args, accounts)
    finally:
        store.close()


def _run(args: argparse.Namespace, accounts: Any) -> int:
    command = args.users_command
    if command == "add":
        user = accounts.add(args.name, args.role, read_password())
        print(f"added {user.name} ({user.role})")
    elif command == "list":
        for user in accounts.list():
            print(f"{user.name}\t{user.role}")
    elif command == "remove":
        accounts.remove(args.name)
        print(f"removed {args.name} (the history keeps the name; sessions and tokens ended)")
    elif command == "set-role":
        user = accounts.set_role(args.name, args.role)
        print(f"{user.name} is now {user.role}")
    elif command == "password":
        accounts.set_password(args.name, read_password())
        print(f"password of {args.name} set")
    elif args.revoke is not None:
        accounts.revoke_token(args.revoke)
        print(f"revoked token {args.revoke}")
    elif not args.name:
        raise InvalidInputError("users token needs NAME (or --revoke ID)")
    elif args.list:
        for info in accounts.tokens(args.name):
            made = time.strftime("%Y-%m-%d %H:%M", time.gmtime(info.created_at))
            print(f"{info.id}\t{info.label or '-'}\t{made} UTC\t{'revoked' if info.revoked else 'in use'}")
    else:
        print(accounts.new_token(args.name, args.label))
        print("(shown once, only its hash is kept; send it as Authorization: Bearer TOKEN)", file=sys.stderr)
    return 0
