"""What the gallery shows: search words, filters and sort order, turned into SQL.

`GalleryFilter` is a plain value the UI builds from its filter bar; `where_clause` and
`order_clause` turn it into SQL on the `images` table (FTS5 for words when available).
"""

from __future__ import annotations

from dataclasses import dataclass

# Sort keys the UI offers, in its order, with their labels and SQL.
SORTS: dict[str, tuple[str, str]] = {
    "newest": ("Newest first", "created DESC, id DESC"),
    "oldest": ("Oldest first", "created ASC, id ASC"),
    "prompt": ("Prompt A–Z", "prompt COLLATE NOCASE ASC, id DESC"),
    "model": ("Model A–Z", "model COLLATE NOCASE ASC, created DESC, id DESC"),
    "largest": ("Largest first", "width * height DESC, created DESC, id DESC"),
}


@dataclass(frozen=True)
class GalleryFilter:
    """Search words (all must match), plus optional filters; None means "any"."""

    query: str = ""
    sort: str = "newest"
    model: str | None = None  # exact model name as written in the PNG ("" = no model)
    since: float | None = None  # created >= since (seconds since the epoch)
    until: float | None = None  # created < until
    favourites: bool = False

    def is_filtered(self) -> bool:
        """True when anything narrows the rows (search words or a filter, not the sort)."""
        return bool(
            self.query.strip()
            or self.model is not None
            or self.since is not None
            or self.until is not None
            or self.favourites
        )


def as_filter(query: str | GalleryFilter) -> GalleryFilter:
    return query if isinstance(query, GalleryFilter) else GalleryFilter(query=query)


def _like(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def where_clause(view: GalleryFilter, fts: bool) -> tuple[str, list[object]]:
    clauses: list[str] = []
    args: list[object] = []
    fts_terms: list[str] = []
    for word in view.query.split():
        if fts and len(word) >= 3:  # trigram needs 3 characters to use its index
            fts_terms.append('"' + word.replace('"', '""') + '"')
            continue
        pattern = _like(word)
        clauses.append(
            "(prompt LIKE ? ESCAPE '\\' OR negative_prompt LIKE ? ESCAPE '\\'"
            " OR model LIKE ? ESCAPE '\\')"
        )
        args += [pattern, pattern, pattern]
    if fts_terms:
        clauses.insert(0, "id IN (SELECT rowid FROM images_fts WHERE images_fts MATCH ?)")
        args.insert(0, " ".join(fts_terms))  # space-separated phrases: all must match
    if view.model is not None:
        clauses.append("model = ?")
        args.append(view.model)
    if view.since is not None:
        clauses.append("created >= ?")
        args.append(view.since)
    if view.until is not None:
        clauses.append("created < ?")
        args.append(view.until)
    if view.favourites:
        clauses.append("favourite = 1")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def order_clause(view: GalleryFilter) -> str:
    return " ORDER BY " + SORTS.get(view.sort, SORTS["newest"])[1]
