"""The Generate tab's layout: prompt and settings | preview and thumbnails | job queue."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.ui.control_panel import ControlPanel
from app.ui.hires_panel import HiresPanel
from app.ui.network_browser import NetworkBrowser
from app.ui.preview_panel import PreviewPanel
from app.ui.prompt_panel import PromptPanel
from app.ui.queue_panel import QueuePanel
from app.ui.resources import icon
from app.ui.settings_panel import SettingsPanel
from app.ui.state import JobsState


class GenerateTab(QSplitter):
    """Three resizable columns; the window connects the parts' signals."""

    def __init__(self, jobs: JobsState, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setObjectName("generateSplitter")
        self.setChildrenCollapsible(False)

        self.prompt_panel = PromptPanel()
        self.networks_button = QPushButton("  LoRA && embeddings")
        self.networks_button.setObjectName("networksButton")
        self.networks_button.setCheckable(True)
        self.networks_button.setToolTip("Browse your LoRAs and embeddings; a click adds one")
        self.network_browser = NetworkBrowser()
        self.network_browser.setVisible(False)
        self.networks_button.toggled.connect(self.network_browser.setVisible)
        self.network_browser.insertRequested.connect(self.prompt_panel.insert_text)
        self.settings_panel = SettingsPanel()
        self.control_panel = ControlPanel()
        self.hires_panel = HiresPanel()
        self.generate_button = QPushButton(icon("sparkles"), "  Generate")
        self.generate_button.setObjectName("generateButton")
        self.generate_button.setToolTip("Generate (Ctrl+Enter); queues behind running jobs")
        self.cancel_button = QPushButton(icon("stop"), "  Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setToolTip("Stop the running job (Esc)")
        self.cancel_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        buttons.addWidget(self.generate_button, 3)
        buttons.addWidget(self.cancel_button, 1)

        left_inner = QWidget()
        left_inner.setObjectName("sidePanel")
        left = QVBoxLayout(left_inner)
        left.setContentsMargins(16, 16, 16, 16)
        left.setSpacing(14)
        left.addWidget(self.prompt_panel, 1)
        left.addWidget(self.networks_button)
        left.addWidget(self.network_browser, 1)
        left.addWidget(self.settings_panel)
        left.addWidget(self.control_panel)
        left.addWidget(self.hires_panel.prediction_row)
        left.addWidget(self.hires_panel)
        scroll = QScrollArea()
        scroll.setObjectName("sideScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(left_inner)
        # Never clip the controls: the panel is at least as wide as they need (plus a scroll bar).
        scroll.setMinimumWidth(left_inner.minimumSizeHint().width() + 12)
        self.side_scroll = scroll
        # Generate and Cancel stay in sight below the scrolling settings, however long they get.
        side = QWidget()
        side.setObjectName("sidePanel")
        side_box = QVBoxLayout(side)
        side_box.setContentsMargins(0, 0, 0, 0)
        side_box.setSpacing(0)
        side_box.addWidget(scroll, 1)
        button_bar = QWidget()
        button_bar.setLayout(buttons)
        buttons.setContentsMargins(16, 10, 16, 14)
        side_box.addWidget(button_bar)

        self.preview_panel = PreviewPanel()
        center = QWidget()
        box = QVBoxLayout(center)
        box.setContentsMargins(8, 16, 8, 12)
        box.addWidget(self.preview_panel)

        self.queue_panel = QueuePanel(jobs)
        right = QWidget()
        right.setObjectName("sidePanel")
        rbox = QVBoxLayout(right)
        rbox.setContentsMargins(16, 16, 16, 12)
        rbox.addWidget(self.queue_panel)
        right.setMinimumWidth(200)

        for widget in (side, center, right):
            self.addWidget(widget)
        self.setStretchFactor(1, 1)
        self.setSizes([400, 740, 300])
