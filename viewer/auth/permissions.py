"""What a user may do (issue 16): pure decisions over a :class:`~viewer.auth.User` and a set's
:class:`~viewer.store.sharing.SetAccess`, no Flask and no database.

* **viewer**: reads every set shared with everyone (``read``/``edit``), and private sets granted
  to them; writes nothing.
* **annotator**: reads the same; creates sets (which they own); edits the sets they own, the sets
  granted to them (``editors``) and every set shared ``edit``.
* **admin**: everything, and the users.

A set's ``sharing``: ``private`` (its owner and granted editors only), ``read`` (everyone reads;
the owner and granted editors edit), ``edit`` (every annotator edits too). Sets made before, or
under AUTH=none, have no owner and sharing ``edit``. The anonymous user of AUTH=none is an admin.
"""

from __future__ import annotations

from collections.abc import Iterable

from viewer.auth import User
from viewer.store.sharing import SetAccess

#: Who may see associated images (the slide label can carry a patient's name) by default.
DEFAULT_ASSOCIATED_IMAGE_ROLES = ("admin", "annotator")


def is_admin(user: User) -> bool:
    return user.role == "admin"


def _granted(user: User, access: SetAccess) -> bool:
    return user.id is not None and (user.id == access.owner_id or user.id in access.editor_ids)


def can_read_set(user: User, access: SetAccess) -> bool:
    """Whether *user* may read the set (its content, history, exports)."""
    return is_admin(user) or access.sharing != "private" or _granted(user, access)


def can_edit_set(user: User, access: SetAccess) -> bool:
    """Whether *user* may change the set (its content, name; not its sharing: see :func:`can_share_set`)."""
    if is_admin(user):
        return True
    if user.role != "annotator":
        return False
    return access.sharing == "edit" or _granted(user, access)


def can_share_set(user: User, access: SetAccess) -> bool:
    """Whether *user* may change the set's sharing and editors: its owner, or an admin."""
    return is_admin(user) or (user.id is not None and user.id == access.owner_id)


def can_create_set(user: User) -> bool:
    return user.role in ("annotator", "admin")


def can_write(user: User) -> bool:
    """Whether *user* may make any change at all (a viewer may not)."""
    return user.role != "viewer"


def can_manage_users(user: User) -> bool:
    return is_admin(user)


def can_see_associated(user: User, roles: Iterable[str] = DEFAULT_ASSOCIATED_IMAGE_ROLES) -> bool:
    """Whether *user* may see associated images (label, macro); *roles*: ``ASSOCIATED_IMAGE_ROLES``."""
    return user.role in tuple(roles)


def parse_roles(text: str) -> tuple[str, ...]:
    """``ASSOCIATED_IMAGE_ROLES`` ("admin,annotator") as a tuple of role names."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


__all__ = [
    "DEFAULT_ASSOCIATED_IMAGE_ROLES",
    "can_create_set",
    "can_edit_set",
    "can_manage_users",
    "can_read_set",
    "can_see_associated",
    "can_share_set",
    "can_write",
    "is_admin",
    "parse_roles",
]
