"""samal: batched prompts equal the reference predictors (tiny random SAM and SAM2), post-processing
and conversions on drawn masks, boxes -> masks for a task, checkpoint errors, CVAT function."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from dl_utils.cv_utils import Mask
from dl_utils.samal import (
    MaskFilter,
    Prompt,
    SamAnnotator,
    Segmenter,
    boxes_to_masks,
    load_sam,
    load_sam2,
    mask_to_polygon,
    mask_to_rle,
    mask_to_row,
    masks_to_table,
    postprocess_masks,
)

torch = pytest.importorskip("torch")
sa = pytest.importorskip("segment_anything")


# ---------------------------------------------------------------------------------------------
# tiny random models


def tiny_sam(img_size: int = 256, seed: int = 0):
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    torch.manual_seed(seed)
    dim, patch = 32, 16
    emb = img_size // patch
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=2,
            embed_dim=dim,
            img_size=img_size,
            mlp_ratio=2,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=2,
            patch_size=patch,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=[1],
            window_size=4,
            out_chans=dim,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=dim,
            image_embedding_size=(emb, emb),
            input_image_size=(img_size, img_size),
            mask_in_chans=4,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=1, embedding_dim=dim, mlp_dim=64, num_heads=2),
            transformer_dim=dim,
            iou_head_depth=2,
            iou_head_hidden_dim=32,
        ),
    )
    return sam.eval()


@pytest.fixture(scope="module")
def sam_model():
    return tiny_sam()


@pytest.fixture(scope="module")
def sam2_model():
    pytest.importorskip("sam2")
    from dl_utils.samal import build_sam2_model

    torch.manual_seed(0)
    return build_sam2_model(
        "configs/sam2.1/sam2.1_hiera_t.yaml", None, device="cpu", overrides=["++model.image_size=256"]
    )


def scene(h: int = 120, w: int = 160, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = (rng.random((h, w, 3)) * 60).astype(np.uint8)
    img[20:70, 30:90] = (200, 60, 40)
    img[60:110, 100:150] = (40, 180, 220)
    return img


def random_boxes(n: int, h: int, w: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x1 = rng.uniform(0, w - 20, n)
    y1 = rng.uniform(0, h - 20, n)
    x2 = np.minimum(x1 + rng.uniform(10, 80, n), w)
    y2 = np.minimum(y1 + rng.uniform(10, 80, n), h)
    return np.stack([x1, y1, x2, y2], 1)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def reference_one_by_one(predictor, image, prompts, multimask):
    predictor.set_image(image)
    out = []
    for p in prompts:
        masks, scores, low = predictor.predict(
            point_coords=p.points,
            point_labels=p.point_labels,
            box=p.box,
            mask_input=None if p.mask is None else p.mask[None],
            multimask_output=multimask,
        )
        k = int(np.argmax(scores))
        out.append((np.asarray(masks[k]) > 0, float(scores[k]), np.asarray(low[k])))
    return out


def mixed_prompts(h: int, w: int, low_hw: int, n_boxes: int = 32) -> list[Prompt]:
    rng = np.random.default_rng(3)
    prompts = [Prompt(box=b, label="car") for b in random_boxes(n_boxes, h, w)]
    for _ in range(4):
        pts = rng.uniform([0, 0], [w, h], (3, 2))
        prompts.append(Prompt(points=pts, point_labels=[1, 0, 1], label="person"))
    prompts.append(Prompt(points=[(50, 40)], box=(30, 20, 90, 70), label="car"))
    prompts.append(Prompt(box=(100, 60, 150, 110), mask=rng.normal(size=(low_hw, low_hw)), label="car"))
    return prompts


# ---------------------------------------------------------------------------------------------
# batched == reference one prompt at a time


@pytest.mark.parametrize("multimask", [False, True])
def test_sam_batched_prompts_equal_sam_predictor(sam_model, multimask):
    img = scene()
    prompts = mixed_prompts(*img.shape[:2], low_hw=64)
    seg = Segmenter.from_model(sam_model, prompt_batch=16)
    res = seg.predict(img, prompts, multimask=multimask)
    ref = reference_one_by_one(sa.SamPredictor(sam_model), img, prompts, multimask)
    assert res.masks.shape == (len(prompts), *img.shape[:2])
    for i, (m, s, low) in enumerate(ref):
        assert iou(res.masks[i], m) >= 0.99, i
        assert abs(res.scores[i] - s) <= 1e-4, i
        np.testing.assert_allclose(res.logits[i], low, atol=1e-3)
    assert res.masks.any()  # the random model still predicts something to compare


@pytest.mark.parametrize("multimask", [False, True])
def test_sam2_batched_prompts_equal_sam2_image_predictor(sam2_model, multimask):
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    img = scene()
    prompts = mixed_prompts(*img.shape[:2], low_hw=64, n_boxes=6)
    seg = Segmenter.from_model(sam2_model)
    assert seg.kind == "sam2"
    res = seg.predict(img, prompts, multimask=multimask)
    reference = SAM2ImagePredictor(sam2_model)
    reference._bb_feat_sizes = [(64, 64), (32, 32), (16, 16)]  # its defaults fit 1024-px models only
    ref = reference_one_by_one(reference, img, prompts, multimask)
    for i, (m, s, _low) in enumerate(ref):
        assert iou(res.masks[i], m) >= 0.99, i
        assert abs(res.scores[i] - s) <= 1e-4, i


def test_generate_and_exclusive_auto_annotation(sam_model):
    img = scene()
    seg = Segmenter.from_model(sam_model)
    from dl_utils.samal import AutoMaskOptions

    opts = AutoMaskOptions(
        points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=0.9
    )
    masks, scores = seg.generate(img, **opts.kwargs())
    ref = sa.SamAutomaticMaskGenerator(sam_model, **opts.kwargs()).generate(img)
    assert len(masks) == len(ref) > 0
    ann = SamAnnotator(seg, label="thing", output="mask", auto=opts, mask_filter=MaskFilter(exclusive=True))
    table = ann.annotate([img, img])
    assert set(table["frame"]) == {0, 1} and (table["source"] == "auto").all()
    decoded = np.stack(
        [Mask.from_cvat_rle(p, *img.shape[:2]).data for p in table[table["frame"] == 0]["points"]]
    )
    assert decoded.sum(axis=0).max() == 1  # every pixel in at most one mask


# ---------------------------------------------------------------------------------------------
# post-processing and conversion on drawn masks


def drawn_masks() -> np.ndarray:
    m = np.zeros((6, 40, 40), bool)
    m[0, 2:12, 2:12] = True  # 100 px
    m[1, 2:12, 2:13] = True  # duplicate of 0 (IoU 0.91)
    m[2, 20:38, 20:38] = True  # ring with a 4x4 hole
    m[2, 27:31, 27:31] = False
    m[3, 0:2, 30:32] = True  # tiny: 4 px
    m[4, 5:25, 15:35] = True  # big square + a 2-px island
    m[4, 38:39, 0:2] = True
    m[5, 10:30, 10:11] = True  # a 1-px-wide line: opening removes it
    m[5, 14:20, 14:20] = True
    return m


def test_postprocess_each_step():
    m = drawn_masks()
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    _, _, idx = postprocess_masks(m, s, MaskFilter(min_area=10))
    assert 3 not in idx.tolist() and len(idx) == 5
    _, _, idx = postprocess_masks(m, s, MaskFilter(max_area=150))
    assert idx.tolist() == [0, 1, 3, 5]
    _, _, idx = postprocess_masks(m, s, MaskFilter(dedup_iou=0.85))
    assert idx.tolist() == [0, 2, 3, 4, 5]
    out, _, _ = postprocess_masks(m, s, MaskFilter(fill_holes=True))
    assert out[2].sum() == 18 * 18
    out, _, _ = postprocess_masks(m, s, MaskFilter(fill_holes=True, max_hole_area=10))
    assert out[2].sum() == 18 * 18 - 16  # the 16-px hole is bigger than allowed
    out, _, idx = postprocess_masks(m, s, MaskFilter(min_island_area=5))
    assert 3 not in idx.tolist()  # all islands: nothing left
    assert dict(zip(idx.tolist(), out, strict=True))[4].sum() == 400
    out, _, idx = postprocess_masks(m, s, MaskFilter(open_radius=1))
    opened = dict(zip(idx.tolist(), out, strict=True))
    assert 3 not in opened and opened[5][10:14, 10].sum() == 0 and opened[5][15:19, 15:19].all()
    out, _, idx = postprocess_masks(m, s, MaskFilter(close_radius=2))
    assert dict(zip(idx.tolist(), out, strict=True))[2][27:31, 27:31].all()


def test_exclusive_mode_gives_pixels_to_best_score():
    m = drawn_masks()
    s = np.array([0.1, 0.8, 0.7, 0.6, 0.5, 0.4])
    out, sc, idx = postprocess_masks(m, s, MaskFilter(exclusive=True))
    assert out.sum(axis=0).max() == 1
    assert 0 not in idx.tolist()  # fully covered by the better mask 1
    k4, k2 = idx.tolist().index(4), idx.tolist().index(2)
    assert out[k4].sum() == 400 - np.logical_and(m[4], m[2]).sum() + 2
    assert out[k2].sum() == m[2].sum()


def test_conversions_round_trip():
    m = np.zeros((50, 60), bool)
    yy, xx = np.mgrid[:50, :60]
    m[(yy - 25) ** 2 + (xx - 30) ** 2 <= 15**2] = True
    rle = mask_to_rle(m)
    assert Mask.from_cvat_rle(rle, 50, 60) == m
    fine, coarse = mask_to_polygon(m, tolerance=0), mask_to_polygon(m, tolerance=2.0)
    assert coarse.size < fine.size
    for poly in (fine, coarse):
        assert Mask(m).iou(Mask.from_polygons(poly, 50, 60)) >= 0.9
    assert mask_to_row(np.zeros((4, 4), bool), 0, "x") is None
    t = masks_to_table(
        np.stack([m, np.zeros_like(m), m]), [0, 1, 2], ["a", "b", "c"], [0.5, 0.4, 0.3], "rectangle"
    )
    assert t["label"].tolist() == ["a", "c"]
    assert t["points"].iloc[0].tolist() == [15.0, 10.0, 46.0, 41.0]
    t = masks_to_table(m, 3, "a", 0.5, "polygon", track_ids=[7])
    assert t["track_id"].iloc[0] == 7 and t["type"].iloc[0] == "polygon"
    assert len(masks_to_table(np.zeros((0, 5, 5), bool), 0, "a")) == 0


# ---------------------------------------------------------------------------------------------
# boxes -> masks for a task, CVAT function


def test_boxes_to_masks_refines_a_task(sam_model, tmp_path):
    from dl_utils import cvat

    frames = [scene(seed=0), scene(seed=1)]
    h, w = frames[0].shape[:2]
    rows = [
        {
            "frame": 0,
            "label": "car",
            "type": "rectangle",
            "points": [30, 20, 90, 70],
            "attributes": {"color": "red"},
        },
        {"frame": 0, "label": "car", "type": "rectangle", "points": [100, 60, 150, 110]},
        {"frame": 1, "label": "person", "type": "rectangle", "points": [10, 10, 60, 60]},
        {"frame": 1, "label": "person", "type": "points", "points": [5, 5]},
    ]
    task = cvat.Task(
        "t",
        labels=[
            {"name": "car", "type": "rectangle", "attributes": [{"name": "color", "input_type": "text"}]},
            {"name": "person"},
        ],
        annotations=rows,
        size=2,
        width=w,
        height=h,
    )
    seg = Segmenter.from_model(sam_model)
    out = boxes_to_masks(seg, task, frames, output="polygon")
    assert sorted(out.annotations["type"].tolist()) == ["points", "polygon", "polygon", "polygon"]
    polys = out.annotations[out.annotations["type"] == "polygon"]
    assert (polys["source"] == "auto").all()
    assert polys[polys["frame"] == 0]["attributes"].iloc[0] == {"color": "red"}
    ref = seg.predict(frames[0], [Prompt(box=(30, 20, 90, 70)), Prompt(box=(100, 60, 150, 110))])
    np.testing.assert_allclose(sorted(polys[polys["frame"] == 0]["score"]), sorted(ref.scores), atol=1e-6)
    assert out.label("car").type == "any"
    cvat.save(out, tmp_path / "refined.xml")  # a valid CVAT task
    kept = boxes_to_masks(seg, task, frames, output="mask", keep_boxes=True, labels=["car"])
    assert (kept.annotations["type"] == "mask").sum() == 2 and (
        kept.annotations["type"] == "rectangle"
    ).sum() == 3
    with pytest.raises(ValueError, match="no label"):
        boxes_to_masks(seg, task, frames, labels=["dog"])


def test_cvat_detection_function(sam_model):
    import PIL.Image

    from dl_utils.annotators import Annotator, to_cvat_detection_function

    ann = SamAnnotator(
        Segmenter.from_model(sam_model),
        output="polygon",
        auto=__import__("dl_utils.samal", fromlist=["AutoMaskOptions"]).AutoMaskOptions(
            points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0
        ),
    )
    assert isinstance(ann, Annotator)
    fn = to_cvat_detection_function(ann)

    class Ctx:
        frame_name = "f.png"
        conf_threshold = None
        conv_mask_to_poly = False

    shapes = fn.detect(Ctx(), PIL.Image.fromarray(scene()))
    assert shapes and {s.type.value for s in shapes} == {"polygon"}
    assert fn.spec.labels[0].name == "object"


# ---------------------------------------------------------------------------------------------
# bad input


def test_bad_prompts_and_frames(sam_model):
    seg = Segmenter.from_model(sam_model)
    img = scene()
    with pytest.raises(
        ValueError, match=r"frame 5, prompt 1 \('car', object 9\): box .* outside the 160x120"
    ):
        seg.predict(
            img,
            [Prompt(box=(0, 0, 10, 10)), Prompt(box=(150, 0, 170, 10), label="car", object_id=9)],
            frame=5,
        )
    with pytest.raises(ValueError, match="point .* outside"):
        seg.predict(img, [Prompt(points=[(10, 500)])])
    ann = SamAnnotator(seg, labels=["car"])
    with pytest.raises(ValueError, match=r"frame 0, prompt 0: unknown label 'dog'"):
        ann.annotate([img], {0: [Prompt(box=(0, 0, 10, 10), label="dog")]})
    with pytest.raises(ValueError, match="no frames"):
        ann.annotate([])
    with pytest.raises(
        ValueError, match=r"prompt 0 \('object'\): mask logits are 10x10, the model takes 64x64"
    ):
        seg.predict(img, [Prompt(mask=np.zeros((10, 10)))])
    with pytest.raises(ValueError, match="no points, box or mask"):
        Prompt()
    # no detections: an empty table, not an error
    empty = SamAnnotator(seg, mask_filter=MaskFilter(min_area=10**9)).annotate(
        [img], {0: [Prompt(box=(0, 0, 50, 50), label="object")]}
    )
    assert len(empty) == 0


def test_checkpoint_errors(tmp_path, sam_model):
    with pytest.raises(FileNotFoundError, match=r"SAM vit_b checkpoint not found: .*sam_vit_b_01ec64.pth"):
        load_sam(tmp_path / "sam_vit_b_01ec64.pth", model_type="vit_b")
    bad = tmp_path / "garbage.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"garbage.pth is not a SAM checkpoint"):
        load_sam(bad)
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(2)}, other)
    with pytest.raises(ValueError, match=r"other.pth is not a SAM vit_h checkpoint"):
        load_sam(other, model_type="vit_h")
    tiny = tmp_path / "tiny.pth"
    torch.save(sam_model.state_dict(), tiny)
    with pytest.raises(ValueError, match="width 32 matches none"):
        load_sam(tiny)
    pytest.importorskip("sam2")
    with pytest.raises(FileNotFoundError, match=r"SAM2 .*checkpoint not found: .*sam2.1_hiera_tiny.pt"):
        load_sam2(tmp_path / "sam2.1_hiera_tiny.pt")
    with pytest.raises(
        ValueError, match=r"other.pth is not a SAM2 checkpoint for configs/sam2.1/sam2.1_hiera_t"
    ):
        load_sam2(other, "configs/sam2.1/sam2.1_hiera_t.yaml")


def test_embedding_cache_follows_content_not_identity(sam_model):
    """Video readers reuse one buffer: a changed frame in the same array must be re-embedded."""
    seg = Segmenter.from_model(sam_model)
    buf = scene(seed=0)
    prompts = [Prompt(box=(30, 20, 90, 70))]
    seg.predict(buf, prompts)
    buf[:] = scene(seed=5)
    reused = seg.predict(buf, prompts)
    fresh = Segmenter.from_model(sam_model).predict(scene(seed=5), prompts)
    np.testing.assert_array_equal(reused.masks, fresh.masks)
    np.testing.assert_allclose(reused.scores, fresh.scores, atol=1e-6)


def test_boxes_to_masks_reads_folder_images_by_frame_name(sam_model, tmp_path):
    import cv2

    from dl_utils import cvat

    imgs = {"a.png": scene(seed=0), "b.png": scene(seed=7)}
    for name, im in imgs.items():
        cv2.imwrite(str(tmp_path / name), cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
    box = [30, 20, 90, 70]
    task = cvat.Task(
        "t",
        labels=[{"name": "car"}],
        annotations=[{"frame": 0, "label": "car", "type": "rectangle", "points": box}],
        frames=[
            {"frame": 0, "name": "b.png", "width": 160, "height": 120},
            {"frame": 1, "name": "a.png", "width": 160, "height": 120},
        ],
    )
    seg = Segmenter.from_model(sam_model)
    out = boxes_to_masks(seg, task, tmp_path, output="mask")
    want = seg.predict(imgs["b.png"], [Prompt(box=box)])  # task frame 0 is b.png, the folder's 2nd image
    got = Mask.from_cvat_rle(out.annotations["points"].iloc[0], 120, 160)
    assert got == want.masks[0]
    task.frames.loc[0, "name"] = "zz.png"
    with pytest.raises(ValueError, match=r"frame 0: image 'zz.png' not found"):
        boxes_to_masks(seg, task, tmp_path)


def test_prompt_batch_default_follows_the_device_and_bad_values_are_refused(sam_model) -> None:
    from dl_utils.samal.predictor import CPU_PROMPT_BATCH

    assert Segmenter.from_model(sam_model).prompt_batch == CPU_PROMPT_BATCH == 4  # the model is on the CPU
    assert Segmenter.from_model(sam_model, prompt_batch=16).prompt_batch == 16
    for bad in (0, -2, True, 2.5):
        with pytest.raises(ValueError, match="prompt_batch must be an integer >= 1"):
            Segmenter.from_model(sam_model, prompt_batch=bad)
