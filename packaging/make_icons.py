"""Draw Easel's app icon and write it as PNG (1024 px), ICNS (macOS) and ICO (Windows).

The mark is a white easel holding a canvas with three paint dabs, on a rounded square with
a violet-to-coral gradient. It is drawn at 4x and scaled down, which is PIL's way to get
anti-aliased edges; the shapes are bold so the mark still reads at 16 px.

Usage: python packaging/make_icons.py  (writes resources/icons/easel.{png,icns,ico})
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "resources" / "icons"
SIZE = 1024
SCALE = 4  # supersampling factor
TOP = (92, 62, 214)  # violet
BOTTOM = (255, 122, 89)  # coral
WHITE = (255, 255, 255, 255)
DABS = [(250, 204, 21), (56, 189, 248), (236, 72, 153)]  # yellow, sky, pink
ICO_SIZES = [(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)]


def _gradient(size: int) -> Image.Image:
    # A vertical ramp of one pixel width, stretched: cheap and exact.
    ramp = Image.new("RGB", (1, size))
    for y in range(size):
        t = y / (size - 1)
        ramp.putpixel(
            (0, y), tuple(round(a + (b - a) * t) for a, b in zip(TOP, BOTTOM, strict=True))
        )
    return ramp.resize((size, size), Image.Resampling.BILINEAR)


def draw_icon() -> Image.Image:
    s = SIZE * SCALE

    def px(v: float) -> int:
        return round(v * SCALE)

    # macOS Big Sur's grid: an 824 px rounded square centred in 1024, radius ~185.
    margin, radius = 100, 185
    background = _gradient(s).convert("RGBA")
    mask = Image.new("L", (s, s), 0)
    ImageDraw.Draw(mask).rounded_rectangle(
        (px(margin), px(margin), px(SIZE - margin), px(SIZE - margin)), px(radius), fill=255
    )
    icon = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    icon.paste(background, (0, 0), mask)

    d = ImageDraw.Draw(icon)
    leg = px(34)
    # Three legs: two splayed front legs and a centre back leg, drawn before the canvas.
    d.line((px(512), px(250), px(330), px(840)), fill=WHITE, width=leg)
    d.line((px(512), px(250), px(694), px(840)), fill=WHITE, width=leg)
    d.line((px(512), px(250), px(512), px(800)), fill=WHITE, width=px(26))
    d.ellipse((px(512 - 30), px(220), px(512 + 30), px(280)), fill=WHITE)  # the head
    # The ledge the canvas stands on.
    d.rounded_rectangle((px(300), px(640), px(724), px(684)), px(18), fill=WHITE)
    # The canvas: white frame, gradient-tinted inside so it reads as a picture.
    d.rounded_rectangle((px(310), px(300), px(714), px(640)), px(26), fill=WHITE)
    inner = (px(346), px(336), px(678), px(604))
    d.rounded_rectangle(inner, px(12), fill=(246, 241, 255, 255))
    # Three dabs of paint and a hill: a picture in progress.
    d.pieslice((px(346), px(470), px(678), px(800)), 180, 360, fill=(167, 139, 250, 255))
    d.rectangle((px(346), px(604), px(678), px(640)), fill=WHITE)  # trim the hill at the frame
    for i, colour in enumerate(DABS):
        cx, cy, r = 420 + i * 92, 410, 38
        d.ellipse((px(cx - r), px(cy - r), px(cx + r), px(cy + r)), fill=(*colour, 255))
    return icon.resize((SIZE, SIZE), Image.Resampling.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    icon = draw_icon()
    icon.save(OUT / "easel.png", optimize=True)
    icon.save(OUT / "easel.icns")  # Pillow writes every ICNS size from the 1024 px image
    icon.save(OUT / "easel.ico", sizes=ICO_SIZES)
    for name in ("easel.png", "easel.icns", "easel.ico"):
        print(f"{OUT / name}: {(OUT / name).stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
