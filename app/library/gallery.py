"""The gallery: a folder of PNGs the user can see, plus an SQLite index for instant browsing.

The files are the truth. Each PNG carries its parameters (A1111 `parameters` chunk), is
written atomically before its row is committed, and `reconcile()` brings the index back in
line with whatever happened to the folder while the app was closed (or the index was lost).

Threads: one connection opened with `check_same_thread=False`, every use under one lock.
The UI calls from the Qt main thread and the engine worker saves from its thread; a lock is
simpler than a connection per thread and the work under it is short (queries on an index,
one small file rename). Slow work (PNG encoding, reading many files' metadata in
`reconcile`) happens outside the lock.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PIL import Image

from app.errors import LibraryError
from app.library import paths, pngio
from app.library.atomic import WriteError, remove_stale_temp_files
from app.library.gallery_favourites import load_favourites, save_favourites
from app.library.gallery_import import GalleryImport
from app.library.gallery_index import (
    _ITEM_COLUMNS,
    GalleryItem,
    _FileInfo,
    _seed_of,
    _sha256,
    open_index,
)
from app.library.gallery_query import GalleryFilter, as_filter, order_clause, where_clause
from app.library.gallery_thumbs import drop_thumbnails, make_thumbnail
from app.library.infotext import parse_infotext

try:  # Optional: move deleted pictures to the OS trash when the package is installed.
    from send2trash import send2trash as _send2trash
except ImportError:  # pragma: no cover - depends on the environment
    _send2trash = None

USE_FTS5 = True  # full-text index for search when SQLite has FTS5 + trigram; else LIKE


class UnsavedError(LibraryError):
    """Pictures could not be written; they are kept in memory until `retry_unsaved()`."""

    def __init__(self, message: str, saved: list[GalleryItem] | None = None) -> None:
        super().__init__(message)
        self.saved = saved or []


def _unsaved_message(count: int, cause: str) -> str:
    what = "The picture" if count == 1 else f"{count} pictures"
    it = "it is" if count == 1 else "they are"
    return (
        f"{what} could not be saved because {cause}, then press Retry save "
        f"({it} kept in memory until Easel closes)."
    )


class Gallery(GalleryImport):
    """A folder of PNGs and its SQLite index. Use `with Gallery() as g:` or call close()."""

    def __init__(
        self,
        root: Path | None = None,
        index_path: Path | None = None,
        thumbnail_dir: Path | None = None,
    ) -> None:
        self.root = Path(root) if root is not None else paths.default_gallery_dir()
        self.index_path = Path(index_path) if index_path is not None else paths.gallery_index_path()
        self._thumb_dir = thumbnail_dir
        self._lock = threading.RLock()
        self._next_counter: int | None = None
        # Encoded pictures whose write failed (full disk...): kept to retry, never dropped.
        self._unsaved: list[tuple[bytes, str, _FileInfo]] = []
        self._last_cause = ""
        # "missing" or "damaged" until the first reconcile has rebuilt the index.
        self._index_state = "ok" if self.index_path.exists() else "missing"
        self.notice = ""  # one sentence for the window after a rebuild, else ""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.index_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LibraryError(
                f"Could not create the folder {exc.filename or self.root} "
                f"({exc.strerror or exc}); check its permissions or choose another folder."
            ) from exc
        try:
            try:
                self._conn, self.fts = open_index(self.index_path, USE_FTS5)
            except sqlite3.OperationalError:
                raise  # locked or unreachable: not a reason to throw the index away
            except sqlite3.DatabaseError:
                # A corrupt or foreign index is not worth an error: the files are the truth.
                # Keep the old file aside for a post-mortem and start a fresh one.
                self._index_state = "damaged"
                name = f"{self.index_path.name}.corrupt-{int(time.time())}"
                os.replace(self.index_path, self.index_path.with_name(name))
                for suffix in ("-wal", "-shm"):
                    Path(f"{self.index_path}{suffix}").unlink(missing_ok=True)
                self._conn, self.fts = open_index(self.index_path, USE_FTS5)
        except (sqlite3.Error, OSError) as exc:
            raise LibraryError(
                f"Could not open the gallery index {self.index_path} ({exc}); check that its "
                "folder is writable and that no other copy of Easel is busy with it."
            ) from exc

    # --- set-up -------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def thumbnail_dir(self) -> Path:
        if self._thumb_dir is None:
            self._thumb_dir = paths.thumbnail_dir()
        self._thumb_dir.mkdir(parents=True, exist_ok=True)
        return self._thumb_dir

    # --- rows ---------------------------------------------------------------------------

    def _item(self, row: tuple) -> GalleryItem:
        # Columns in _ITEM_COLUMNS order, which is GalleryItem's field order.
        id_, name, prompt, negative, params, parameters, width, height, created, seed, model = row[
            :11
        ]
        return GalleryItem(
            id=id_,
            path=self.root / name,
            prompt=prompt,
            negative_prompt=negative,
            params=json.loads(params),
            parameters=parameters,
            width=width,
            height=height,
            created=created,
            seed=seed,
            model=model,
            favourite=bool(row[11]),
        )

    def _upsert(self, info: _FileInfo, created: float, favourite: bool = False) -> int:
        text = parse_infotext(info.parameters)
        seed = info.seed if info.seed is not None else _seed_of(text.params)
        row = self._conn.execute(
            "INSERT INTO images (name, size, mtime_ns, created, prompt, negative_prompt, model,"
            " params, parameters, width, height, seed, sha256, source_sha256, favourite)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET size=excluded.size, mtime_ns=excluded.mtime_ns,"
            " prompt=excluded.prompt, negative_prompt=excluded.negative_prompt,"
            " model=excluded.model, params=excluded.params, parameters=excluded.parameters,"
            " width=excluded.width, height=excluded.height, seed=excluded.seed,"
            " sha256=excluded.sha256, source_sha256=excluded.source_sha256"
            " RETURNING id",
            (
                info.name,
                info.size,
                info.mtime_ns,
                created,
                text.prompt,
                text.negative_prompt,
                text.params.get("Model", ""),
                json.dumps(text.params, ensure_ascii=False),
                info.parameters,
                info.width,
                info.height,
                seed,
                info.sha256,
                info.source_sha256,
                int(favourite),
            ),
        ).fetchone()
        return int(row[0])

    def _commit_file(self, path: Path, info: _FileInfo) -> GalleryItem:
        """Index a file just written into the folder; its row is committed here."""
        try:
            with self._conn:
                new_id = self._upsert(info, created=info.mtime_ns / 1e9)
        except sqlite3.Error as exc:
            raise LibraryError(
                f"{path.name} was saved but could not be added to the gallery index ({exc}); "
                "it will be picked up the next time Easel starts."
            ) from exc
        counter = pngio.counter_of(path)
        if counter is not None:
            self._next_counter = max(self._next_counter or 0, counter + 1)
        item = self.get(new_id)
        assert item is not None
        return item

    def _write_new(self, data: bytes, stem: str, info: _FileInfo) -> GalleryItem:
        # Under the lock from choosing the name to committing the row, so two threads
        # saving at once never pick the same name.
        with self._lock:
            path = pngio.unique_path(self.root, stem, start=self._next_counter)
            pngio.write_bytes(data, path)
            st = path.stat()
            info = replace(info, name=path.name, size=st.st_size, mtime_ns=st.st_mtime_ns)
            return self._commit_file(path, info)

    # --- public API ---------------------------------------------------------------------

    def add(self, image: Image.Image, parameters: str, seed: int | None = None) -> GalleryItem:
        """Save a generated image as `NNNNN-<seed>.png` (file first, then its row).

        A failed write is a LibraryError with its sentence and nothing is kept (the CLI's
        way); the window saves with `add_many`, which keeps what it could not write.
        """
        return self.add_many([image], [parameters], [seed], keep_unsaved=False)[0]

    def add_many(
        self,
        images: list[Image.Image],
        parameters: list[str],
        seeds: list[int | None] | None = None,
        keep_unsaved: bool = True,
    ) -> list[GalleryItem]:
        """Save a batch; each picture that cannot be written (full disk...) is kept in memory
        for `retry_unsaved()`, and UnsavedError says so once the rest are saved."""
        seeds = seeds if seeds is not None else [None] * len(images)
        saved: list[GalleryItem] = []
        failed = 0
        for image, text, seed in zip(images, parameters, seeds, strict=True):
            try:
                data = pngio.encode_png(image, text)  # the slow part, outside the lock
            except (OSError, ValueError) as exc:
                raise LibraryError(f"The image could not be encoded as PNG ({exc}).") from exc
            stem = "" if seed is None else str(seed)
            info = _FileInfo(text, image.width, image.height, seed=seed, sha256=_sha256(data))
            try:
                saved.append(self._write_new(data, stem, info))
            except WriteError as exc:
                if not keep_unsaved:
                    raise
                with self._lock:
                    self._unsaved.append((data, stem, info))
                    self._last_cause = exc.cause
                failed += 1
        if failed:
            raise UnsavedError(_unsaved_message(self.unsaved_count, self._last_cause), saved)
        return saved

    @property
    def unsaved_count(self) -> int:
        """Pictures whose save failed, waiting in memory for `retry_unsaved()`."""
        with self._lock:
            return len(self._unsaved)

    def retry_unsaved(self) -> list[GalleryItem]:
        """Write the pictures kept after a failed save; UnsavedError if some still fail."""
        with self._lock:
            pending, self._unsaved = self._unsaved, []
        saved: list[GalleryItem] = []
        for index, (data, stem, info) in enumerate(pending):
            try:
                saved.append(self._write_new(data, stem, info))
            except WriteError as exc:
                with self._lock:
                    self._unsaved[:0] = pending[index:]
                    self._last_cause = exc.cause
                raise UnsavedError(_unsaved_message(self.unsaved_count, exc.cause), saved) from exc
        return saved

    def items(
        self, query: str | GalleryFilter = "", limit: int = 200, offset: int = 0
    ) -> list[GalleryItem]:
        """Newest first unless the filter sorts otherwise; `query` words must all appear in
        the prompt, negative or model. A GalleryFilter adds model, date and favourite."""
        view = as_filter(query)
        where, args = where_clause(view, self.fts)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_ITEM_COLUMNS} FROM images{where}{order_clause(view)} LIMIT ? OFFSET ?",
                (*args, limit, offset),
            ).fetchall()
        return [self._item(row) for row in rows]

    def count(self, query: str | GalleryFilter = "") -> int:
        where, args = where_clause(as_filter(query), self.fts)
        with self._lock:
            return int(
                self._conn.execute(f"SELECT COUNT(*) FROM images{where}", args).fetchone()[0]
            )

    def models(self) -> list[tuple[str, int]]:
        """Every model named in the pictures, with how many pictures each made, A to Z."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT model, COUNT(*) FROM images GROUP BY model ORDER BY model COLLATE NOCASE"
            ).fetchall()
        return [(str(model), int(n)) for model, n in rows]

    def set_favourite(self, ids: list[int], favourite: bool = True) -> None:
        """Star (or unstar) pictures: in the sidecar first (the truth), then in the index."""
        with self._lock:
            names = self._names_of(ids)
            starred = load_favourites(self.root)
            starred = starred | set(names) if favourite else starred - set(names)
            save_favourites(self.root, starred)
            with self._conn:
                self._conn.executemany(
                    "UPDATE images SET favourite = ? WHERE id = ?",
                    [(int(favourite), i) for i in ids],
                )

    def _names_of(self, ids: list[int]) -> list[str]:
        names: list[str] = []
        for start in range(0, len(ids), 500):  # SQLite caps the variables in one statement
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            names += [
                row[0]
                for row in self._conn.execute(
                    f"SELECT name FROM images WHERE id IN ({marks})", chunk
                )
            ]
        return names

    def get(self, id: int) -> GalleryItem | None:  # noqa: A002 - the name the API uses
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_ITEM_COLUMNS} FROM images WHERE id = ?", (id,)
            ).fetchone()
        return self._item(row) if row else None

    def delete(self, id: int) -> None:  # noqa: A002
        """Remove the picture (to the trash where possible) and its row, together."""
        deleted, errors = self.delete_many([id])
        if errors:
            raise LibraryError(errors[0])

    def delete_many(
        self,
        ids: list[int],
        on_progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
        chunk: int = 100,
    ) -> tuple[int, list[str]]:
        """Remove pictures (to the trash where the system has one) with their rows.

        Returns (how many went, one sentence per picture that could not be deleted); a
        picture that could not be deleted keeps its row. Works ``chunk`` pictures at a time,
        each chunk's rows removed with its files and the lock let go between chunks (the
        window keeps reading the index meanwhile); ``on_progress(handled, total)`` after each
        chunk, and ``cancel`` set stops before the next one.
        """
        errors: list[str] = []
        done, chunk = 0, max(1, chunk)
        for start in range(0, len(ids), chunk):
            if cancel is not None and cancel.is_set():
                break
            gone: list[int] = []
            with self._lock:
                for id_ in ids[start : start + chunk]:
                    row = self._conn.execute(
                        "SELECT name FROM images WHERE id = ?", (id_,)
                    ).fetchone()
                    if row is None:
                        continue
                    path = self.root / row[0]
                    drop_thumbnails(self.thumbnail_dir, path)
                    try:
                        self._remove_file(path)
                    except FileNotFoundError:
                        pass  # already gone: the row goes too
                    except OSError as exc:
                        errors.append(
                            f"Could not delete {path.name} ({exc.strerror or exc}); "
                            "check the gallery folder's permissions."
                        )
                        continue
                    gone.append(id_)
                with self._conn:
                    self._conn.executemany("DELETE FROM images WHERE id = ?", [(i,) for i in gone])
            done += len(gone)
            if on_progress is not None:
                on_progress(min(start + chunk, len(ids)), len(ids))
        return done, errors

    def missing(self, ids: list[int]) -> list[int]:
        """The ids among ``ids`` that have no row (deleted), in a few queries, not one each."""
        have: set[int] = set()
        with self._lock:
            for start in range(0, len(ids), 500):
                part = ids[start : start + 500]
                marks = ",".join("?" * len(part))
                rows = self._conn.execute(f"SELECT id FROM images WHERE id IN ({marks})", part)
                have.update(r[0] for r in rows)
        return [i for i in ids if i not in have]

    @property
    def uses_trash(self) -> bool:
        """Whether deleted pictures go to the system's trash (else they are deleted for good)."""
        return _send2trash is not None

    @staticmethod
    def _remove_file(path: Path) -> None:
        if _send2trash is not None and path.exists():
            try:
                _send2trash(str(path))
                return
            except OSError:
                pass  # no usable trash here (some network drives): delete for good
        path.unlink()

    def reconcile(self) -> tuple[int, int]:
        """Sync the index with the folder: (files indexed, rows removed).

        Compares (name, size, mtime) only, so it is one directory scan when nothing changed.
        A file changed in place is re-read and counts as indexed. Also clears temp files
        left by a writer that was killed mid-save, and re-applies the favourites sidecar.
        """
        remove_stale_temp_files(self.root)
        with self._lock:
            known = {
                name: (id_, size, mtime)
                for id_, name, size, mtime in self._conn.execute(
                    "SELECT id, name, size, mtime_ns FROM images"
                )
            }
        on_disk: dict[str, os.stat_result] = {}
        try:
            with os.scandir(self.root) as entries:
                for entry in entries:
                    # Dot-files include our own temp files mid-write.
                    if entry.name.startswith(".") or not entry.name.lower().endswith(".png"):
                        continue
                    try:
                        if entry.is_file():
                            on_disk[entry.name] = entry.stat()
                    except OSError:
                        continue
        except OSError as exc:
            raise LibraryError(
                f"Could not read the gallery folder {self.root} ({exc.strerror or exc})."
            ) from exc
        gone = [row[0] for name, row in known.items() if name not in on_disk]
        changed = [
            (name, st)
            for name, st in on_disk.items()
            if name not in known or known[name][1:] != (st.st_size, st.st_mtime_ns)
        ]
        # Oldest first, so ids grow with time as they do for pictures saved by the app.
        changed.sort(key=lambda pair: (pair[1].st_mtime_ns, pair[0]))
        infos: list[tuple[_FileInfo, float]] = []
        for name, st in changed:  # reading files: outside the lock
            try:
                width, height, texts = pngio.read_png_header(self.root / name)
            except OSError:
                continue  # not a PNG after all, or vanished: look again next time
            parameters = pngio.parameters_from_texts(texts, (width, height)) or ""
            info = _FileInfo(parameters, width, height, name, st.st_size, st.st_mtime_ns)
            infos.append((info, st.st_mtime))
        starred = load_favourites(self.root)
        with self._lock, self._conn:
            self._conn.executemany("DELETE FROM images WHERE id = ?", [(i,) for i in gone])
            for info, created in infos:
                self._upsert(info, created, favourite=info.name in starred)
            self._sync_favourites(starred)
        if self._index_state != "ok":
            # Counted from the files read back, so a new index filled by add() is no rebuild.
            if infos:
                noun = "picture" if len(infos) == 1 else "pictures"
                self.notice = (
                    f"The gallery index was {self._index_state} and has been rebuilt "
                    f"from {len(infos)} {noun}."
                )
            self._index_state = "ok"
        return len(infos), len(gone)

    def _sync_favourites(self, starred: set[str]) -> None:
        """Make the index's stars match the sidecar's (under the lock, in a transaction)."""
        current = {
            name for (name,) in self._conn.execute("SELECT name FROM images WHERE favourite = 1")
        }
        if current == starred:
            return
        self._conn.executemany(
            "UPDATE images SET favourite = 0 WHERE name = ?", [(n,) for n in current - starred]
        )
        self._conn.executemany(
            "UPDATE images SET favourite = 1 WHERE name = ?", [(n,) for n in starred - current]
        )

    def thumbnail(self, item: GalleryItem, size: int = 256) -> Path:
        """A cached thumbnail (JPEG, or PNG when the picture has transparency), made once."""
        return make_thumbnail(self.thumbnail_dir, item.path, size)
