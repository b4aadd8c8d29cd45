"""Preprocessors that need a model of their own: depth (Depth Anything V2) and openpose (a person
detector, RT-DETR, then a keypoint model, ViTPose, on each person found).

The models are catalog entries of kind "preprocessor", downloaded on first use through the
same verified, resumable downloader as every model, and loaded from safetensors only
(``use_safetensors=True``: no pickle is ever read). Pre- and post-processing are each model's
own transformers image processor (their PIL versions: no torchvision needed), from the
model's ``preprocessor_config.json``. The pose image is drawn as the ControlNet OpenPose models
were trained on: 18 body points in OpenPose's order (the neck is the shoulders' midpoint), the
webui's limb colours at 60 %, round joints in full colour.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from app.errors import DownloadError, InvalidRequest

DEPTH_MODEL = "depth-anything-v2-small"
POSE_DETECTOR = "rtdetr-person-detector"
POSE_MODEL = "vitpose-base"
PERSON_THRESHOLD = 0.3
KEYPOINT_THRESHOLD = 0.3

# COCO's 17 keypoints (ViTPose) -> OpenPose's 18 (index 1, the neck, is made from the shoulders).
COCO_TO_OPENPOSE = (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
LIMBS = (
    (2, 3), (2, 6), (3, 4), (4, 5), (6, 7), (7, 8), (2, 9), (9, 10), (10, 11),
    (2, 12), (12, 13), (13, 14), (2, 1), (1, 15), (15, 17), (1, 16), (16, 18),
)  # fmt: skip
COLOURS = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip

_loaded: dict[str, Any] = {}
_lock = threading.Lock()


def model_folder(catalog_id: str, cancel: threading.Event | None = None) -> Path:
    """The preprocessor model's folder, downloading it the first time it is used."""
    from app.models import catalog, download

    entry = catalog.get(catalog_id)
    have = download.installed_snapshot(entry)
    if have is not None:
        return have
    try:
        return download.download_model(entry, cancel=cancel)
    except DownloadError as exc:
        size = entry.size_bytes / 1e6
        raise InvalidRequest(
            f"This preprocessor needs {entry.name} ({size:.0f} MB), which is downloaded once on "
            f"first use, and the download failed: {exc} Download it in Models, or give a "
            "ready-made control image with preprocessor none."
        ) from exc


def _load(folder: Path, cls_name: str) -> Any:
    key = f"{cls_name}:{folder}"
    with _lock:
        if key not in _loaded:
            import transformers

            cls = getattr(transformers, cls_name)
            try:
                model = cls.from_pretrained(folder, use_safetensors=True, local_files_only=True)
            except (OSError, ValueError, RuntimeError, KeyError) as exc:
                raise InvalidRequest(
                    f"The preprocessor model in {folder.name} could not be loaded "
                    f"({str(exc).splitlines()[0][:100]}); delete it in Models and try again."
                ) from exc
            _loaded.clear()  # one preprocessor model in memory at a time
            _loaded[key] = model.eval()
        return _loaded[key]


def _processor(folder: Path) -> Any:
    from transformers import AutoImageProcessor

    try:
        return AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise InvalidRequest(
            f"The preprocessor model in {folder.name} has no usable preprocessor_config.json; "
            "delete it in Models and try again."
        ) from exc


