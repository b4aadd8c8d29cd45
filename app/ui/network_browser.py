"""The LoRA and embedding browser beside the prompt: pick one and it goes into the prompt.

A grid of cards (the preview picture that sits next to the file, ``NAME.preview.png`` or
``NAME.png``, else a lettered tile), each with its name, kind, family and size; a search box
and a kind filter. A click inserts ``<lora:NAME:1>`` (a LoRA) or the embedding's name (the
webui's convention: an embedding is used where its name is a word of the prompt).

The list comes from the models worker (``networksListed``); nothing here touches torch.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

TILE = 96
_KIND_FILTERS = (("All", None), ("LoRA", "lora"), ("Embeddings", "textual-inversion"))
_TILE_COLOURS = ("#3b5b7a", "#6a4a7a", "#3f6f5a", "#7a5a3b", "#5a5f7a", "#7a3b4f")


def prompt_text_for(entry: dict[str, Any]) -> str:
    """What a click inserts: ``<lora:NAME:1>`` for a LoRA, the name for an embedding."""
    if entry.get("kind") == "lora":
        return f"<lora:{entry['name']}:1>"
    return str(entry["name"])


def _size(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.1f} GB"
    if n >= 1e6:
        return f"{n / 1e6:.0f} MB"
    return f"{max(n, 0) / 1e3:.0f} kB"


def _tile(entry: dict[str, Any]) -> QIcon:
    image = QImage(entry.get("preview") or "") if entry.get("preview") else QImage()
    pixmap = QPixmap(TILE, TILE)
    if not image.isNull():
        scaled = image.scaled(
            TILE, TILE, Qt.AspectRatioMode.KeepAspectRatioByExpanding,
            Qt.TransformationMode.SmoothTransformation,
        )  # fmt: skip
        x, y = (scaled.width() - TILE) // 2, (scaled.height() - TILE) // 2
        pixmap = QPixmap.fromImage(scaled.copy(x, y, TILE, TILE))
        return QIcon(pixmap)
    name = str(entry.get("name", "?"))
    pixmap.fill(QColor(_TILE_COLOURS[sum(map(ord, name)) % len(_TILE_COLOURS)]))
    painter = QPainter(pixmap)
    painter.setPen(QColor("#f2f2f2"))
    font = QFont()
    font.setPixelSize(34)
    font.setBold(True)
    painter.setFont(font)
    painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, name[:2].upper())
    font.setPixelSize(11)
    font.setBold(False)
    painter.setFont(font)
    label = "LoRA" if entry.get("kind") == "lora" else "Embedding"
    painter.drawText(pixmap.rect().adjusted(0, 0, 0, -6), Qt.AlignmentFlag.AlignBottom
                     | Qt.AlignmentFlag.AlignHCenter, label)  # fmt: skip
    painter.end()
    return QIcon(pixmap)


class NetworkBrowser(QWidget):
    """Cards for every installed LoRA and embedding; ``insertRequested(text)`` on a click."""

    insertRequested = Signal(str)
    refreshRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("networkBrowser")
        self._entries: list[dict[str, Any]] = []
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search LoRAs and embeddings…")
        self.search.setClearButtonEnabled(True)
        self.kind = QComboBox()
        for label, _ in _KIND_FILTERS:
            self.kind.addItem(label)
        self.list = QListWidget()
        self.list.setObjectName("networkList")
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(TILE, TILE))
        self.list.setGridSize(QSize(TILE + 44, TILE + 48))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setWordWrap(True)
        self.list.setUniformItemSizes(True)
        self.list.setMinimumHeight(2 * (TILE + 48) + 12)
        self.empty = QLabel(
            "No LoRAs or embeddings yet: import them in Models, or add your A1111/ComfyUI "
            "models folder there."
        )
        self.empty.setWordWrap(True)
        self.empty.setObjectName("hintLabel")

        top = QHBoxLayout()
        top.setSpacing(6)
        top.addWidget(self.search, 1)
        top.addWidget(self.kind)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(top)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty)

        self.search.textChanged.connect(self._fill)
        self.kind.currentIndexChanged.connect(self._fill)
        self.list.itemClicked.connect(self._clicked)
        self._fill()

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self.refreshRequested.emit()  # files may have been added since last time

    def set_networks(self, entries: list[dict[str, Any]]) -> None:
        self._entries = list(entries)
        self._fill()

    def visible_names(self) -> list[str]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole)["name"]
                for i in range(self.list.count())]  # fmt: skip

    def _fill(self) -> None:
        words = self.search.text().lower().split()
        kind = _KIND_FILTERS[max(self.kind.currentIndex(), 0)][1]
        self.list.clear()
        for entry in self._entries:
            if kind is not None and entry.get("kind") != kind:
                continue
            hay = f"{entry.get('name', '')} {entry.get('title', '')} {entry.get('family', '')}"
            if not all(w in hay.lower() for w in words):
                continue
            facts = " · ".join(
                p for p in (entry.get("family") or "", _size(int(entry.get("size_bytes", 0)))) if p
            )
            item = QListWidgetItem(_tile(entry), f"{entry['name']}\n{facts}")
            item.setData(Qt.ItemDataRole.UserRole, entry)
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            tip = f"{entry.get('title') or entry['name']}\n{entry.get('path', '')}"
            if entry.get("problem"):
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
                tip += f"\n{entry['problem']}"
            else:
                tip += f"\nClick to add {prompt_text_for(entry)} to the prompt."
            item.setToolTip(tip)
            self.list.addItem(item)
        self.empty.setVisible(not self._entries)
        self.list.setVisible(bool(self._entries))

    def _clicked(self, item: QListWidgetItem) -> None:
        entry = item.data(Qt.ItemDataRole.UserRole)
        if entry and not entry.get("problem"):
            self.insertRequested.emit(prompt_text_for(entry))
