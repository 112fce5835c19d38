"""The schema revisions, oldest first: each one frozen as it was written (never edited afterwards)."""
