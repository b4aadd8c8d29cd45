"""The queue written down: jobs not yet done survive quitting and crashing.

Each job is one row in an SQLite database (WAL, like the gallery index) written when it is
queued and deleted when it is over (done, failed, or cancelled by the user). Pictures in a
request (an init image, a mask) are stored as PNG files in a folder beside the database,
named by their content's hash, so a batch of jobs on one picture stores it once. On the
next start the rows left are the jobs to offer back ("Resume 5 jobs?").

No Qt, no torch: the worker calls it from the engine thread and the window from the main
thread, through one lock.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from app.errors import LibraryError
from app.library import paths, pngio
from app.request import ControlUnit, GenerationRequest

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    model_path TEXT,
    tag TEXT NOT NULL DEFAULT '',
    request TEXT NOT NULL          -- JSON of the GenerationRequest; images by file name
);
"""
_IMAGE_FIELDS = ("init_image", "mask")


@dataclass(frozen=True)
class StoredJob:
    """A job read back from the store: enough to queue it again."""

    id: int
    request: GenerationRequest
    model_path: str | None
    tag: str
    created: float


def default_path() -> Path:
    return paths.data_dir() / "queue.sqlite3"


class JobStore:
    """Pending jobs on disk. ``add`` when queued, ``remove`` when over, ``pending`` at start."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.image_dir = self.path.with_name(self.path.stem + "-images")
        self._lock = threading.RLock()  # pictures and rows change together
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = self._open()
        except sqlite3.DatabaseError:
            # A corrupt queue file must not stop the app: set it aside and start empty.
            log.warning("the job queue database is unreadable; starting a new one")
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            self.path.replace(aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self._conn = self._open()
        except OSError as exc:
            raise LibraryError(
                f"Could not open the job queue {self.path} ({exc.strerror or exc}); "
                "check that its folder is writable."
            ) from exc

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a job the user queued must be on disk before the call returns.
            conn.execute("PRAGMA synchronous=FULL")
            with conn:
                conn.executescript(_SCHEMA)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- writing ------------------------------------------------------------------------

    def add(self, request: GenerationRequest, model_path: str | None = None, tag: str = "") -> int:
        """Write a job down (its pictures first, then its row); returns its store id."""
        try:
            with self._lock, self._conn:
                data = self._serialise(request)
                row = self._conn.execute(
                    "INSERT INTO jobs (created, model_path, tag, request) VALUES (?, ?, ?, ?)"
                    " RETURNING id",
                    (time.time(), model_path, tag, json.dumps(data, ensure_ascii=False)),
                ).fetchone()
        except sqlite3.Error as exc:
            raise LibraryError(
                f"The job could not be written to the queue file ({exc}); "
                "it will run but will not survive quitting."
            ) from exc
        return int(row[0])

    def remove(self, job_id: int) -> None:
        """Forget a job that is over; pictures no other job uses go too."""
        try:
            with self._lock, self._conn:
                self._conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        except sqlite3.Error:
            log.warning("could not remove job %d from the queue file", job_id, exc_info=True)
            return
        self._drop_unused_images()

    def clear(self) -> None:
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM jobs")
        self._drop_unused_images()

    # --- reading ------------------------------------------------------------------------

    def pending(self) -> list[StoredJob]:
        """Jobs written down and not over, oldest first; unreadable rows are dropped."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, created, model_path, tag, request FROM jobs ORDER BY id"
            ).fetchall()
        out: list[StoredJob] = []
        for id_, created, model_path, tag, text in rows:
            try:
                request = self._deserialise(json.loads(text))
            except (ValueError, TypeError, KeyError, OSError) as exc:
                log.warning("dropping unreadable queued job %d: %s", id_, exc)
                self.remove(id_)
                continue
            out.append(StoredJob(id_, request, model_path, tag or "", created))
        return out

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])

    # --- (de)serialising ----------------------------------------------------------------

    def _serialise(self, request: GenerationRequest) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for f in dataclasses.fields(request):
            value = getattr(request, f.name)
            if f.name in _IMAGE_FIELDS:
                value = self._store_image(value)
            elif f.name == "controlnets":  # each unit with its control image kept like others
                value = [
                    {**dataclasses.asdict(u), "image": self._store_image(u.image)} for u in value
                ]
            elif isinstance(value, tuple):
                value = list(value)
            data[f.name] = value
        return data

    def _store_image(self, value: object) -> dict[str, str] | None:
        if value is None or value == "":
            return None
        if isinstance(value, Image.Image):
            buffer = io.BytesIO()
            value.save(buffer, format="PNG", compress_level=1)
            png = buffer.getvalue()
            name = hashlib.sha256(png).hexdigest()[:32] + ".png"
            target = self.image_dir / name
            if not target.exists():
                pngio.write_bytes(png, target)
            return {"stored": name}
        return {"path": str(value)}

    def _deserialise(self, data: dict[str, Any]) -> GenerationRequest:
        known = {f.name for f in dataclasses.fields(GenerationRequest)}
        # Fields a newer version wrote are ignored; missing ones take their defaults.
        kwargs = {k: v for k, v in data.items() if k in known}
        for name in _IMAGE_FIELDS:
            if name in kwargs:
                kwargs[name] = self._load_image(kwargs[name])
        if "controlnets" in kwargs:
            unit_fields = {f.name for f in dataclasses.fields(ControlUnit)}
            kwargs["controlnets"] = tuple(
                ControlUnit(
                    **{
                        **{k: v for k, v in u.items() if k in unit_fields},
                        "image": self._load_image(u.get("image")),
                    }
                )
                for u in kwargs["controlnets"]
            )
        for name in ("outpaint", "hires_resize"):
            if name in kwargs:
                kwargs[name] = tuple(int(v) for v in kwargs[name])
        return GenerationRequest(**kwargs)

    def _load_image(self, ref: object) -> object:
        if not isinstance(ref, dict):
            return ref
        if "stored" in ref:
            with Image.open(self.image_dir / Path(ref["stored"]).name) as im:
                im.load()
                return im.copy()
        return ref["path"]

    def _drop_unused_images(self) -> None:
        with self._lock:
            if self.image_dir.is_dir():
                self._drop_unused_images_locked()

    def _drop_unused_images_locked(self) -> None:
        texts = [row[0] for row in self._conn.execute("SELECT request FROM jobs")]
        used = set()
        for text in texts:
            try:
                data = json.loads(text)
            except ValueError:
                continue
            refs = [data.get(name) for name in _IMAGE_FIELDS]
            refs += [u.get("image") for u in data.get("controlnets") or [] if isinstance(u, dict)]
            for ref in refs:
                if isinstance(ref, dict) and "stored" in ref:
                    used.add(ref["stored"])
        for file in self.image_dir.iterdir():
            if file.suffix == ".png" and file.name not in used:
                file.unlink(missing_ok=True)
