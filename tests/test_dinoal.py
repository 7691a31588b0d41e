"""dinoal: batched detection equals groundingdino's predict per image (tiny random GroundingDINO with a
tiny local BERT written here), phrase -> label mapping, NMS, checkpoints by path, refinement, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("groundingdino")
pytest.importorskip("transformers")

from dl_utils.dinoal import (  # noqa: E402
    DinoAnnotator,
    DinoOptions,
    TextPrompts,
    build_groundingdino,
    load_groundingdino,
    parse_classes,
)

WORDS = ["cat", "dog", "person", "car", "red", "truck", "bike", "human", "kitten", "automobile", "a", "big"]

TINY_CONFIG = """
batch_size = 1
modelname = "groundingdino"
backbone = "swin_T_224_1k"
position_embedding = "sine"
pe_temperatureH = 20
pe_temperatureW = 20
return_interm_indices = [1, 2, 3]
backbone_freeze_keywords = None
enc_layers = 1
dec_layers = 1
pre_norm = False
dim_feedforward = 64
hidden_dim = 256
dropout = 0.0
nheads = 8
num_queries = 40
query_dim = 4
num_patterns = 0
num_feature_levels = 4
enc_n_points = 2
dec_n_points = 2
two_stage_type = "standard"
two_stage_bbox_embed_share = False
two_stage_class_embed_share = False
transformer_activation = "relu"
dec_pred_bbox_embed_share = True
dn_box_noise_scale = 1.0
dn_label_noise_ratio = 0.5
dn_label_coef = 1.0
dn_bbox_coef = 1.0
embed_init_tgt = True
dn_labelbook_size = 2000
max_text_len = {max_text_len}
text_encoder_type = "bert-base-uncased"
use_text_enhancer = True
use_fusion_layer = True
use_checkpoint = False
use_transformer_ckpt = False
use_text_cross_attention = True
text_dropout = 0.0
fusion_dropout = 0.0
fusion_droppath = 0.0
sub_sentence_present = True
"""


def write_tiny_bert(folder, with_weights: bool = True):
    """A 1-layer BERT config + a vocabulary of a few words (no hub)."""
    from transformers import BertConfig, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "?", *WORDS]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    cfg = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    if with_weights:
        torch.manual_seed(0)
        BertModel(cfg).save_pretrained(folder)
    else:
        cfg.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("gdino")
    bert = write_tiny_bert(root / "bert")
    cfg = root / "tiny_cfg.py"
    cfg.write_text(TINY_CONFIG.format(max_text_len=64))
    torch.manual_seed(0)
    model = build_groundingdino(cfg, bert, device="cpu")
    return model, cfg, bert


def frames(n: int, h: int = 96, w: int = 128, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = (rng.random((h, w, 3)) * 255).astype(np.uint8)
        out.append(img)
    return out


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, :2], b[:, :2])
    rb = np.minimum(a[:, 2:], b[:, 2:])
    inter = np.prod((rb - lt).clip(0), axis=1)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def test_batched_equals_groundingdino_predict_per_image(tiny):
    from groundingdino.util.inference import predict
    from torchvision.ops import box_convert

    model = tiny[0]
    prompts = TextPrompts.from_mapping(
        {"cat": ["cat", "kitten"], "person": ["person", "human"], "car": "red car"}
    )
    imgs = frames(6)
    probe = DinoAnnotator(
        model, prompts, DinoOptions(box_threshold=0.0, text_threshold=0.0, size=96, max_size=160)
    )
    scores = np.concatenate([d.scores for d in probe.detect(imgs[:2], nms=False)])
    box_thr = float(np.quantile(scores, 0.5))  # random weights: keep about half of the queries
    text_thr = 0.3
    opts = DinoOptions(box_threshold=box_thr, text_threshold=text_thr, size=96, max_size=160, batch=4)
    ann = DinoAnnotator(model, prompts, opts)
    ours = ann.detect(imgs, nms=False)
    tensors = ann.preprocess(imgs)
    caption = ann.prompts.captions()[0]
    assert caption == "cat . kitten . person . human . red car ."
    total = 0
    for img, t, det in zip(imgs, tensors, ours, strict=True):
        boxes, logits, phrases = predict(model, t, caption, box_thr, text_thr, device="cpu")
        h, w = img.shape[:2]
        ref = box_convert(boxes * torch.tensor([w, h, w, h]), "cxcywh", "xyxy").numpy()
        assert len(det) == len(ref)
        total += len(ref)
        if len(ref):
            assert (box_iou(det.boxes, ref.astype(np.float64)) >= 0.99).all()
            np.testing.assert_allclose(det.scores, logits.numpy(), atol=1e-4)
        for ph, lab, ref_phrase in zip(det.phrases, det.labels, phrases, strict=True):
            if lab >= 0:  # our best phrase is among the tokens groundingdino kept
                assert any(word in ref_phrase.split() for word in ph.split()), (ph, ref_phrase)
            else:
                assert ph == ""
    assert total > 0


def test_annotate_nms_and_labels(tiny):
    model = tiny[0]
    imgs = frames(3, seed=1)
    opts = DinoOptions(box_threshold=0.0, text_threshold=0.0, size=64, max_size=96, batch=2, nms_iou=0.5)
    ann = DinoAnnotator(model, {"cat": ["cat", "kitten"], "dog": "dog"}, opts)
    table = ann.annotate(imgs)
    assert set(table["frame"]) <= set(range(3)) and len(table)
    assert set(table["label"]) <= {"cat", "dog"} and (table["type"] == "rectangle").all()
    assert (table["source"] == "auto").all()
    from dl_utils.cv_utils import box_iou as iou_matrix

    for (_, _lab), g in table.groupby(["frame", "label"]):  # per-class NMS: no overlapping pair left
        b = np.stack(g["points"].to_list())
        m = iou_matrix(b, b)
        np.fill_diagonal(m, 0)
        assert (m <= 0.5 + 1e-9).all()
    raw = ann.detect(imgs, nms=False)
    assert sum(len(d) for d in raw) >= len(table)
    # agnostic NMS keeps no more than per-class NMS
    agn = DinoAnnotator(
        model, {"cat": ["cat", "kitten"], "dog": "dog"}, DinoOptions(**{**opts.__dict__, "agnostic": True})
    )
    assert len(agn.annotate(imgs)) <= len(table)
    # thresholds at 1.0: no detections is an empty table, not an error
    none = DinoAnnotator(model, ["cat"], DinoOptions(box_threshold=1.0, size=64, max_size=96)).annotate(
        imgs[:1]
    )
    assert len(none) == 0


def test_long_prompt_lists_split_into_captions(tmp_path):
    bert = write_tiny_bert(tmp_path / "bert")
    cfg = tmp_path / "short.py"
    cfg.write_text(TINY_CONFIG.format(max_text_len=8))
    torch.manual_seed(0)
    model = build_groundingdino(cfg, bert, device="cpu")
    ann = DinoAnnotator(
        model, ["cat", "dog", "person", "car", "truck"], DinoOptions(box_threshold=0.0, size=64, max_size=96)
    )
    assert [c for c, _, _ in ann._groups] == ["cat . dog . person .", "car . truck ."]
    dets = ann.detect(frames(1, 64, 64), nms=False)
    assert len(dets[0]) == 2 * 40  # every query of both captions


def test_prompts_from_class_table_and_parse():
    from dl_utils.classes import ClassTable

    t = ClassTable.from_frame(
        pd.DataFrame(
            {
                "Класс объекта / Class": ["I. Animals", "1. Cat", "2. Dog", "II. People", "3. Person"],
                "Метка в CVAT / CVAT label": ["", "cat", "dog", "", "person"],
                "Синонимы / Synonyms": ["", "kitten, кошка", "", "", "human"],
            }
        )
    )
    p = TextPrompts.from_class_table(t)
    assert p.phrases == ("cat", "kitten", "dog", "person", "human")
    assert p.labels == ("cat", "cat", "dog", "person", "person")
    assert parse_classes("car:red car|automobile, person").phrases == ("red car", "automobile", "person")
    with pytest.raises(ValueError, match="two labels"):
        TextPrompts.from_mapping({"cat": "animal", "dog": "animal"})
    with pytest.raises(ValueError, match="separator"):
        TextPrompts.from_mapping({"cat": "a.b"})
    with pytest.raises(ValueError, match="no text prompts"):
        TextPrompts.from_mapping({})


def test_checkpoint_by_path_and_errors(tiny, tmp_path):
    model, cfg, _bert = tiny
    ckpt = tmp_path / "groundingdino_tiny.pth"
    torch.save({"model": {f"module.{k}": v for k, v in model.state_dict().items()}}, ckpt)
    bert_cfg_only = write_tiny_bert(
        tmp_path / "bert_cfg_only", with_weights=False
    )  # weights come from the .pth
    loaded = load_groundingdino(ckpt, cfg, bert_cfg_only, device="cpu")
    imgs = frames(2, seed=3)
    opts = DinoOptions(box_threshold=0.0, size=96, max_size=160)
    a = DinoAnnotator(model, ["cat", "dog"], opts).detect(imgs, nms=False)
    b = DinoAnnotator(loaded, ["cat", "dog"], opts).detect(imgs, nms=False)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x.boxes, y.boxes, atol=1e-5)
        np.testing.assert_allclose(x.scores, y.scores, atol=1e-5)
    with pytest.raises(
        FileNotFoundError, match=r"GroundingDINO \(tiny_cfg.py\) checkpoint not found: .*missing.pth"
    ):
        load_groundingdino(tmp_path / "missing.pth", cfg, bert_cfg_only)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"nope")
    with pytest.raises(ValueError, match=r"junk.pth is not a GroundingDINO"):
        load_groundingdino(junk, cfg, bert_cfg_only)
    sam_like = tmp_path / "sam_vit_b.pth"
    torch.save({"image_encoder.patch_embed.proj.weight": torch.zeros(1)}, sam_like)
    with pytest.raises(ValueError, match=r"sam_vit_b.pth is not a GroundingDINO"):
        load_groundingdino(sam_like, cfg, bert_cfg_only)
    with pytest.raises(FileNotFoundError, match="BERT folder"):
        load_groundingdino(ckpt, cfg, tmp_path / "no_bert")


class BoxFill:
    """A refiner that fills each box: masks whose right answer is known."""

    def refine_boxes(self, image, boxes, labels, scores, frame):
        from dl_utils.cvat import normalize_annotations

        rows = []
        for b, lab, s in zip(boxes, labels, scores, strict=True):
            rows.append({"frame": frame, "label": lab, "type": "polygon", "score": s, "source": "auto",
                         "points": [b[0], b[1], b[2], b[1], b[2], b[3], b[0], b[3]]})  # fmt: skip
        return normalize_annotations(rows)


def test_refiner_and_bad_input(tiny):
    model = tiny[0]
    imgs = frames(2, seed=4)
    opts = DinoOptions(box_threshold=0.0, size=96, max_size=160)
    ann = DinoAnnotator(model, ["cat"], opts, refiner=BoxFill())
    assert ann.spec.labels[0].type == "polygon" and ann.spec.kind == "segmentation"
    t = ann.annotate(imgs)
    assert len(t) and (t["type"] == "polygon").all()
    with pytest.raises(ValueError, match="no frames"):
        ann.annotate([])
    with pytest.raises(TypeError, match="refine_boxes"):
        DinoAnnotator(model, ["cat"], refiner=object())
    with pytest.raises(ValueError, match=r"frame 1: expected an RGB uint8"):
        ann.annotate([imgs[0], np.zeros((4, 4, 5), np.uint8)])


def test_sam_refines_dino_boxes(tiny):
    pytest.importorskip("segment_anything")
    from test_samal import scene, tiny_sam

    from dl_utils.samal import SamAnnotator, Segmenter

    sam = SamAnnotator(Segmenter.from_model(tiny_sam()), labels=["cat"], output="mask")
    ann = DinoAnnotator(tiny[0], ["cat"], DinoOptions(box_threshold=0.0, size=96, max_size=160), sam, "mask")
    img = scene()
    t = ann.annotate([img])
    det = ann.detect([img])[0]
    assert (t["type"] == "mask").all() and 0 < len(t) <= len(det)
    assert set(np.round(t["score"], 9)) <= set(np.round(det.scores, 9))  # rows keep the detector's confidence


def test_annotator_protocol_and_cvat_function(tiny):
    import PIL.Image

    from dl_utils.annotators import Annotator, to_cvat_detection_function

    ann = DinoAnnotator(
        tiny[0], {"cat": ["cat", "kitten"]}, DinoOptions(box_threshold=0.0, size=64, max_size=96)
    )
    assert isinstance(ann, Annotator) and ann.spec.label_names == ("cat",)
    fn = to_cvat_detection_function(ann)

    class Ctx:
        frame_name = "f.png"
        conf_threshold = 0.0
        conv_mask_to_poly = False

    shapes = fn.detect(Ctx(), PIL.Image.fromarray(frames(1)[0]))
    assert shapes and {s.type.value for s in shapes} == {"rectangle"} and fn.spec.labels[0].name == "cat"


def test_frames_per_pass_default_follows_the_device(tiny):
    model = tiny[0]
    assert DinoAnnotator(model, ["cat"], DinoOptions(size=64, max_size=96)).batch == 1  # CPU model
    assert DinoAnnotator(model, ["cat"], DinoOptions(size=64, max_size=96, batch=3)).batch == 3
    with pytest.raises(ValueError, match="batch must be >= 1"):
        DinoOptions(batch=0)
