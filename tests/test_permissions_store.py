"""The store's side of per-set permissions on both engines (owner, sharing, editors, the counts of
what a user may not read) and the decision table of viewer/auth/permissions.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._store_helpers import ENGINES, database_setting
from viewer.annotations.model import Annotation, AnnotationSet
from viewer.auth import Accounts, User
from viewer.auth import permissions as perm
from viewer.errors import NotFoundError, ValidationError
from viewer.store import Store, database_url
from viewer.store.sharing import SetAccess


@pytest.fixture(params=ENGINES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with database_setting(request.param, tmp_path) as setting:
        opened = Store(database_url(setting, tmp_path))
        try:
            yield opened
        finally:
            opened.close()


def test_owner_sharing_editors_and_unreadable_counts(store: Store) -> None:
    accounts = Accounts(store)
    ana, ben = accounts.add("ana", "annotator", "pw-a"), accounts.add("ben", "annotator", "pw-b")
    assert ana.id is not None and ben.id is not None
    slide = store.open_slide("s.svs")
    dots = AnnotationSet([Annotation(f"d{i}", "Dot", coordinates=[(i, i)]) for i in range(3)])
    old = store.create_set(slide, "before accounts", "someone").info.id
    made = store.create_set(slide, "ana's", "ana", dots).info.id
    assert store.set_access(old) == SetAccess(old, None, None, "edit")
    assert store.claim_set(made, ana.id, "read") == SetAccess(made, ana.id, "ana", "read")
    version = store.set_info(made).version
    shared = store.share_set(made, "private", ["ben"], who="ana")
    last = store.history(made, limit=1)[0]
    assert (last.version, last.who, last.kind) == (version + 1, "ana", "sharing")
    assert last.message == "sharing 'private', editors: ben"
    assert (shared.sharing, shared.editors, shared.editor_ids) == ("private", ("ben",), frozenset({ben.id}))
    with pytest.raises(ValidationError, match="'nobody'"):
        store.share_set(made, None, ["ben", "nobody"])
    with pytest.raises(ValidationError, match="sharing must be"):
        store.share_set(made, "public")  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        store.share_set(10**6, "read")
    assert store.set_access(made).editors == ("ben",)  # the refused changes changed nothing
    # ana owns it, ben is granted it; a third user and nobody may not read it
    cleo = accounts.add("cleo", "viewer", "pw-c")
    assert store.unreadable_counts(["s.svs"], ana.id) == {} == store.unreadable_counts(["s.svs"], ben.id)
    assert store.unreadable_counts(["s.svs", "other.svs"], cleo.id) == {"s.svs": (1, 3)}
    assert store.unreadable_counts(["s.svs"], None) == {"s.svs": (1, 3)}
    assert store.share_set(made, editors=[]).editors == ()
    assert store.unreadable_counts(["s.svs"], ben.id) == {"s.svs": (1, 3)}
    listed = store.set_accesses([old, made, 10**6])
    assert sorted(listed) == [old, made] and listed[made].owner == "ana"
    # a write does not touch the sharing, and the set's info reads as before
    store.rename_set(made, "renamed", "ana")
    assert store.set_access(made).sharing == "private" and store.set_info(made).name == "renamed"


def _access(owner: int | None, sharing: str, editors: frozenset[int] = frozenset()) -> SetAccess:
    return SetAccess(1, owner, None, sharing, (), editors)  # type: ignore[arg-type]


@pytest.mark.parametrize(("user", "access", "read", "edit", "share"), [
    (User(1, "ana", "annotator"), _access(1, "private"), True, True, True),
    (User(2, "ben", "annotator"), _access(1, "private"), False, False, False),
    (User(2, "ben", "annotator"), _access(1, "private", frozenset({2})), True, True, False),
    (User(2, "ben", "annotator"), _access(1, "read"), True, False, False),
    (User(2, "ben", "annotator"), _access(1, "edit"), True, True, False),
    (User(3, "vic", "viewer"), _access(1, "edit"), True, False, False),
    (User(3, "vic", "viewer"), _access(1, "private", frozenset({3})), True, False, False),
    (User(3, "vic", "viewer"), _access(None, "edit"), True, False, False),
    (User(4, "root", "admin"), _access(1, "private"), True, True, True),
    (User(None, "anonymous", "admin"), _access(None, "edit"), True, True, True),
])
def test_decisions(user: User, access: SetAccess, read: bool, edit: bool, share: bool) -> None:
    assert perm.can_read_set(user, access) is read
    assert perm.can_edit_set(user, access) is edit
    assert perm.can_share_set(user, access) is share
    assert perm.can_create_set(user) is perm.can_write(user) is (user.role != "viewer")
    assert perm.can_manage_users(user) is (user.role == "admin")
    assert perm.can_see_associated(user) is (user.role != "viewer")
    assert perm.can_see_associated(user, perm.parse_roles(" admin ,")) is (user.role == "admin")


def test_a_set_is_made_with_its_owner_in_one_change(store: Store) -> None:
    """The store writes the owner with the set (one transaction, one change): no ownerless window."""
    ana = Accounts(store).add("ana", "annotator", "pw")
    assert ana.id is not None
    slide = store.open_slide("a.svs")
    made = store.create_set(slide, "mine", "ana", owner=ana.id, sharing="private")
    assert store.set_access(made.info.id) == SetAccess(made.info.id, ana.id, "ana", "private")
    first = store.replace_first_set(store.open_slide("b.svs"), AnnotationSet(), "ana", owner=ana.id,
                                    sharing="read")
    assert store.set_access(first.info.id) == SetAccess(first.info.id, ana.id, "ana", "read")
    for info in (made.info, first.info):
        assert [c.kind for c in store.history(info.id)] == ["create"]
    plain = store.create_set(slide, "nobody's", "import")  # a sidecar import, AUTH=none: no owner
    assert store.set_access(plain.info.id) == SetAccess(plain.info.id, None, None, "edit")
    with pytest.raises(ValidationError):
        store.create_set(slide, "odd", "ana", owner=ana.id, sharing="everyone")  # type: ignore[arg-type]
    assert [s.name for s in store.list_sets(slide)] == ["mine", "nobody's"]
