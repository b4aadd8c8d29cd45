"""The gallery's SQLite index: its schema, and the rows read from it.

The index is a cache of what the PNG files say (``Gallery.reconcile`` rebuilds it from them),
so a schema change simply drops it and reads the files again.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 2  # 2: favourite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: the UI may hold old ids
    name TEXT NOT NULL UNIQUE,          -- file name inside the gallery folder
    size INTEGER NOT NULL,              -- size and mtime: how reconcile spots changes
    mtime_ns INTEGER NOT NULL,
    created REAL NOT NULL,
    prompt TEXT NOT NULL DEFAULT '',
    negative_prompt TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    params TEXT NOT NULL DEFAULT '{}',  -- JSON of the parsed parameters, in file order
    parameters TEXT NOT NULL DEFAULT '',
    width INTEGER NOT NULL DEFAULT 0,
    height INTEGER NOT NULL DEFAULT 0,
    seed INTEGER,
    sha256 TEXT,                        -- of the file; filled lazily (rebuilds skip hashing)
    source_sha256 TEXT,                 -- of the file it was imported from, when converted
    favourite INTEGER NOT NULL DEFAULT 0  -- mirrors the favourites sidecar
);
CREATE INDEX IF NOT EXISTS images_newest ON images(created DESC, id DESC);
CREATE INDEX IF NOT EXISTS images_size ON images(size);
CREATE INDEX IF NOT EXISTS images_sha ON images(sha256);
CREATE INDEX IF NOT EXISTS images_source_sha ON images(source_sha256);
CREATE INDEX IF NOT EXISTS images_model ON images(model, created DESC);
CREATE INDEX IF NOT EXISTS images_favourite ON images(favourite, created DESC);
"""

# Trigram tokens give substring matching like LIKE '%word%', case-insensitive, but from an
# index: 10,000 prompts are searched in about a millisecond instead of a full scan.
_FTS_SCHEMA = """
CREATE VIRTUAL TABLE images_fts USING fts5(
    prompt, negative_prompt, model, content='images', content_rowid='id', tokenize='trigram'
);
CREATE TRIGGER images_fts_insert AFTER INSERT ON images BEGIN
    INSERT INTO images_fts(rowid, prompt, negative_prompt, model)
    VALUES (new.id, new.prompt, new.negative_prompt, new.model);
END;
CREATE TRIGGER images_fts_delete AFTER DELETE ON images BEGIN
    INSERT INTO images_fts(images_fts, rowid, prompt, negative_prompt, model)
    VALUES ('delete', old.id, old.prompt, old.negative_prompt, old.model);
END;
CREATE TRIGGER images_fts_update AFTER UPDATE OF prompt, negative_prompt, model ON images BEGIN
    INSERT INTO images_fts(images_fts, rowid, prompt, negative_prompt, model)
    VALUES ('delete', old.id, old.prompt, old.negative_prompt, old.model);
    INSERT INTO images_fts(rowid, prompt, negative_prompt, model)
    VALUES (new.id, new.prompt, new.negative_prompt, new.model);
END;
INSERT INTO images_fts(images_fts) VALUES ('rebuild');
"""

_ITEM_COLUMNS = (
    "id, name, prompt, negative_prompt, params, parameters, width, height, created, seed, model,"
    " favourite"
)


@dataclass(frozen=True)
class GalleryItem:
    id: int
    path: Path
    prompt: str
    negative_prompt: str
    params: dict[str, str]
    parameters: str
    width: int
    height: int
    created: float
    seed: int | None
    model: str
    favourite: bool = False


@dataclass(frozen=True)
class _FileInfo:
    """What goes into a row, read from a file (or from what was just written)."""

    parameters: str
    width: int
    height: int
    name: str = ""  # name, size and mtime are known once the file is written
    size: int = 0
    mtime_ns: int = 0
    seed: int | None = None
    sha256: str | None = None
    source_sha256: str | None = None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _seed_of(params: dict[str, str]) -> int | None:
    try:
        return int(params.get("Seed", "").strip())
    except ValueError:
        return None


def open_index(index_path: Path, use_fts: bool) -> tuple[sqlite3.Connection, bool]:
    """Open (creating or migrating) the index; the flag says whether search uses FTS5."""
    conn = sqlite3.connect(index_path, check_same_thread=False, timeout=10.0)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode loses at most the last commits on power loss, never
        # corrupts; and a lost row comes back from its file on the next reconcile.
        conn.execute("PRAGMA synchronous=NORMAL")
        # A damaged file can open fine and fail on the first page it reads: look at every
        # page now (about 40 ms per 10,000 pictures) so damage means a rebuild, not errors.
        if conn.execute("PRAGMA quick_check(1)").fetchone()[0] != "ok":
            raise sqlite3.DatabaseError("the gallery index is damaged")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            # Another schema (older or newer app): rebuild from the files.
            conn.executescript("DROP TABLE IF EXISTS images_fts; DROP TABLE IF EXISTS images;")
        with conn:
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        fts = _ensure_fts(conn, use_fts)
    except BaseException:
        conn.close()
        raise
    return conn, fts


def _ensure_fts(conn: sqlite3.Connection, use_fts: bool) -> bool:
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'images_fts'").fetchone()
    if exists:
        return use_fts
    if not use_fts:
        return False
    try:
        with conn:
            conn.executescript(_FTS_SCHEMA)
    except sqlite3.OperationalError:
        return False  # SQLite without FTS5 or the trigram tokenizer (< 3.34): use LIKE
    return True
