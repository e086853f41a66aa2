import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]

# Keep torch to the cores CI has, and never reach a model hub from a test.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def image_folder(tmp_path):
    """A small class-folder dataset: 3 classes x 12 RGB images of 8x8 with class-specific colours."""
    rng = np.random.default_rng(0)
    root = tmp_path / "ds"
    for c, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        d = root / "train" / f"class{c}"
        d.mkdir(parents=True)
        for i in range(12):
            arr = (rng.random((8, 8, 3)) * 60 + np.array(colour) * 0.7).clip(0, 255).astype(np.uint8)
            Image.fromarray(arr).save(d / f"img{i}.png")
    return root
