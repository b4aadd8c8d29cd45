"""Depth and openpose preprocessors: tiny random Depth Anything, RT-DETR and ViTPose models
saved as their real repos are laid out, downloaded on first use from the local hub stand-in,
run through transformers' own image processors, and the pose drawn as OpenPose draws it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from app.engine import annotators
from app.engine.engine import Engine
from app.engine.preprocess import preprocess
from app.errors import InvalidRequest
from app.request import ControlUnit, GenerationRequest
from tests.hubserver import HubRepo, HubServer, running_hub
from tests.test_controlnet import tiny_controlnet


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        DPTImageProcessor,
        RTDetrConfig,
        RTDetrForObjectDetection,
        RTDetrImageProcessor,
        RTDetrResNetConfig,
        VitPoseBackboneConfig,
        VitPoseConfig,
        VitPoseForPoseEstimation,
        VitPoseImageProcessor,
    )

    root = tmp_path_factory.mktemp("annotators")
    torch.manual_seed(0)
    backbone = Dinov2Config(
        hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
        image_size=56, patch_size=14, reshape_hidden_states=False,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )  # fmt: skip
    depth = DepthAnythingForDepthEstimation(
        DepthAnythingConfig(
            backbone_config=backbone,
            fusion_hidden_size=16,
            neck_hidden_sizes=[8, 16, 32, 32],
            reassemble_hidden_size=32,
            head_hidden_size=8,
        )  # fmt: skip
    )
    depth.save_pretrained(root / "depth")
    DPTImageProcessor(
        size={"height": 56, "width": 56}, keep_aspect_ratio=True, ensure_multiple_of=14,
        resample=3, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(root / "depth")  # fmt: skip
    resnet = RTDetrResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16, 16, 16], depths=[1, 1, 1, 1], layer_type="basic",
        out_features=["stage2", "stage3", "stage4"],
    )  # fmt: skip
    detector = RTDetrForObjectDetection(
        RTDetrConfig(
            backbone_config=resnet,
            encoder_hidden_dim=16,
            encoder_in_channels=[16, 16, 16],
            d_model=16,
            encoder_ffn_dim=32,
            decoder_ffn_dim=32,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            decoder_layers=1,
            encoder_layers=1,
            num_queries=10,
            num_labels=2,
            id2label={0: "person", 1: "bicycle"},
            label2id={"person": 0, "bicycle": 1},
            decoder_in_channels=[16, 16, 16],
            decoder_n_points=2,
            num_denoising=0,
            hidden_expansion=0.5,
            anchor_image_size=None,
        )  # fmt: skip
    )
    detector.save_pretrained(root / "detector")
    RTDetrImageProcessor(size={"height": 64, "width": 64}).save_pretrained(root / "detector")
    pose_backbone = VitPoseBackboneConfig(
        image_size=[64, 48], patch_size=[16, 16], hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, out_indices=[2],
    )  # fmt: skip
    pose = VitPoseForPoseEstimation(
        VitPoseConfig(backbone_config=pose_backbone, use_simple_decoder=True, num_labels=17)
    )
    pose.save_pretrained(root / "pose")
    VitPoseImageProcessor(size={"height": 64, "width": 48}).save_pretrained(root / "pose")
    return {"depth": root / "depth", "detector": root / "detector", "pose": root / "pose"}


def photo() -> Image.Image:
    im = Image.new("RGB", (80, 64), (40, 90, 160))
    d = ImageDraw.Draw(im)
    d.ellipse((20, 10, 60, 54), fill=(230, 200, 170))
    d.rectangle((0, 50, 79, 63), fill=(60, 140, 60))
    return im


def test_depth_map_is_a_grey_picture_at_the_photo_size(models: dict[str, Path]) -> None:
    out = annotators.depth(photo(), models["depth"])
    arr = np.asarray(out)
    assert out.size == (80, 64) and out.mode == "RGB"
    assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()
    assert arr.min() == 0 and arr.max() == 255  # min-max normalised, as the webui's
    other = annotators.depth(photo().transpose(Image.Transpose.FLIP_TOP_BOTTOM), models["depth"])
    assert not np.array_equal(np.asarray(other), arr)  # the picture, not a constant, decides


def test_depth_follows_transformers_own_processing(models: dict[str, Path]) -> None:
    """The model sees exactly what transformers' DPT processor makes of the picture."""
    from transformers import DepthAnythingForDepthEstimation, DPTImageProcessor

    model = DepthAnythingForDepthEstimation.from_pretrained(models["depth"]).eval()
    x = DPTImageProcessor.from_pretrained(models["depth"])(photo(), return_tensors="pt")
    with torch.no_grad():
        pred = model(**x).predicted_depth
    pred = torch.nn.functional.interpolate(pred[:, None], (64, 80), mode="bicubic")[0, 0]
    want = ((pred - pred.min()) / (pred.max() - pred.min()) * 255).round().numpy()
    got = np.asarray(annotators.depth(photo(), models["depth"]))[..., 0].astype(np.float64)
    assert np.abs(got - want).max() <= 1


