"""Screenshot of the LoRA and embedding browser open beside the prompt:
``docs/screenshot-networks.png``.

    xvfb-run -s "-screen 0 1440x900x24" .venv/bin/python docs/screenshot_networks.py

An A1111-style models folder with small LoRA and embedding files (real tensor names and
SD 1.x/SDXL shapes, zero weights) and preview pictures next to some of them is made in a
temporary EASEL_HOME and added to the library; a click on one card puts its tag in the prompt.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LORAS = {  # name: (cross-attention width, SDXL, preview colours or None)
    "add_detail": (768, False, ("#d9a441", "#3a2f5b")),
    "ghibli_style_offset": (768, False, ("#6fb1a0", "#f1e3b5")),
    "inkwash_painting_v2": (768, False, None),
    "lcm-lora-sdv1-5": (768, False, None),
    "pixel-art-xl": (2048, True, ("#ef476f", "#118ab2")),
    "film_grain_sdxl": (2048, True, None),
}
EMBEDDINGS = {"easynegative": 768, "bad_hands_5": 768, "negativeXL_D": 0}


def _preview(path: Path, colours: tuple[str, str]) -> None:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (256, 256), colours[1])
    draw = ImageDraw.Draw(image)
    for i in range(0, 256, 16):
        draw.ellipse((i - 40, 256 - i - 40, i + 120, 256 - i + 120), outline=colours[0], width=5)
    image.save(path)


def make_library(root: Path) -> Path:
    import torch

    from app.engine.tiny_networks import save_safetensors

    lora_dir, emb_dir = root / "Lora", root / "embeddings"
    block = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k"
    for name, (width, xl, colours) in LORAS.items():
        tensors = {
            f"{block}.lora_down.weight": torch.zeros(8, width),
            f"{block}.lora_up.weight": torch.zeros(640, 8),
            f"{block}.alpha": torch.tensor(4.0),
        }
        if xl:
            tensors["lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight"] = torch.zeros(
                8, 1280
            )
            tensors["lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_up.weight"] = torch.zeros(
                5120, 8
            )
        path = save_safetensors(tensors, lora_dir / f"{name}.safetensors")
        if colours:
            _preview(path.with_name(f"{name}.preview.png"), colours)
    for name, width in EMBEDDINGS.items():
        if width:
            tensors = {"emb_params": torch.zeros(4, width)}
        else:
            tensors = {"clip_l": torch.zeros(4, 768), "clip_g": torch.zeros(4, 1280)}
        save_safetensors(tensors, emb_dir / f"{name}.safetensors")
    _preview(emb_dir / "easynegative.png", ("#444444", "#bbbbbb"))
    return root


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="easel-shot-"))
    os.environ["EASEL_HOME"] = str(home)
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from app.engine.tiny import save_model_folder
    from app.models import registry

    registry.import_path(make_library(home / "webui" / "models"))
    model = str(save_model_folder(home / "tiny-sd", "tiny"))

    from PySide6.QtCore import QTimer

    from app.ui.main import create_application
    from app.ui.main_window import MainWindow

    app = create_application([])
    window = MainWindow(model_path=model)
    window.resize(1440, 900)
    window.prompt_panel.set_texts(
        "a lighthouse on a cliff at dusk, oil painting, warm light", "easynegative, blurry"
    )
    window.show()
    tab = window.splitter
    tab.setSizes([560, 600, 280])

    def listed(_entries: object) -> None:
        browser = window.network_browser
        for i in range(browser.list.count()):
            if browser.list.item(i).text().startswith("add_detail"):
                browser.list.setCurrentRow(i)
                browser._clicked(browser.list.item(i))
        QTimer.singleShot(300, shoot)

    def shoot() -> None:
        app.processEvents()
        out = ROOT / "docs" / "screenshot-networks.png"
        window.grab().save(str(out))
        print(out)
        window.close()
        app.quit()

    window.models_worker.networksListed.connect(listed)
    tab.networks_button.setChecked(True)
    QTimer.singleShot(60_000, app.quit)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
