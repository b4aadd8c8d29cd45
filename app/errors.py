"""Typed errors. Each message is one sentence a user can act on; no tracebacks reach the UI."""

from __future__ import annotations


class EaselError(Exception):
    """Base of every error Easel reports to a user."""


class EngineError(EaselError):
    """Something went wrong generating an image."""


class InvalidRequest(EngineError):
    """The request is wrong before any weight is touched (size, steps, images, sampler...)."""


class ModelLoadError(EngineError):
    """A model folder or file is missing, incomplete or corrupt."""


class UnsafeModelFile(ModelLoadError):
    """A model file would run code when loaded (a pickle naming a non-allow-listed global)."""


class OutOfMemory(EngineError):
    """The device ran out of memory."""


class Cancelled(EngineError):
    """The user cancelled the job; nothing was written."""

    def __init__(self, message: str = "Cancelled; nothing was saved.") -> None:
        super().__init__(message)


class DownloadError(EaselError):
    """A model download failed; the message says why and what to do."""


class LibraryError(EaselError):
    """The gallery could not read or write an image (disk full, permissions...)."""
