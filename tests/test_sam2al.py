"""sam2al: SAM2 video propagation equal to SAM2's own per-object propagate_in_video, bounded memory.

SAM2 is built from its tiny config with random weights at a small input size (nothing is
downloaded); correctness is equality with SAM2's reference predictor on the same weights.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sam2")
torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from dl_utils.annotators import Annotator  # noqa: E402
from dl_utils.cv_utils import Mask  # noqa: E402
from dl_utils.cvat import Task, normalize_annotations  # noqa: E402
from dl_utils.cvat.tracks import interpolate_tracks  # noqa: E402
from dl_utils.sam2al import (  # noqa: E402
    Sam2Prompt,
    Sam2VideoAnnotator,
    load_sam2_video_predictor,
    mask_to_track_polygon,
    masks_to_tracks,
    prompts_from_annotations,
    sam2_config_for,
)
from dl_utils.video_utils import FrameSource  # noqa: E402

CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"
SIZE = 64  # model input size: small so the tests run in seconds on 2 CPU cores
# a short memory (3 mask memories, 4 object pointers) so that 10-frame videos already evict state
SHORT_MEMORY = ("++model.num_maskmem=3", "++model.max_obj_ptrs_in_encoder=4")
H, W = 48, 64


def _frame(i: int) -> np.ndarray:
    import cv2

    img = np.full((H, W, 3), 40, np.uint8)
    cv2.circle(img, (14 + i, 24), 8, (250, 200, 10), -1)
    cv2.rectangle(img, (40, 5 + i // 2), (56, 21 + i // 2), (10, 200, 250), -1)
    return img


@pytest.fixture(scope="module")
def predictor():
    warnings.filterwarnings("ignore", message=".*cannot import name '_C'.*")
    torch.manual_seed(1)  # a seed whose random masks cover part of the frame, not all or nothing
    return load_sam2_video_predictor(
        None, config=CONFIG, device="cpu", image_size=SIZE, overrides=SHORT_MEMORY
    )


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """A JPEG folder (the input SAM2's own init_state reads)."""
    d = tmp_path_factory.mktemp("jpg")
    for i in range(10):
        Image.fromarray(_frame(i)).save(d / f"{i:05d}.jpg", quality=95)
    return d


def _reference(predictor, folder: Path, prompts: list[Sam2Prompt], obj: int) -> dict[int, np.ndarray]:
    """SAM2's own predictor: the whole video in one state, one object, forward then backward."""
    state = predictor.init_state(str(folder))
    for p in [p for p in prompts if p.obj_id == obj]:
        if p.mask is not None:
            predictor.add_new_mask(state, p.frame, obj, p.mask)
            continue
        predictor.add_new_points_or_box(
            state,
            p.frame,
            obj,
            points=np.asarray(p.points, np.float32) if p.points else None,
            labels=np.asarray(p.point_labels, np.int32) if p.points else None,
            box=np.asarray(p.box, np.float32) if p.box is not None else None,
        )
    out = {}
    for reverse in (False, True):
        for f, _ids, masks in predictor.propagate_in_video(state, reverse=reverse):
            out[f] = (masks[0, 0] > 0).numpy()
    return out


def _ours(ann: Sam2VideoAnnotator, frames, prompts) -> dict[int, dict[int, np.ndarray]]:
    got: dict[int, dict[int, np.ndarray]] = {}
    for f, ids, masks, _scores in ann.propagate(frames, prompts):
        assert not torch.is_inference_mode_enabled()  # torch's modes do not leak into the caller
        for k, oid in enumerate(ids):
            assert f not in got.setdefault(oid, {}), f"object {oid} yielded twice on frame {f}"
            got[oid][f] = masks[k]
    return got


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    u = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / u) if u else 1.0


