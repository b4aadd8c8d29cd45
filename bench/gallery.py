"""Gallery at scale: open to first thumbnails, and search, over 10,000 pictures.

    .venv/bin/python bench/gallery.py [--count 10000] [--size 64]

Builds a gallery of small PNGs (each with its own A1111 parameters chunk) in a temporary
folder, indexes it from the files, then measures what a user waits for:

- open to first thumbnails: open the index + reconcile() + first page of items (200) + the
  first 50 thumbnails; median of 5, cold (thumbnail cache emptied before each run) and
  warm (cached). Target 300 ms.
- search: items(query) for the first page; median over 20 queries. Target 50 ms. Also shown
  with the LIKE fallback (no FTS5) for comparison.

Prints figures and their ratio to the target (below 1.00 is within target).
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import statistics
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402

from app.library import gallery as gallery_module  # noqa: E402
from app.library.gallery import Gallery  # noqa: E402

OPEN_TARGET_MS = 300.0
SEARCH_TARGET_MS = 50.0
WORDS = (
    "castle forest river mountain portrait woman man cat dog fox dragon robot city night "
    "sunset sunrise ocean beach desert snow rain storm lighthouse garden flower rose tree "
    "ancient futuristic cyberpunk steampunk watercolor oil painting photo cinematic dramatic "
    "lighting golden hour misty foggy neon detailed intricate highly masterpiece anime "
    "sketch charcoal ink vibrant pastel dark moody bright cozy cottage spaceship planet "
    "galaxy nebula astronaut knight wizard elf dwarf samurai ninja tiger wolf owl eagle "
    "horse train car bicycle bridge tower cathedral temple ruins jungle waterfall lake"
).split()
NEGATIVES = ("blurry, lowres", "bad hands, extra fingers", "watermark, text", "", "jpeg artifacts")
MODELS = ("v1-5-pruned-emaonly", "dreamshaper_8", "realisticVision", "sdxl_base", "anything-v5")
QUERIES = (
    "castle",
    "dragon castle",
    "golden hour",
    "cat",
    "portrait woman",
    "cyberpunk city night",
    "lighthouse storm",
    "ox",  # short: the LIKE path
    "watercolor",
    "dreamshaper",
    "blurry",
    "zebra",  # no match
    "a",
    "samurai temple",
    "Neon",
    "misty lake",
    "astronaut planet galaxy",
    "detailed intricate masterpiece",
    "owl",
    "ruins jungle waterfall",
)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def build(root: Path, count: int, size: int) -> None:
    """Write `count` PNGs quickly: a few encoded images, each file gets its own text chunk."""
    rng = random.Random(1234)
    bases = []
    for i in range(16):
        img = Image.effect_noise((size, size), 40 + i * 5).convert("RGB")
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=1)
        bases.append(buf.getvalue())
    root.mkdir(parents=True)
    for n in range(count):
        prompt = ", ".join(rng.sample(WORDS, rng.randint(6, 18)))
        negative = rng.choice(NEGATIVES)
        seed = rng.randrange(2**32)
        text = prompt + (f"\nNegative prompt: {negative}" if negative else "")
        text += (
            f"\nSteps: {rng.choice((20, 25, 30))}, Sampler: Euler a, CFG scale: 7, "
            f"Seed: {seed}, Size: {size}x{size}, Model: {rng.choice(MODELS)}, "
            "Version: Easel 0.1.0"
        )
        png = bases[n % len(bases)]
        body = b"parameters\x00" + text.encode("latin-1")
        (root / f"{n:05d}-{seed}.png").write_bytes(png[:33] + _chunk(b"tEXt", body) + png[33:])


def open_to_first_thumbnails(root: Path, index: Path, thumbs: Path) -> float:
    t0 = time.perf_counter()
    g = Gallery(root, index, thumbs)
    try:
        g.reconcile()
        items = g.items(limit=200)
        for item in items[:50]:
            g.thumbnail(item)
    finally:
        g.close()
    return (time.perf_counter() - t0) * 1000


def search_times(g: Gallery) -> list[float]:
    times = []
    for query in QUERIES:
        t0 = time.perf_counter()
        g.items(query)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def ratio(ms: float, target: float) -> str:
    return f"{ms:8.1f} ms   {ms / target:5.2f} x target ({target:.0f} ms)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=64, help="pixels per side of each picture")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="easel-bench-gallery-"))
    try:
        root, index, thumbs = work / "pics", work / "index.sqlite3", work / "thumbs"
        t0 = time.perf_counter()
        build(root, args.count, args.size)
        print(
            f"wrote {args.count} PNGs of {args.size}x{args.size} in {time.perf_counter() - t0:.1f} s"
        )

        t0 = time.perf_counter()
        with Gallery(root, index, thumbs) as g:
            added, _ = g.reconcile()
            fts = g.fts
        print(f"index built from the files: {added} rows in {time.perf_counter() - t0:.2f} s")
        print(f"search index: {'FTS5 trigram' if fts else 'LIKE'}")

        cold, warm = [], []
        for _ in range(5):
            shutil.rmtree(thumbs, ignore_errors=True)
            cold.append(open_to_first_thumbnails(root, index, thumbs))
        for _ in range(5):
            warm.append(open_to_first_thumbnails(root, index, thumbs))
        print("open + reconcile + 200 items + 50 thumbnails (median of 5)")
        print(f"  cold, first run   {ratio(cold[0], OPEN_TARGET_MS)}")
        print(f"  cold, median      {ratio(statistics.median(cold), OPEN_TARGET_MS)}")
        print(f"  warm, median      {ratio(statistics.median(warm), OPEN_TARGET_MS)}")

        with Gallery(root, index, thumbs) as g:
            t0 = time.perf_counter()
            g.reconcile()
            nothing_changed = (time.perf_counter() - t0) * 1000
            times = search_times(g)
            counts = {q: g.count(q) for q in ("castle", "dragon castle", "zebra")}
        print(f"reconcile alone, nothing changed: {nothing_changed:.1f} ms")
        print(f"search, first page (median of {len(times)})")
        print(f"  FTS5      median  {ratio(statistics.median(times), SEARCH_TARGET_MS)}")
        print(f"            worst   {ratio(max(times), SEARCH_TARGET_MS)}")
        print(f"  matches: {counts}")

        gallery_module.USE_FTS5 = False
        like_index = work / "like.sqlite3"
        with Gallery(root, like_index, thumbs) as g:
            g.reconcile()
            like_times = search_times(g)
        gallery_module.USE_FTS5 = True
        print(f"  LIKE      median  {ratio(statistics.median(like_times), SEARCH_TARGET_MS)}")
        print(f"            worst   {ratio(max(like_times), SEARCH_TARGET_MS)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
