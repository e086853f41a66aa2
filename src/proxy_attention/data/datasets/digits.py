"""Export scikit-learn's bundled handwritten digits as an image folder.

The digits (1797 real 8x8 images, 10 classes) ship inside scikit-learn, so the
default pipeline runs with no network at all. The export writes the common
layout ``<root>/train/<class>/<name>.png`` (the dataset has no official test
split, so :mod:`proxy_attention.data.split` draws one).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from proxy_attention.atomic import atomic_dir


def export_digits(out_dir: str | Path) -> int:
    """Write every digit as a lossless 8x8 grayscale PNG; return the number written."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # pixel values are 0..16; map them onto 0..255 exactly (16 * 255 / 16).
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    with atomic_dir(out_dir) as tmp:
        for i, (img, label) in enumerate(zip(images, bunch.target)):
            cls_dir = tmp / "train" / str(int(label))
            cls_dir.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img, mode="L").save(cls_dir / f"digit_{i:04d}.png")
    return len(images)
