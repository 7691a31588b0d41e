"""Image files <-> RGB arrays: non-ASCII paths, EXIF orientation, grey/alpha, atomic writes.

OpenCV's ``imread``/``imwrite`` fail silently on non-ASCII paths on some platforms and return
BGR. Here files are read with Python's ``open`` and decoded with ``cv2.imdecode``, written with
``cv2.imencode`` and an atomic rename, and arrays are RGB unless ``rgb=False``.

EXIF orientation: OpenCV applies the EXIF ``Orientation`` tag itself when decoding in colour or
grey (``cv2.IMREAD_COLOR`` / ``cv2.IMREAD_GRAYSCALE``, verified for JPEG, PNG and WebP by
``tests/test_cv_utils_io.py``) but not with ``cv2.IMREAD_UNCHANGED``; for ``mode="unchanged"``
the tag is read with Pillow (a core dependency through matplotlib) and applied here, so every
mode returns the image the way a viewer shows it.

Example:
    >>> from dl_utils.cv_utils import read_image, write_image
    >>> import numpy as np
    >>> path = write_image("/tmp/dl_utils_doc/été.png", np.zeros((4, 6, 3), np.uint8), overwrite=True)
    >>> read_image(path).shape
    (4, 6, 3)
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from dl_utils.utils import get_logger, write_bytes_atomic

__all__ = [
    "ImageDecodeError",
    "apply_exif_orientation",
    "decode_image",
    "encode_image",
    "exif_orientation",
    "read_image",
    "write_image",
]

log = get_logger(__name__)

PathLike = str | os.PathLike
ReadMode = Literal["color", "gray", "unchanged"]

_WRITE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


class ImageDecodeError(ValueError):
    """Raised when bytes or a file cannot be decoded as an image (the message names the file)."""


def exif_orientation(data: bytes) -> int:
    """Return the EXIF ``Orientation`` tag (1..8) of encoded image bytes, 1 when absent.

    Example:
        >>> exif_orientation(b"not an image")
        1
    """
    try:
        from PIL import Image  # lazily: only needed for mode="unchanged"
    except ImportError:  # pragma: no cover - Pillow ships with matplotlib (core dependency)
        log.warning("Pillow is not installed: EXIF orientation ignored for mode='unchanged'")
        return 1
    try:
        with Image.open(io.BytesIO(data)) as im:
            value = im.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - unreadable header: no orientation
        return 1
    try:
        value = int(value)
    except (TypeError, ValueError):
        return 1
    return value if 1 <= value <= 8 else 1


def apply_exif_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Return ``image`` (HxW or HxWxC) transformed the way EXIF ``orientation`` (1..8) asks.

    Example:
        >>> a = np.arange(6).reshape(2, 3)
        >>> apply_exif_orientation(a, 6).shape   # rotate 90 degrees clockwise
        (3, 2)
    """
    if orientation == 2:
        out = image[:, ::-1]
    elif orientation == 3:
        out = image[::-1, ::-1]
    elif orientation == 4:
        out = image[::-1]
    elif orientation == 5:
        out = np.swapaxes(image, 0, 1)
    elif orientation == 6:
        out = np.rot90(image, k=-1)
    elif orientation == 7:
        out = np.swapaxes(image, 0, 1)[::-1, ::-1]
    elif orientation == 8:
        out = np.rot90(image, k=1)
    else:
        return image
    return np.ascontiguousarray(out)


