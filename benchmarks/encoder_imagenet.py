"""Are the packaged ImageNet weights what they claim? EfficientNet-Lite0's top-5 classes
on unambiguous photos, and its logits against the reference implementation and timm.

Photos: scikit-image's sample photographs (``chelsea``: a tabby cat, ``coffee``: a cup of
coffee, ``rocket``: a rocket on its launch pad) and, with
``ATTNVISION_DATA``, a few OSIE/SOD stimuli with one obvious object. Preprocessing as
TensorFlow's EfficientNet-Lite evaluation: the short side resized to 256 (bicubic), the
central 224x224 crop, ``(rgb - 127) / 128``. Class names from timm's ImageNet info.

Parity: the largest absolute difference of the logits of our
:class:`attnvision.saliency.encoders.EfficientNetLite` (packaged weights, our key names)
from ``efficientnet-lite-pytorch``'s (its own loader, the package's keys) on seeded random
input at 224x224, and from timm's ``tf_efficientnet_lite0`` with the same tensors at
263x197 (dynamic SAME padding). tests/saliency/test_encoders.py asserts both.

Usage:
    ATTNVISION_DATA=/work/shared/data .venv/bin/python benchmarks/encoder_imagenet.py
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from attnvision.saliency import encoders as enc
from attnvision.saliency.model import read_image

#: OSIE / SOD stimuli with one obvious object, picked by looking at contact sheets (a beagle
#: puppy, a toilet, a brown bear, a king penguin, a starfish), not by the classifier's output
DATA_PHOTOS = (
    "osie/stimuli/1009.jpg",
    "osie/stimuli/1014.jpg",
    "sod/images/100080.jpg",
    "sod/images/106025.jpg",
    "sod/images/12003.jpg",
)


def center_crop(rgb: np.ndarray) -> torch.Tensor:
    img = Image.fromarray(rgb)
    w, h = img.size
    s = 256 / min(w, h)
    img = img.resize((round(w * s), round(h * s)), Image.BICUBIC)
    w, h = img.size
    left, top = (w - 224) // 2, (h - 224) // 2
    crop = np.array(img.crop((left, top, left + 224, top + 224)))
    return enc.normalize(torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.parse_args(argv)
    torch.set_num_threads(1)
    from skimage import data as skdata
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    net = enc.efficientnet_lite("lite0", pretrained=True).eval()
    photos = {f"skimage {n}": getattr(skdata, n)() for n in ("chelsea", "coffee", "rocket")}
    root = os.environ.get("ATTNVISION_DATA")
    if root:
        for rel in DATA_PHOTOS:
            path = Path(root) / rel
            if path.is_file():
                photos[rel] = read_image(path)
    print("| photo | top-5 ImageNet classes (probability) |")
    print("| --- | --- |")
    for name, rgb in photos.items():
        with torch.no_grad():
            prob = net(center_crop(np.ascontiguousarray(rgb[..., :3]))).softmax(1)[0]
        top = prob.topk(5)
        classes = "; ".join(
            f"{info.index_to_description(int(i)).split(',')[0]} ({float(p):.2f})"
            for p, i in zip(top.values, top.indices)
        )
        print(f"| {name} | {classes} |")
    torch.manual_seed(0)
    x = torch.randn(2, 3, 224, 224)
    try:
        from efficientnet_lite_pytorch import EfficientNet

        ref = EfficientNet.from_name("efficientnet-lite0").eval()
        ref.load_state_dict(torch.load(enc.weights_path("lite0"), weights_only=True))
        with torch.no_grad():
            diff = float((net(x) - ref(x)).abs().max())
        print(f"\nlogits vs efficientnet-lite-pytorch 0.1.0, 2x3x224x224: max |diff| {diff:.3g}")
    except ImportError:
        print("\nefficientnet-lite-pytorch not installed: no reference parity")
    import timm

    theirs = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    theirs.load_state_dict(dict(zip(theirs.state_dict(), net.state_dict().values())))
    x = torch.randn(2, 3, 197, 263)
    with torch.no_grad():
        diff = float((net(x) - theirs(x)).abs().max())
    print(
        f"logits vs timm {timm.__version__} tf_efficientnet_lite0, 2x3x197x263: "
        f"max |diff| {diff:.3g}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
