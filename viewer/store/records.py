"""The records the store hands its callers: sets, their content at a version, changes, diffs and
the outcome of a write. Plain dataclasses of model objects (slide space), no database types."""

from __future__ import annotations

from dataclasses import dataclass, field

from viewer.annotations.model import Annotation, AnnotationSet, Group


@dataclass
class AnnotationRecord:
    """One stored annotation: its id, its own version and the model object (slide space)."""

    id: int
    version: int
    annotation: Annotation


@dataclass
class GroupRecord:
    """One stored group: its id, its own version and the model object."""

    id: int
    version: int
    group: Group


@dataclass
class SetInfo:
    """An annotation set (a layer of one slide) without its content."""

    id: int
    slide_key: str
    name: str
    version: int
    annotation_count: int
    vertex_count: int
    created_at: str
    created_by: str
    updated_at: str
    sidecar_path: str | None = None
    sidecar_error: str | None = None
    #: What the ASAP reader tolerated in the sidecar as last imported (one line each).
    sidecar_warnings: list[str] = field(default_factory=list)
    #: (mtime_ns, size) of the sidecar as last read or written (to notice edits on disk).
    sidecar_signature: tuple[int, int] | None = field(default=None, repr=False, compare=False)


@dataclass
class SetState:
    """The content of a set at one version (list order = ASAP file order)."""

    info: SetInfo
    version: int
    groups: list[GroupRecord]
    annotations: list[AnnotationRecord]

    def to_model(self) -> AnnotationSet:
        """The model object (for ASAP XML, GeoJSON and mask writers)."""
        return AnnotationSet(
            annotations=[r.annotation for r in self.annotations], groups=[r.group for r in self.groups]
        )


@dataclass
class ChangeInfo:
    """One entry of a set's history."""

    version: int
    at: str
    who: str
    kind: str
    message: str
    created: int
    updated: int
    deleted: int


@dataclass
class ChangeItem:
    """What one change did to one object: JSON docs before and after (None: absent)."""

    kind: str  # "annotation" or "group"
    id: int
    before: Annotation | Group | None
    after: Annotation | Group | None


@dataclass
class WriteResult:
    """The outcome of a write: the set after it, the change (None: nothing changed), the object."""

    info: SetInfo
    change: ChangeInfo | None
    annotation: AnnotationRecord | None = None
    group: GroupRecord | None = None
    sidecar_error: str | None = None


@dataclass
class Diff:
    """Objects added, removed and changed between two versions of a set."""

    from_version: int
    to_version: int
    items: list[ChangeItem] = field(default_factory=list)
