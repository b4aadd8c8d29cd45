"""Model downloads from the Hugging Face Hub into the shared HF cache: resumable and verified.

Files land in the standard cache layout (``blobs/<etag>`` + ``snapshots/<commit>/<path>`` symlinks
+ ``refs/<branch>``), so a model another tool downloaded is reused and what Easel downloads is
reused by diffusers and friends. Metadata (commit, tree listing with sizes and LFS SHA-256) and
the HTTP session (proxies, auth, offline switch) come from huggingface_hub; the byte transfer is
our own loop because huggingface_hub 2.x writes each attempt to a process-unique temporary file
that it deletes on failure, so a cancelled or killed download would start again from zero. Ours
keeps ``blobs/<etag>.incomplete`` (the name older huggingface_hub versions used, which they too
resume) and continues it with a ``Range`` request, hashing as bytes arrive, so verification
costs no second pass. Nothing is renamed into ``blobs/`` before its hash matched.

huggingface_hub is imported inside functions: the UI imports this module at start-up.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from app.errors import Cancelled, DownloadError
from app.models import hubcache
from app.models.catalog import CatalogEntry, family_config_sources
from app.models.transfer import (
    CANCELLED_MESSAGE,
    CONNECT_TIMEOUT_S,
    MAX_RESUMES,
    OFFLINE_MESSAGE,
    READ_TIMEOUT_S,
    DownloadProgress,
    ProgressCallback,
    _download,
)

__all__ = [
    "CANCELLED_MESSAGE",
    "CONNECT_TIMEOUT_S",
    "MAX_RESUMES",
    "OFFLINE_MESSAGE",
    "READ_TIMEOUT_S",
    "DownloadProgress",
    "download_model",
    "fetch_family_configs",
    "family_config_dir",
    "installed_snapshot",
    "is_installed",
]


# -- public API -----------------------------------------------------------------------------


def download_model(
    entry_or_repo_id: CatalogEntry | str,
    *,
    revision: str | None = None,
    allow_patterns: Iterable[str] | None = None,
    ignore_patterns: Iterable[str] | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    endpoint: str | None = None,
    token: str | bool | None = None,
) -> Path:
    """Download (or finish, or just verify) a model and return its snapshot folder.

    A catalog entry brings its own revision and file patterns; a bare repo id means the whole
    repo unless ``allow_patterns`` says otherwise. Raises DownloadError with a sentence for the
    user, or Cancelled when ``cancel`` was set (the partial file is kept for the next call).
    """
    repo_id, rev, allow, ignore = _selection(
        entry_or_repo_id, revision, allow_patterns, ignore_patterns
    )
    installed = hubcache.installed_snapshot_for(repo_id, rev, allow, ignore)
    if hubcache.offline_mode():
        if installed is not None:
            return installed
        raise DownloadError(OFFLINE_MESSAGE)
    try:
        return _download(repo_id, rev, allow, ignore, on_progress, cancel, endpoint, token)
    except (DownloadError, Cancelled):
        raise
    except Exception as exc:
        error = _friendly_error(exc, repo_id, rev)
        if installed is not None and str(error) == OFFLINE_MESSAGE:
            return installed  # offline, but what was asked for is already here
        raise error from exc


def installed_snapshot(
    entry_or_repo_id: CatalogEntry | str,
    *,
    revision: str | None = None,
    allow_patterns: Iterable[str] | None = None,
    ignore_patterns: Iterable[str] | None = None,
) -> Path | None:
    """The snapshot folder of a completely downloaded and verified model, from local files only."""
    repo_id, rev, allow, ignore = _selection(
        entry_or_repo_id, revision, allow_patterns, ignore_patterns
    )
    return hubcache.installed_snapshot_for(repo_id, rev, allow, ignore)


def is_installed(entry_or_repo_id: CatalogEntry | str, **selection: Any) -> bool:
    """True only for a complete, verified download; never for a partial one. No network."""
    return installed_snapshot(entry_or_repo_id, **selection) is not None


FAMILY_ALIASES = {"sd1": "sd1", "sd2": "sd2", "sd2-v": "sd2", "sdxl": "sdxl"}


def fetch_family_configs(
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    *,
    families: Iterable[str] = ("sd1", "sd2", "sdxl"),
    endpoint: str | None = None,
) -> dict[str, Path]:
    """Fetch the small config and tokenizer files (no weights) of the SD 1.x, 2.x and SDXL repos,
    so that importing a single-file checkpoint later works offline."""
    sources = family_config_sources()
    done: dict[str, Path] = {}
    for family in families:
        src = sources[FAMILY_ALIASES[family]]
        done[family] = download_model(
            src.repo_id,
            revision=src.revision,
            allow_patterns=src.allow_patterns,
            ignore_patterns=src.ignore_patterns,
            on_progress=on_progress,
            cancel=cancel,
            endpoint=endpoint,
        )
    return done


def family_config_dir(family: str) -> Path | None:
    """The local folder with a family's diffusers configs (model_index.json, component configs,
    tokenizer) for ``from_single_file(config=...)``; None when not fetched yet. No network."""
    name = FAMILY_ALIASES.get(family)
    if name is None:
        return None
    src = family_config_sources()[name]
    return hubcache.installed_snapshot_for(
        src.repo_id, src.revision, src.allow_patterns, src.ignore_patterns
    ) or hubcache.snapshot_with_configs(src.repo_id, src.revision)


# -- the download ---------------------------------------------------------------------------


def _selection(
    entry_or_repo_id: CatalogEntry | str,
    revision: str | None,
    allow_patterns: Iterable[str] | None,
    ignore_patterns: Iterable[str] | None,
) -> tuple[str, str, list[str] | None, list[str] | None]:
    if isinstance(entry_or_repo_id, CatalogEntry):
        entry = entry_or_repo_id
        allow = allow_patterns if allow_patterns is not None else entry.allow_patterns
        return entry.repo_id, revision or entry.revision, list(allow), _opt(ignore_patterns)
    return entry_or_repo_id, revision or "main", _opt(allow_patterns), _opt(ignore_patterns)


def _opt(patterns: Iterable[str] | None) -> list[str] | None:
    if isinstance(patterns, str):
        return [patterns]
    return None if patterns is None else list(patterns)


def _friendly_error(exc: BaseException, repo_id: str, revision: str) -> DownloadError:
    """One sentence per failure a user can meet, saying what to do."""
    import httpx2
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, httpx2.ProxyError):
        return DownloadError(
            "Easel can't reach the Hugging Face Hub through the configured proxy; "
            "check the proxy settings and try again."
        )
    if isinstance(exc, OfflineModeIsEnabled | httpx2.ConnectError | httpx2.ConnectTimeout):
        return DownloadError(OFFLINE_MESSAGE)
    if isinstance(exc, httpx2.TimeoutException | httpx2.NetworkError | httpx2.RemoteProtocolError):
        return DownloadError(
            "The connection to the Hugging Face Hub kept dropping; "
            "check your connection and try again (the download will continue where it stopped)."
        )
    if isinstance(exc, GatedRepoError):
        return DownloadError(
            f"{repo_id} needs you to accept its licence on huggingface.co and log in: "
            f"open https://huggingface.co/{repo_id}, accept the terms, log in from Settings, "
            "then try again."
        )
    if isinstance(exc, RevisionNotFoundError):
        return DownloadError(
            f"The version '{revision}' of {repo_id} does not exist on the Hugging Face Hub; "
            "pick another version or update Easel."
        )
    if isinstance(exc, RepositoryNotFoundError):
        return DownloadError(
            f"The model {repo_id} was not found on the Hugging Face Hub; check its name "
            "(a private model needs you to log in)."
        )
    if isinstance(exc, RemoteEntryNotFoundError):
        return DownloadError(
            f"A file of {repo_id} is missing on the Hugging Face Hub; the model may be changing "
            "right now — try again later."
        )
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status == 429:
            wait = exc.response.headers.get("Retry-After")
            when = f"after {wait} seconds (Retry-After)" if wait else "in a few minutes"
            return DownloadError(
                f"The Hugging Face Hub is rate-limiting downloads; try again {when}."
            )
        if status >= 500:
            return DownloadError(
                f"The Hugging Face Hub had a server error (HTTP {status}); "
                "try again in a few minutes."
            )
        if status in (401, 403):
            return DownloadError(
                f"The Hugging Face Hub refused access to {repo_id} (HTTP {status}); "
                "log in from Settings with a token that can read it and try again."
            )
        return DownloadError(
            f"The Hugging Face Hub answered HTTP {status} for {repo_id}; try again later."
        )
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return DownloadError(
            "The disk is full; free some space and try again (the download will continue)."
        )
    if isinstance(exc, OSError):
        return DownloadError(
            f"Easel could not write the model to {hubcache.hub_cache_dir()} "
            f"({exc.strerror or exc}); check that the folder is writable and try again."
        )
    return DownloadError(f"Downloading {repo_id} failed ({exc}); try again.")
