"""A webui infotext pasted into the prompt box: "Apply these settings?".

The paste lands as text first (as in the webui); the offer under the prompt applies the
picture's prompt, negative prompt, every number, sampler, schedule, clip skip, variation seed,
size, LoRA tags (they stay in the prompt) and its model: switched to when installed, named
when not. A sampler Easel cannot run is never swapped silently: the banner says which is used.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton

from app.library.restore import looks_like_infotext, plan_restore
from app.models.match import find_installed_model


class PasteRestoreOffer(QFrame):
    """The offer bar; ``install(window)`` puts it under the prompt box and wires it."""

    def __init__(self, window: Any) -> None:
        super().__init__()
        self.window = window
        self.setObjectName("pasteOffer")
        self.label = QLabel("This looks like a picture's settings. Apply these settings?")
        self.label.setWordWrap(True)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setObjectName("pasteApply")
        self.apply_button.setToolTip(
            "Prompt, negative prompt, sampler, schedule, steps, CFG, seed, variation, size, "
            "clip skip and model from the pasted text"
        )
        self.dismiss_button = QPushButton("Keep as text")
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(self.label, 1)
        row.addWidget(self.apply_button)
        row.addWidget(self.dismiss_button)
        self.apply_button.clicked.connect(self.apply)
        self.dismiss_button.clicked.connect(self.dismiss)
        self._dismissed = ""
        self.hide()

    @classmethod
    def install(cls, window: Any) -> PasteRestoreOffer:
        offer = cls(window)
        panel = window.prompt_panel
        layout = panel.layout()
        layout.insertWidget(layout.indexOf(panel.prompt) + 1, offer)
        panel.prompt.textChanged.connect(offer.check)
        return offer

    def check(self) -> None:
        text = self.window.prompt_panel.prompt_text()
        self.setVisible(text != self._dismissed and looks_like_infotext(text))

    def dismiss(self) -> None:
        self._dismissed = self.window.prompt_panel.prompt_text()
        self.hide()

    def apply(self) -> list[str]:
        """Apply the pasted settings; returns the sentences shown (also on the banner)."""
        w = self.window
        plan = plan_restore(w.prompt_panel.prompt_text(), w.current_settings().to_request())
        self.hide()
        w.restore_request(plan.request)
        messages = list(plan.messages)
        if plan.model or plan.model_hash:
            models = {p: "" for p in w.settings.recent_models}
            models.update(getattr(w, "_installed", {}))
            path = find_installed_model(models, plan.model, plan.model_hash)
            if not path:
                named = plan.model or f"hash {plan.model_hash}"
                messages.append(
                    f"This picture was made with the model {named}, which is not installed; "
                    "the current model is kept (import it in the Models tab)."
                )
            elif path != w.settings.model_path:
                w.set_model_path(path)
        if messages:
            w.show_error(" ".join(messages))
        return messages