def _to_rgb_order(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    return image


def decode_image(
    data: bytes | np.ndarray, rgb: bool = True, mode: ReadMode = "color", source: str | None = None
) -> np.ndarray:
    """Decode encoded image bytes (JPEG, PNG, WebP, BMP, TIFF...) into an array.

    ``mode``: ``"color"`` -> uint8 HxWx3 (grey is expanded, alpha dropped); ``"gray"`` -> uint8
    HxW; ``"unchanged"`` -> as stored (HxW, HxWx3, HxWx4, uint8 or uint16). Channels are RGB(A)
    unless ``rgb=False`` (BGR(A), OpenCV's order). EXIF orientation is applied in every mode.
    ``source`` names the origin in error messages.

    Example:
        >>> ok, buf = cv2.imencode(".png", np.full((2, 2, 3), (0, 0, 255), np.uint8))  # BGR red
        >>> decode_image(buf.tobytes())[0, 0].tolist()
        [255, 0, 0]
    """
    where = source or "<bytes>"
    if mode not in ("color", "gray", "unchanged"):
        raise ValueError(f"mode must be 'color', 'gray' or 'unchanged', got {mode!r}")
    buf = (
        np.frombuffer(data, dtype=np.uint8)
        if isinstance(data, (bytes, bytearray, memoryview))
        else np.asarray(data)
    )
    if buf.dtype != np.uint8 or buf.ndim != 1:
        raise ValueError(
            f"data must be bytes or a 1-D uint8 array, got {buf.dtype} array of shape {buf.shape}"
        )
    if buf.size == 0:
        raise ImageDecodeError(f"cannot decode image {where}: it is empty (0 bytes)")
    flags = {"color": cv2.IMREAD_COLOR, "gray": cv2.IMREAD_GRAYSCALE, "unchanged": cv2.IMREAD_UNCHANGED}[mode]
    try:
        image = cv2.imdecode(buf, flags)
    except cv2.error as exc:
        raise ImageDecodeError(f"cannot decode image {where}: {exc}") from exc
    if image is None:
        raise ImageDecodeError(
            f"cannot decode image {where} ({buf.size} bytes): not an image, an unsupported format or a corrupt file"
        )
    if mode == "unchanged":
        head = bytes(buf[:12])
        is_tiff = head[:4] in (b"II*\x00", b"MM\x00*")  # libtiff already applies the orientation
        if not is_tiff:
            image = apply_exif_orientation(image, exif_orientation(buf.tobytes()))
    return _to_rgb_order(image) if rgb else image


def read_image(path: PathLike, rgb: bool = True, mode: ReadMode = "color") -> np.ndarray:
    """Read an image file into an array (RGB uint8 HxWx3 by default), any path (non-ASCII too).

    EXIF orientation is applied, see :func:`decode_image` for ``mode``. Missing files raise
    :class:`FileNotFoundError`, folders :class:`IsADirectoryError`, empty or corrupt files
    :class:`ImageDecodeError` (a :class:`ValueError`); every message names the path.

    Example:
        >>> img = read_image("frames/frame_000010.jpg")   # doctest: +SKIP
        >>> img.shape, img.dtype                          # doctest: +SKIP
        ((1080, 1920, 3), dtype('uint8'))
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"image file not found: {p}")
    if p.is_dir():
        raise IsADirectoryError(f"expected an image file but found a folder: {p}")
    data = p.read_bytes()
    return decode_image(data, rgb=rgb, mode=mode, source=str(p))


def encode_image(
    image: np.ndarray, ext: str = ".jpg", rgb: bool = True, quality: int = 95, png_compression: int = 3
) -> bytes:
    """Encode an array into image-file bytes; ``ext`` picks the format (.jpg, .png, .webp, .bmp, .tif).

    ``image``: HxW (grey), HxWx3 (RGB, or BGR with ``rgb=False``) or HxWx4 (RGBA; not for JPEG);
    uint8, or uint16 for PNG/TIFF. ``quality`` (1..100) is used by JPEG and WebP,
    ``png_compression`` (0..9) by PNG.

    Example:
        >>> data = encode_image(np.zeros((8, 8, 3), np.uint8), ".png")
        >>> data[:4]
        b'\\x89PNG'
    """
    ext = ext.lower() if ext.startswith(".") else "." + ext.lower()
    if ext not in _WRITE_EXTS:
        raise ValueError(f"unsupported image format {ext!r}; use one of {sorted(_WRITE_EXTS)}")
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise ValueError(f"image must be HxW, HxWx3 or HxWx4, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty, got shape {image.shape}")
    if image.dtype == np.bool_:
        image = image.astype(np.uint8) * 255
    if image.dtype == np.uint16 and ext not in (".png", ".tif", ".tiff"):
        raise ValueError(f"uint16 images can be written only as PNG or TIFF, not {ext}")
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"image must have dtype uint8 (or uint16 for PNG/TIFF), got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 4 and ext in (".jpg", ".jpeg", ".bmp"):
        raise ValueError(f"{ext} cannot store an alpha channel; pass image[..., :3] or write PNG/WebP")
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")
    bgr = image
    if rgb and image.ndim == 3:
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR if image.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    params: list[int] = []
    if ext in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    elif ext == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, int(quality)]
    elif ext == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, int(png_compression)]
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(bgr), params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} {image.dtype} image as {ext}")
    return buf.tobytes()


def write_image(
    path: PathLike,
    image: np.ndarray,
    rgb: bool = True,
    quality: int = 95,
    overwrite: bool = False,
    png_compression: int = 3,
) -> Path:
    """Write ``image`` atomically to ``path`` (format from the extension), any path (non-ASCII too).

    See :func:`encode_image` for accepted arrays. Parent folders are created. An existing file is
    replaced only with ``overwrite=True`` (otherwise :class:`FileExistsError`). Returns the path.

    Example:
        >>> write_image("/tmp/dl_utils_doc/a.jpg", np.zeros((4, 4, 3), np.uint8), overwrite=True)
        PosixPath('/tmp/dl_utils_doc/a.jpg')
    """
    p = Path(path)
    if p.exists() and not overwrite:
        raise FileExistsError(f"refusing to overwrite existing image {p} (pass overwrite=True)")
    data = encode_image(image, p.suffix or ".png", rgb=rgb, quality=quality, png_compression=png_compression)
    return write_bytes_atomic(p, data, overwrite=overwrite)
