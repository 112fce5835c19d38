"""Permissions at the web's door (issue 16): the one place routes ask what the request's user may
do with an annotation set; the decisions are :mod:`viewer.auth.permissions`'.

* :func:`register` installs a check after authentication: outside AUTH=none a **viewer** makes no
  write anywhere (403), and every route naming a set (``<int:set_id>``) needs to read it (GET) or
  edit it (a write): a set the user may not read is a 404, as a set that does not exist (ids cannot
  be guessed to learn what exists); one they may read but not edit is a 403.
* Routes that reach a set otherwise (a slide's first set, a query's ``?set=``, a listing) call
  :func:`require_set_access` / :func:`readable` themselves; routes making a set call
  :func:`require_create` and make it with :func:`new_set_owner` (the creator owns it, shared
  :data:`NEW_SET_SHARING`, written with the set in one transaction).

Under AUTH=none everyone is an admin: nothing is checked and no query is made.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from flask import Flask, g, request

from viewer.auth import User
from viewer.auth import permissions as perm
from viewer.errors import ForbiddenError, NotFoundError
from viewer.store import SetInfo
from viewer.store.sharing import SetAccess, Sharing
from viewer.web import schemas
from viewer.web.auth import PUBLIC_ENDPOINTS, WRITE_METHODS, current_user, mode
from viewer.web.params import MAX_INT
from viewer.web.services import services

Need = Literal["read", "edit"]
#: The sharing of a set an authenticated user makes: everyone reads it, its owner edits it.
NEW_SET_SHARING: Sharing = "read"
#: Writes that only read their set (a mask export job): they need "read".
READING_WRITES = frozenset({"annotations.export.export_job"})
#: Routes deciding for themselves (the sharing route: its owner or an admin).
SELF_CHECKED = frozenset({"annotations.sets.put_sharing"})


def checking() -> bool:
    """Whether permissions apply to this request (not under AUTH=none)."""
    return mode() != "none"


def set_access(set_id: int) -> SetAccess:
    """The set's owner, sharing and editors (read once per request). :raises NotFoundError:"""
    cache: dict[int, SetAccess] = g.setdefault("wsi_set_access", {})
    found = cache.get(set_id)
    if found is None:
        found = cache[set_id] = services().store.set_access(set_id)
    return found


def remember(accesses: Iterable[SetAccess]) -> None:
    """Keep accesses read or changed by a route for the rest of the request (its answer shows them)."""
    cache: dict[int, SetAccess] = g.setdefault("wsi_set_access", {})
    cache.update((a.set_id, a) for a in accesses)


def require_set_access(set_id: int, need: Need) -> SetAccess | None:
    """The set's access if the request's user may *need* it (None under AUTH=none: not read).

    :raises NotFoundError: no such set, or one the user may not read.
    :raises ForbiddenError: the user may read the set but not edit it.
    """
    if not checking():
        return None
    user = current_user()
    access = set_access(set_id)
    if not perm.can_read_set(user, access):
        raise NotFoundError("no such annotation set")
    if need == "edit" and not perm.can_edit_set(user, access):
        raise ForbiddenError(_cannot_edit(user, access))
    return access


def _cannot_edit(user: User, access: SetAccess) -> str:
    if user.role == "viewer":
        return "a viewer account reads sets and changes none"
    owner = access.owner or "nobody"
    return f"this set is {owner}'s (sharing {access.sharing!r}) and {user.name!r} is not one of its editors"


def reads_only() -> bool:
    """Whether the request's user changes nothing anywhere (a viewer): their pages offer no editing."""
    return checking() and not perm.can_write(current_user())


def require_create() -> None:
    """:raises ForbiddenError: the user may not make sets (a viewer)."""
    if checking() and not perm.can_create_set(current_user()):
        raise ForbiddenError("a viewer account makes no annotation sets")


def new_set_owner() -> tuple[int | None, Sharing]:
    """(owner, sharing) of a set the request's user makes, for ``Store.create_set`` to write with
    the set in one transaction: theirs, shared :data:`NEW_SET_SHARING`; (None, "edit") under
    AUTH=none or for a user without an account row."""
    if not checking():
        return None, "edit"
    user = current_user()
    return (None, "edit") if user.id is None else (user.id, NEW_SET_SHARING)


def readable(infos: list[SetInfo]) -> list[SetInfo]:
    """Those of *infos* the request's user may read (all under AUTH=none)."""
    accesses = services().store.set_accesses([i.id for i in infos])
    remember(accesses.values())
    if not checking():
        return infos
    user = current_user()
    return [i for i in infos if i.id in accesses and perm.can_read_set(user, accesses[i.id])]


def require_share(set_id: int) -> None:
    """:raises NotFoundError: the user may not read the set. :raises ForbiddenError: nor share it."""
    access = require_set_access(set_id, "read")
    if access is not None and not perm.can_share_set(current_user(), access):
        raise ForbiddenError("only the set's owner or an admin changes its sharing")


def hide_unreadable(annotations: dict[str, int], set_counts: dict[str, int]) -> None:
    """Take the private sets the user may not read out of a slide listing's counts (in place)."""
    if not checking() or perm.is_admin(user := current_user()):
        return
    for key, (n_sets, n_annotations) in services().store.unreadable_counts(annotations, user.id).items():
        annotations[key] = annotations.get(key, 0) - n_annotations
        set_counts[key] = set_counts.get(key, 0) - n_sets


def require_associated() -> None:
    """:raises ForbiddenError: the user's role is not in ``ASSOCIATED_IMAGE_ROLES``."""
    if not checking():
        return
    roles = perm.parse_roles(str(services().settings["ASSOCIATED_IMAGE_ROLES"]))
    user = current_user()
    if not perm.can_see_associated(user, roles):
        raise ForbiddenError(f"associated images are for the roles {', '.join(roles) or 'none'}")


def access_json(set_id: int) -> tuple[str | None, Sharing, list[str]]:
    """(owner, sharing, editors) of a set as its JSON shows them."""
    try:
        access = set_access(set_id)
    except NotFoundError:
        return None, "edit", []
    return access.owner, access.sharing, list(access.editors)


def sharing_json(access: SetAccess) -> schemas.SharingAnswer:
    return {"set": access.set_id, "owner": access.owner, "sharing": access.sharing,
            "editors": list(access.editors)}


def _check_route() -> None:
    if not checking() or request.routing_exception is not None or request.endpoint in PUBLIC_ENDPOINTS:
        return
    user = current_user()
    writes = request.method in WRITE_METHODS
    if writes and not perm.can_write(user):
        raise ForbiddenError("a viewer account reads and changes nothing")
    set_id = (request.view_args or {}).get("set_id")
    if not isinstance(set_id, int) or set_id > MAX_INT or request.endpoint in SELF_CHECKED:
        return
    require_set_access(set_id, "edit" if writes and request.endpoint not in READING_WRITES else "read")


def register(app: Flask) -> None:
    """Install the check (after :func:`viewer.web.auth.register`: the user is known by then)."""
    app.before_request(_check_route)
