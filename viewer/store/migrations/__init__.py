"""The store's Alembic environment: ``env.py``, and one script per schema revision in ``versions/``.

Run by :mod:`viewer.store.migrate` (every store start, ``wsi-viewer db upgrade``); shipped in the
wheel inside the package. Revisions are numbered: a new one copies ``script.py.mako`` (or the last
script), takes the next number as ``revision`` and the last as ``down_revision``, and
:data:`viewer.store.migrate.SCHEMA_VERSION` becomes that number. There are no downgrades: the
history is never rewritten, and a database newer than the code is refused, not changed.
"""