PROMPTS = [
    Sam2Prompt(0, 3, "ball", points=[(15, 24)]),
    Sam2Prompt(1, 3, "box", box=(40, 6, 57, 23)),
    Sam2Prompt(2, 6, "ball", points=[(20, 24), (45, 14)], point_labels=[1, 0]),
    Sam2Prompt(1, 8, "box", points=[(48, 16)]),
]


def test_all_objects_at_once_equal_sam2_per_object(predictor, video) -> None:
    """Unbatched: bit-for-bit SAM2's per-object propagate_in_video, one encoder pass per frame."""
    refs = {o: _reference(predictor, video, PROMPTS, o) for o in (0, 1, 2)}
    ann = Sam2VideoAnnotator(predictor, batch_objects=False, cache_frames=4)
    got = _ours(ann, FrameSource(video), PROMPTS)  # frames decoded by video_utils, 4 at a time
    for o, ref in refs.items():
        assert sorted(got[o]) == sorted(ref) == list(range(10))
        for f in ref:
            assert np.array_equal(got[o][f], ref[f]), f"object {o}, frame {f}"
    masks = np.stack([ref[f] for ref in refs.values() for f in ref])
    assert 0.05 < masks.mean() < 0.95  # random weights still give non-trivial masks
    st = ann.last_stats
    # one image-encoder pass per frame and direction for all objects: 7 forward (3..9) + 6 backward
    # (5..0), plus the 3 prompt frames when prompted and when their memory is encoded
    assert st.image_encoder_calls <= 13 + 2 * 3
    assert st.max_images_cached <= 4


def test_batched_objects_equal_reference(predictor, video) -> None:
    prompts = [PROMPTS[0], PROMPTS[1], Sam2Prompt(2, 3, "ball", points=[(20, 24)])]
    refs = {o: _reference(predictor, video, prompts, o) for o in (0, 1, 2)}
    frames = [np.asarray(Image.open(video / f"{i:05d}.jpg").convert("RGB")) for i in range(10)]
    ann = Sam2VideoAnnotator(predictor, batch_objects=True)
    got = _ours(ann, frames, prompts)
    assert ann.last_stats.groups == 1  # the three objects ran as one batch
    for o, ref in refs.items():
        for f in ref:
            assert _iou(got[o][f], ref[f]) >= 0.98, f"object {o}, frame {f}"


def test_first_self_attention_shared_by_objects_of_a_frame(predictor, video, monkeypatch) -> None:
    """Objects of one batch share the first memory-attention self-attention (same frame input):
    the masks equal those computed once per object, and SAM2's module is left as it was."""
    import dl_utils.sam2al as s2

    prompts = [PROMPTS[0], PROMPTS[1], Sam2Prompt(2, 3, "ball", points=[(20, 24)])]
    frames = [np.asarray(Image.open(video / f"{i:05d}.jpg").convert("RGB")) for i in range(10)]
    layer = predictor.memory_attention.layers[0]
    shared_calls: list[int] = []
    own = type(layer)._forward_sa

    def spy(self, tgt, query_pos):  # the batch sizes the first layer's self-attention really runs on
        if self is layer:
            shared_calls.append(int(tgt.shape[0]))
        return own(self, tgt, query_pos)

    monkeypatch.setattr(type(layer), "_forward_sa", spy)
    got = _ours(Sam2VideoAnnotator(predictor, batch_objects=True), frames, prompts)
    assert "_forward_sa" not in vars(layer)  # the instance override is gone afterwards
    assert shared_calls and set(shared_calls) == {1}  # once per frame, not once per object
    monkeypatch.setattr(s2, "_shared_first_self_attention", lambda *_a, **_k: contextlib.nullcontext())
    plain = _ours(Sam2VideoAnnotator(predictor, batch_objects=True), frames, prompts)
    for o in plain:
        for f in plain[o]:
            assert _iou(got[o][f], plain[o][f]) >= 0.999, f"object {o}, frame {f}"


