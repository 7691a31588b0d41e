"""dl_utils: the data loop of a computer-vision team.

Videos and images -> CVAT annotations -> pre-annotation -> class remapping -> YOLO and
segmentation datasets -> training -> ONNX/TensorRT -> metrics and tracking.

Import submodules explicitly (``from dl_utils import cvat``); importing the package itself is
cheap and pulls in no deep-learning framework.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