def test_pose_is_drawn_as_openpose_draws_it() -> None:
    points: list = [None] * 18
    points[1], points[2] = (50.0, 30.0), (30.0, 30.0)  # neck and right shoulder
    out = np.asarray(annotators.draw_pose((100, 60), [points]))
    assert tuple(out[30, 40]) == (153, 0, 0)  # limb neck-right shoulder: red at 60 %
    assert tuple(out[30, 30]) == (255, 170, 0)  # the shoulder's joint in its own colour
    assert tuple(out[30, 50]) == (255, 85, 0)  # the neck's
    assert out[:20].max() == 0 and out[45:].max() == 0  # nothing else is drawn
    assert np.asarray(annotators.draw_pose((10, 10), [[None] * 18])).max() == 0


def test_coco_keypoints_become_openposes_eighteen() -> None:
    coco = np.zeros((17, 3), dtype=np.float32)
    coco[:, 0] = np.arange(17) * 10
    coco[:, 2] = 1.0
    coco[3, 2] = 0.1  # left ear not seen
    pts = annotators.openpose_points(coco)
    assert len(pts) == 18
    assert pts[0] == (0.0, 0.0)  # nose
    assert pts[1] == (55.0, 0.0)  # neck: between the shoulders (coco 5 and 6)
    assert pts[2] == (60.0, 0.0) and pts[5] == (50.0, 0.0)  # right, left shoulder
    assert pts[17] is None  # OpenPose's left ear is coco 3


def test_openpose_finds_people_and_draws_them(models: dict[str, Path]) -> None:
    pic = photo()
    boxes = annotators.detect_people(pic, models["detector"], threshold=0.0)
    assert boxes and all(0 <= x and 0 <= y and x + w <= 80 and y + h <= 64 for x, y, w, h in boxes)
    people = annotators.keypoints(pic, boxes[:2], models["pose"])
    assert len(people) == 2 and people[0].shape == (17, 3)
    out = annotators.openpose(pic, models["detector"], models["pose"], threshold=0.0)
    assert out.size == pic.size
    nobody = annotators.openpose(pic, models["detector"], models["pose"], threshold=1.01)
    assert np.asarray(nobody).max() == 0  # nobody found: black, as the webui gives


def test_only_safetensors_are_loaded(models: dict[str, Path], tmp_path: Path) -> None:
    from transformers import DepthAnythingForDepthEstimation

    model = DepthAnythingForDepthEstimation.from_pretrained(models["depth"])
    model.save_pretrained(tmp_path, safe_serialization=False)
    (tmp_path / "model.safetensors").unlink(missing_ok=True)
    with pytest.raises(InvalidRequest, match="could not be loaded"):
        annotators.depth(photo(), tmp_path)


def test_first_use_downloads_the_model_then_works_offline(
    models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.models import catalog

    repo = catalog.get(annotators.DEPTH_MODEL).repo_id
    with running_hub(monkeypatch, tmp_path / "hf") as hub:
        hub.add_repo(HubRepo.from_folder(repo, models["depth"]))
        first = preprocess("depth", photo(), (80, 64))
        assert any("model.safetensors" in r.path for r in _gets(hub))
        before = len(_gets(hub))
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        again = preprocess("depth", photo(), (80, 64))
        assert len(_gets(hub)) == before  # the second use reads the cache only
    assert np.array_equal(np.asarray(first), np.asarray(again))


def _gets(hub: HubServer) -> list:
    return [r for r in hub.requests if r.method == "GET" and "/resolve/" in r.path]


def test_offline_and_not_downloaded_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(InvalidRequest, match="downloaded once on first use") as err:
        preprocess("openpose", photo(), (80, 64))
    assert "\n" not in str(err.value) and "Models" in str(err.value)


def test_a_depth_unit_runs_through_the_engine(
    tiny_engine: Engine,
    tiny_components: dict,
    models: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(annotators, "model_folder", lambda _id, cancel=None: models["depth"])
    tiny_engine.add_controlnet("cn-depth", tiny_controlnet(tiny_components, 3))
    unit = ControlUnit("cn-depth", photo(), preprocessor="depth")
    req = GenerationRequest(
        "a face", controlnets=(unit,), sampler="Euler a", steps=2, seed=5, width=64, height=64
    )
    result = tiny_engine.generate(req)
    assert result.images[0].size == (64, 64)
    plain = tiny_engine.generate(req.replace(controlnets=()))
    assert not np.array_equal(np.asarray(result.images[0]), np.asarray(plain.images[0]))