def test_encoder_batches_equal_one_frame_encoding(predictor, video) -> None:
    """encode_batch: frames encoded a few at a time ahead of the propagation, same masks."""
    prompts = [
        Sam2Prompt(0, 4, "ball", points=[(18, 24)]),
        Sam2Prompt(1, 4, "box", box=(40, 7, 57, 24)),
        Sam2Prompt(2, 6, "ball", points=[(20, 24)]),  # another group: its own cond frame
    ]
    frames = FrameSource(video)
    one = Sam2VideoAnnotator(predictor, encode_batch=1, cache_frames=4)
    ref = _ours(one, frames, prompts)
    s1 = one.last_stats
    assert s1.groups == 2 and s1.image_encoder_calls == s1.frames_encoded
    for eb in (3, 8):
        ann = Sam2VideoAnnotator(predictor, encode_batch=eb, cache_frames=4)
        got = _ours(ann, frames, prompts)
        assert {o: sorted(m) for o, m in got.items()} == {o: list(range(10)) for o in (0, 1, 2)}
        for o in ref:
            for f in ref[o]:
                assert _iou(got[o][f], ref[o][f]) >= 0.99, f"encode_batch={eb}: object {o}, frame {f}"
        st = ann.last_stats
        # the same frames are encoded (each once per direction: forward 5..9, backward 5..0, plus
        # the prompt frames), in fewer encoder calls; features of at most a batch (+1) are held
        assert st.frames_encoded == s1.frames_encoded
        assert st.image_encoder_calls < s1.image_encoder_calls
        assert st.max_features_held <= eb + 1 and st.max_images_cached <= 4
    assert s1.max_features_held <= 2


def test_encode_batch_default_and_bad_values(predictor) -> None:
    assert Sam2VideoAnnotator(predictor).encode_batch == 8
    assert Sam2VideoAnnotator(predictor, batch_objects=False).encode_batch == 1
    for bad in (0, -2, 2.5, "4", True):
        with pytest.raises(ValueError, match="encode_batch must be an integer >= 1"):
            Sam2VideoAnnotator(predictor, encode_batch=bad)  # type: ignore[arg-type]