def depth(image: Image.Image, folder: Path | None = None) -> Image.Image:
    """A depth map at the picture's size: near is white, far is black (min-max normalised)."""
    import torch

    folder = folder or model_folder(DEPTH_MODEL)
    model = _load(folder, "DepthAnythingForDepthEstimation")
    rgb = image.convert("RGB")
    x = _processor(folder)(images=rgb, return_tensors="pt").pixel_values
    with torch.inference_mode():
        pred = model(pixel_values=x.to(model.dtype)).predicted_depth.float()
        pred = torch.nn.functional.interpolate(
            pred[:, None], size=(rgb.height, rgb.width), mode="bicubic", align_corners=False
        )[0, 0]
    lo, hi = float(pred.min()), float(pred.max())
    norm = (pred - lo) / (hi - lo) if hi > lo else torch.zeros_like(pred)
    grey = (norm.clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
    return Image.fromarray(grey, "L").convert("RGB")


def detect_people(
    image: Image.Image, folder: Path | None = None, threshold: float = PERSON_THRESHOLD
) -> list[tuple[float, float, float, float]]:
    """Boxes (x, y, w, h in pixels) of the people RT-DETR finds, most confident first."""
    import torch

    folder = folder or model_folder(POSE_DETECTOR)
    model = _load(folder, "RTDetrForObjectDetection")
    labels = model.config.id2label.items()
    person = next((int(i) for i, name in labels if str(name).lower() == "person"), 0)
    rgb = image.convert("RGB")
    processor = _processor(folder)
    x = processor(images=rgb, return_tensors="pt").pixel_values
    with torch.inference_mode():
        out = model(pixel_values=x.to(model.dtype))
    found = processor.post_process_object_detection(
        out, threshold=threshold, target_sizes=[(rgb.height, rgb.width)]
    )[0]
    boxes = []
    order = torch.argsort(found["scores"], descending=True).tolist()
    for i in order:
        if int(found["labels"][i]) != person:
            continue
        x0, y0, x1, y1 = (float(v) for v in found["boxes"][i])
        x0, y0 = max(0.0, x0), max(0.0, y0)
        x1, y1 = min(float(rgb.width), x1), min(float(rgb.height), y1)
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            boxes.append((x0, y0, x1 - x0, y1 - y0))
    return boxes


def keypoints(
    image: Image.Image, boxes: list[tuple[float, float, float, float]], folder: Path | None = None
) -> list[np.ndarray]:
    """For each box, 17 COCO keypoints as rows (x, y, score) in picture pixels."""
    import torch

    if not boxes:
        return []
    folder = folder or model_folder(POSE_MODEL)
    model = _load(folder, "VitPoseForPoseEstimation")
    processor = _processor(folder)
    rgb = image.convert("RGB")
    box_list = [[list(b) for b in boxes]]
    x = processor(rgb, boxes=box_list, return_tensors="pt").pixel_values
    with torch.inference_mode():
        kwargs: dict[str, Any] = {"pixel_values": x.to(model.dtype)}
        if getattr(model.config.backbone_config, "num_experts", 1) > 1:
            kwargs["dataset_index"] = torch.zeros(len(boxes), dtype=torch.long)
        out = model(**kwargs)
    out.heatmaps = out.heatmaps.float()
    people = processor.post_process_pose_estimation(out, boxes=box_list)[0]
    return [
        np.concatenate(
            [p["keypoints"].numpy().reshape(-1, 2), p["scores"].numpy().reshape(-1, 1)], axis=1
        )
        for p in people
    ]


def openpose_points(coco: np.ndarray, threshold: float = KEYPOINT_THRESHOLD) -> list[Any]:
    """17 COCO keypoints -> OpenPose's 18, (x, y) or None where not seen."""
    seen = [(float(x), float(y)) if s >= threshold else None for x, y, s in coco[:17]]
    out: list[Any] = []
    for src in COCO_TO_OPENPOSE:
        if src is None:  # the neck
            left, right = seen[5], seen[6]
            out.append(None if left is None or right is None else _mid(left, right))
        else:
            out.append(seen[src])
    return out


def _mid(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    return (a[0] + b[0]) / 2, (a[1] + b[1]) / 2


def draw_pose(size: tuple[int, int], people: list[list[Any]]) -> Image.Image:
    """OpenPose skeletons (18 points each, pixels) on black, at ``size`` (width, height)."""
    import cv2

    width, height = size
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    for points in people:
        for (a, b), colour in zip(LIMBS, COLOURS, strict=False):
            p, q = points[a - 1], points[b - 1]
            if p is None or q is None:
                continue
            centre = (int((p[0] + q[0]) / 2), int((p[1] + q[1]) / 2))
            length = math.hypot(p[0] - q[0], p[1] - q[1])
            angle = math.degrees(math.atan2(p[1] - q[1], p[0] - q[0]))
            poly = np.asarray(cv2.ellipse2Poly(centre, (int(length / 2), 4), int(angle), 0, 360, 1))
            cv2.fillConvexPoly(canvas, poly, [int(c * 0.6) for c in colour])
        for point, colour in zip(points, COLOURS, strict=False):
            if point is not None:
                cv2.circle(canvas, (int(point[0]), int(point[1])), 4, colour, thickness=-1)
    return Image.fromarray(canvas, "RGB")


def openpose(
    image: Image.Image,
    detector: Path | None = None,
    pose: Path | None = None,
    threshold: float = PERSON_THRESHOLD,
) -> Image.Image:
    """The pose image of every person in the picture; black when nobody is found, as the
    webui's openpose preprocessor gives."""
    boxes = detect_people(image, detector, threshold)
    people = [openpose_points(p) for p in keypoints(image, boxes, pose)]
    return draw_pose(image.size, people)
