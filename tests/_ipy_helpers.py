"""Shared by the ipy_utils / notebook / browser tests: scenes with known answers and a tiny SAM."""

from __future__ import annotations

import numpy as np

# two flat-coloured objects on a dark background: flood fill from a point inside gives exactly them
RED_BOX = (10, 8, 40, 30)  # x1, y1, x2, y2 (exclusive ends)
BLUE_BOX = (50, 20, 75, 50)


def two_box_scene(h: int = 60, w: int = 90, shift: int = 0) -> np.ndarray:
    img = np.full((h, w, 3), 20, np.uint8)
    x1, y1, x2, y2 = RED_BOX
    img[y1:y2, x1 + shift : x2 + shift] = (220, 30, 30)
    x1, y1, x2, y2 = BLUE_BOX
    img[y1:y2, x1:x2] = (30, 30, 220)
    return img


def box_mask(box: tuple[int, int, int, int], h: int = 60, w: int = 90, shift: int = 0) -> np.ndarray:
    m = np.zeros((h, w), bool)
    x1, y1, x2, y2 = box
    m[y1:y2, x1 + shift : x2 + shift] = True
    return m


def tiny_sam(seed: int = 0):
    """A random-weight segment_anything ``Sam`` at 64 px (one ViT block): seconds on a CPU."""
    import torch
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    torch.manual_seed(seed)
    dim, size, patch = 32, 64, 16
    sam = Sam(
        image_encoder=ImageEncoderViT(
            img_size=size,
            patch_size=patch,
            embed_dim=dim,
            depth=1,
            num_heads=2,
            out_chans=dim,
            use_rel_pos=False,
            window_size=0,
            global_attn_indexes=(),
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=dim,
            image_embedding_size=(size // patch, size // patch),
            input_image_size=(size, size),
            mask_in_chans=8,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=1, embedding_dim=dim, mlp_dim=64, num_heads=2),
            transformer_dim=dim,
            iou_head_depth=1,
            iou_head_hidden_dim=32,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    return sam.eval()