def test_memory_stays_bounded(predictor) -> None:
    """State sizes do not grow with the video: 16 vs 32 frames hold the same at most."""

    def run(n: int):
        frames = [_frame(i % 10) for i in range(n)]
        ann = Sam2VideoAnnotator(predictor, cache_frames=4)
        for _ in ann.propagate(frames, [Sam2Prompt(0, n // 2, "ball", points=[(15, 24)])]):
            pass
        return ann.last_stats

    short, long = run(16), run(32)
    assert long.max_images_cached <= 4 and short.max_images_cached <= 4
    # SAM2's memory window (3 frames back here) + the current frame + the backward pass's seeds
    assert long.max_frame_outputs == short.max_frame_outputs <= 3 + 1 + 3
    assert long.frames_decoded <= 32 + 4  # each frame decoded about once (forward, then backward)


def test_mask_prompt_and_video_file(predictor, tmp_path) -> None:
    from dl_utils.video_utils import write_video

    path = tmp_path / "clip.mp4"
    write_video(path, [_frame(i) for i in range(6)], fps=10)
    mask = np.zeros((H, W), bool)
    mask[16:32, 6:22] = True
    ann = Sam2VideoAnnotator(predictor, output="mask")
    table = ann.annotate(path, [Sam2Prompt(5, 2, "ball", mask=mask)])
    assert set(table["type"]) <= {"mask"} and set(table["group"]) <= {6}
    assert table["frame"].is_monotonic_increasing and table["track_id"].isna().all()


def test_cache_repropagates_changed_objects_only(predictor, video) -> None:
    frames = FrameSource(video)
    ann = Sam2VideoAnnotator(predictor, batch_objects=False, output="rectangle")
    first = ann.annotate(frames, PROMPTS)
    assert ann.last_propagated == [0, 1, 2]
    again = ann.annotate(frames, PROMPTS)
    assert ann.last_propagated == [] and again.equals(first)
    edited = [*PROMPTS[:3], Sam2Prompt(1, 8, "box", points=[(50, 18)])]
    partial = ann.annotate(frames, edited)
    assert ann.last_propagated == [1]
    fresh = Sam2VideoAnnotator(predictor, batch_objects=False, output="rectangle").annotate(frames, edited)
    cols = ["frame", "label", "type", "track_id", "outside"]
    assert partial[cols].equals(fresh[cols])
    assert all(np.array_equal(a, b) for a, b in zip(partial["points"], fresh["points"], strict=True))


def test_disk_cache(predictor, video, tmp_path) -> None:
    ckpt = tmp_path / "sam2.1_hiera_tiny.pt"
    torch.save({"model": predictor.state_dict()}, ckpt)
    loaded = load_sam2_video_predictor(ckpt, device="cpu", image_size=SIZE, overrides=SHORT_MEMORY)
    frames = FrameSource(video)
    a = Sam2VideoAnnotator(loaded, cache_dir=tmp_path / "cache").annotate(frames, PROMPTS[:2])
    b_ann = Sam2VideoAnnotator(loaded, cache_dir=tmp_path / "cache")
    b = b_ann.annotate(frames, PROMPTS[:2])
    assert b_ann.last_propagated == [] and len(list((tmp_path / "cache").glob("*.pkl"))) == 2
    assert a["frame"].tolist() == b["frame"].tolist()
    # the loaded checkpoint is the same model as the in-memory one
    ref = Sam2VideoAnnotator(predictor, batch_objects=False).annotate(frames, PROMPTS[:2])
    c = Sam2VideoAnnotator(loaded, batch_objects=False).annotate(frames, PROMPTS[:2])
    assert all(np.array_equal(x, y) for x, y in zip(ref["points"], c["points"], strict=True))


def test_track_assembly_on_drawn_masks() -> None:
    n = 30
    results = []
    for f in range(n):
        m = np.zeros((2, 60, 80), bool)
        m[0, 10:30, 5 + f : 25 + f] = True  # moves right one pixel per frame
        if f < 20:
            m[1, 40:50, 40:60] = True  # still, leaves at frame 20
        results.append((f, [3, 8], m, [0.9, 0.8]))
    rect = masks_to_tracks(results, {3: "car", 8: "bike"}, n, output="rectangle", tolerance=0.5)
    car = rect[rect["track_id"] == 3]
    assert car["frame"].tolist() == [0, 29]  # linear motion: two keyframes
    bike = rect[rect["track_id"] == 8]
    assert bike["frame"].tolist() == [0, 20] and bike["outside"].tolist() == [False, True]
    shapes = interpolate_tracks(rect, last_frame=n - 1)
    got = shapes[(shapes["track_id"] == 3) & (shapes["frame"] == 17)]["points"].iloc[0]
    assert got.tolist() == [22.0, 10.0, 42.0, 30.0]

    poly = masks_to_tracks(results, {3: "car", 8: "bike"}, n, output="polygon", vertices=16, tolerance=1.0)
    assert set(poly["type"]) == {"polygon"}
    car = poly[(poly["track_id"] == 3) & ~poly["outside"]]
    assert len(car) <= 4  # 30 frames -> a few keyframes
    expanded = interpolate_tracks(poly, last_frame=n - 1)
    for f in (7, 23):
        pts = expanded[(expanded["track_id"] == 3) & (expanded["frame"] == f)]["points"].iloc[0]
        drawn = results[f][2][0]
        assert _iou(Mask.from_polygons([pts.reshape(-1, 2)], 60, 80).data, drawn) > 0.85

    masks = masks_to_tracks(results, {3: "car", 8: "bike"}, n, output="mask")
    assert len(masks) == 30 + 20 and masks["track_id"].isna().all()
    row = masks[(masks["group"] == 4) & (masks["frame"] == 11)].iloc[0]
    assert np.array_equal(Mask.from_cvat_rle(row["points"], 60, 80).data, results[11][2][0])


def test_track_polygon_is_stable() -> None:
    m = np.zeros((40, 40), bool)
    m[5:25, 8:30] = True
    a = mask_to_track_polygon(m, vertices=8)
    b = mask_to_track_polygon(np.roll(m, 3, axis=1), vertices=8)
    assert a.shape == (16,) and np.allclose(b.reshape(-1, 2) - a.reshape(-1, 2), [3, 0])
    assert mask_to_track_polygon(np.zeros((5, 5), bool)) is None


def test_prompts_from_annotations() -> None:
    ann = normalize_annotations(
        [
            {"frame": 2, "label": "car", "type": "rectangle", "points": [1, 2, 9, 8], "track_id": 4},
            {"frame": 5, "label": "car", "type": "rectangle", "points": [3, 2, 11, 8], "track_id": 4},
            {"frame": 1, "label": "dog", "type": "polygon", "points": [2, 2, 10, 2, 10, 10, 2, 10]},
            {"frame": 0, "label": "dog", "type": "points", "points": [4, 4], "track_id": 9},
            {"frame": 0, "label": "dog", "type": "tag", "points": []},
        ]
    )
    prompts = prompts_from_annotations(ann, frame_size=(20, 20))
    assert [(p.obj_id, p.frame, p.kind) for p in prompts] == [
        (4, 2, "box"),
        (9, 0, "points"),
        (10, 1, "mask"),
    ]
    assert prompts[2].mask.sum() > 50
    every = prompts_from_annotations(ann, keyframes="all", frame_size=(20, 20))
    assert [(p.obj_id, p.frame) for p in every][:2] == [(4, 2), (4, 5)]
    with pytest.raises(ValueError, match="object 4 .*unknown label 'car'"):
        prompts_from_annotations(ann, frame_size=(20, 20), labels=["dog"])
    with pytest.raises(ValueError, match="frame_size"):
        prompts_from_annotations(ann)


def test_annotate_task(predictor, video) -> None:
    task = Task(
        "t",
        labels=[{"name": "ball", "type": "any"}, {"name": "box", "type": "any"}],
        annotations=[
            {"frame": 2, "label": "ball", "type": "rectangle", "points": [6, 16, 23, 33], "track_id": 0},
            {"frame": 4, "label": "box", "type": "polygon", "points": [40, 7, 56, 7, 56, 23, 40, 23]},
        ],
        size=10,
        width=W,
        height=H,
    )
    ann = Sam2VideoAnnotator(predictor, output="rectangle")
    assert isinstance(ann, Annotator) and ann.spec.kind == "tracking"
    out = ann.annotate_task(task, FrameSource(video))
    assert ann.last_propagated == [0, 1]  # the track and the standalone polygon (a mask prompt)
    prompts = prompts_from_annotations(task.annotations, frame_size=(H, W))
    direct = Sam2VideoAnnotator(predictor, output="rectangle").annotate(FrameSource(video), prompts)
    assert out.annotations[["frame", "label", "track_id"]].equals(direct[["frame", "label", "track_id"]])
    assert set(out.annotations["type"]) <= {"rectangle"} and out.name == "t"


def test_bad_input(predictor, video, tmp_path) -> None:
    ann = Sam2VideoAnnotator(predictor, labels=["ball", "box"])
    frames = FrameSource(video)
    with pytest.raises(
        ValueError, match=r"object 0 \('ball'\) on frame 1: point \(99, 5\) is outside the 64x48"
    ):
        ann.annotate(frames, [Sam2Prompt(0, 1, "ball", points=[(99, 5)])])
    with pytest.raises(ValueError, match="object 2 .* frame 12: the frame is outside the video"):
        ann.annotate(frames, [Sam2Prompt(2, 12, "ball", box=(1, 1, 5, 5))])
    with pytest.raises(ValueError, match="object 3 on frame 0: unknown label 'cat'"):
        ann.annotate(frames, [Sam2Prompt(3, 0, "cat", box=(1, 1, 5, 5))])
    with pytest.raises(ValueError, match="empty frame list"):
        ann.annotate([], [Sam2Prompt(0, 0, "ball", box=(1, 1, 5, 5))])
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(ValueError, match="broken.mp4"):
        ann.annotate(bad, [Sam2Prompt(0, 0, "ball", box=(1, 1, 5, 5))])
    with pytest.raises(ValueError, match="object 1 on frame 0: the mask prompt is empty"):
        Sam2Prompt(1, 0, "ball", mask=np.zeros((4, 4), bool))
    empty = ann.annotate(frames, [])
    assert len(empty) == 0 and list(empty.columns) == list(normalize_annotations([]).columns)


def test_checkpoint_errors(tmp_path) -> None:
    missing = tmp_path / "sam2.1_hiera_tiny.pt"
    with pytest.raises(FileNotFoundError, match=r"sam2.1_hiera_tiny.pt .*sam2.1_hiera_t.yaml"):
        load_sam2_video_predictor(missing, image_size=SIZE)
    missing.write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"sam2.1_hiera_tiny.pt is not a readable SAM2 checkpoint"):
        load_sam2_video_predictor(missing, image_size=SIZE)
    torch.save({"model": {"foo": torch.zeros(1)}}, missing)
    with pytest.raises(ValueError, match=r"sam2.1_hiera_tiny.pt does not fit SAM2 model .*sam2.1_hiera_t"):
        load_sam2_video_predictor(missing, image_size=SIZE)
    with pytest.raises(ValueError, match="cannot tell which SAM2 model"):
        sam2_config_for("my_model.pt")


def test_doc_examples(tmp_path, monkeypatch) -> None:
    from _doc_examples import run_markdown_examples, run_module_doctests

    monkeypatch.chdir(tmp_path)
    assert run_markdown_examples("sam2al.md") == 2
    assert run_module_doctests("dl_utils.sam2al").failed == 0


def test_cvat_tracking_function_equals_reference(predictor, video) -> None:
    """cvat_sdk's TrackingFunction protocol: one step per image = SAM2's forward propagation."""
    pytest.importorskip("cvat_sdk")
    import cvat_sdk.auto_annotation as cvataa

    from dl_utils.sam2al import Sam2TrackingFunction
    from dl_utils.samal.convert import mask_to_box

    box = Sam2Prompt(0, 0, "ball", box=(6, 16, 23, 33))
    ref = _reference(predictor, video, [box], 0)
    fn = Sam2TrackingFunction(predictor)
    assert fn.spec.supported_shape_types == {"rectangle", "polygon"}
    images = [Image.open(video / f"{i:05d}.jpg") for i in range(10)]
    ctx = None  # the context carries nothing SAM2 needs
    state = fn.init_tracking_state(
        ctx, fn.preprocess_image(ctx, images[0]), cvataa.TrackableShape(type="rectangle", points=box.box)
    )
    for f in range(1, 10):
        got = fn.track(ctx, fn.preprocess_image(ctx, images[f]), state)
        want = mask_to_box(ref[f]) if ref[f].sum() >= 4 else None
        if want is None:
            assert got is None, f"frame {f}"
        else:
            assert got.type == "rectangle" and got.points == want.tolist(), f"frame {f}"
    # bounded: SAM2's memory window, not the whole history
    assert len(state.state["output_dict_per_obj"][0]["non_cond_frame_outputs"]) <= 4
    poly = [8, 16, 22, 16, 22, 32, 8, 32]
    pstate = fn.init_tracking_state(
        ctx, fn.preprocess_image(ctx, images[0]), cvataa.TrackableShape(type="polygon", points=poly)
    )
    out = fn.track(ctx, fn.preprocess_image(ctx, images[1]), pstate)
    assert out is None or (out.type == "polygon" and len(out.points) >= 6)
