"""Two small trained saliency networks that ship with the package, and :func:`predict`.

- :class:`FixationNet` predicts where people look (a density over the image), trained on
  OSIE (Xu et al., "Predicting human gaze beyond pixels", JoV 2014). It is an
  encoder-decoder in the spirit of ML-Net (Cornia et al., ICPR 2016) and SAM (Cornia et
  al., TIP 2018): a strided convolutional encoder with CBAM blocks (Woo et al., ECCV 2018)
  at three scales, the three scales fused at 1/4 of the input, and learned Gaussian prior
  maps concatenated to the fused features (SAM's centre-bias priors, Sec. III-C). The
  output is a log-density (log-softmax over pixels); training uses SAM's loss
  (KL divergence, CC and NSS terms).
- :class:`ObjectNet` segments the salient object (a per-pixel probability), trained on
  the SOD benchmark images (Movahedi and Elder 2010). It is a small U-Net (Ronneberger et
  al., MICCAI 2015) with CBAM blocks in the encoder and additive attention gates on the
  skip connections (Oktay et al., "Attention U-Net", MIDL 2018); trained with BCE + IoU
  loss (as in BASNet, Qin et al., CVPR 2019, without the SSIM term) and an auxiliary
  fixation head on OSIE (dropped from the weights). The shipped weights read 160x160
  input, average the map with that of the mirrored image and sharpen it
  (``sigmoid(3 * logits)``): all three are in the weights file's input spec.

Weights are files written by :func:`save_weights`: a dict with ``format``
(``"attnvision-saliency-weights"``), ``version``, ``kind``, ``config`` (the constructor
arguments and the input size), ``state_dict`` and ``meta`` (training split, command,
scores), loaded with ``torch.load(..., weights_only=True)``. The defaults live in
``attnvision/weights/{fixation,object}.pt``.

Example:
    >>> import numpy as np
    >>> import attnvision as av
    >>> image = np.zeros((60, 80, 3), np.uint8)
    >>> m = av.saliency.predict(image)  # doctest: +SKIP
    >>> m.shape, float(m.min()) >= 0, float(m.max()) <= 1  # doctest: +SKIP
    ((60, 80), True, True)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._utils import atomic_save, load_versioned
from .._utils import read_image as read_image  # re-exported (saliency.model.read_image)
from ..layers.registry import create_attention

FORMAT = "attnvision-saliency-weights"
FORMAT_VERSION = 1
KINDS = ("fixation", "object")

#: per-channel mean and standard deviation of RGB in [0, 1] used to normalise inputs
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def default_weights(kind: str) -> Path:
    """Path of the weights shipped for ``kind`` (``"fixation"`` or ``"object"``)."""
    _check_kind(kind)
    return WEIGHTS_DIR / f"{kind}.pt"


def _check_kind(kind: Any) -> str:
    if kind not in KINDS:
        raise ValueError(f"expected kind 'fixation' or 'object', got {kind!r}")
    return kind


# --------------------------------------------------------------------------- blocks


class ConvBNAct(nn.Sequential):
    """``Conv2d -> BatchNorm2d -> ReLU``; ``(N, C_in, H, W) -> (N, C_out, H/s, W/s)``."""

    def __init__(
        self, c_in: int, c_out: int, k: int = 3, stride: int = 1, dilation: int = 1
    ) -> None:
        pad = dilation * (k - 1) // 2
        super().__init__(
            nn.Conv2d(c_in, c_out, k, stride, pad, dilation=dilation, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )


class Stage(nn.Module):
    """Two convolutions (the first may stride) followed by an attention block.

    ``(N, C_in, H, W) -> (N, C_out, H/stride, W/stride)``.
    """

    def __init__(
        self, c_in: int, c_out: int, stride: int, attention: str | None, dilation: int = 1
    ) -> None:
        super().__init__()
        self.conv1 = ConvBNAct(c_in, c_out, 3, stride)
        self.conv2 = ConvBNAct(c_out, c_out, 3, 1, dilation)
        self.attn = create_attention(attention, c_out, rd_ratio=1 / 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(self.conv2(self.conv1(x)))


class GaussianPrior(nn.Module):
    """Learned centre-bias maps (SAM, Cornia et al. TIP 2018, Sec. III-C, Eq. 7).

    ``n`` Gaussians with learned centres and widths in normalised image coordinates
    ``[0, 1]``; ``forward(x)`` returns ``(N, n, H, W)`` maps at the size of ``x``, each
    scaled to a maximum of 1.
    """

    def __init__(self, n: int = 8) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.mu = nn.Parameter(0.3 + 0.4 * torch.rand(n, 2, generator=g))  # (y, x)
        self.log_sigma = nn.Parameter(torch.log(0.1 + 0.3 * torch.rand(n, 2, generator=g)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        ys = (torch.arange(h, device=x.device, dtype=x.dtype) + 0.5) / h
        xs = (torch.arange(w, device=x.device, dtype=x.dtype) + 0.5) / w
        sigma = self.log_sigma.exp().to(x.dtype)
        mu = self.mu.to(x.dtype)
        gy = ((ys[None, :] - mu[:, :1]) / sigma[:, :1]) ** 2  # (n, H)
        gx = ((xs[None, :] - mu[:, 1:]) / sigma[:, 1:]) ** 2  # (n, W)
        maps = torch.exp(-0.5 * (gy[:, :, None] + gx[:, None, :]))
        return maps.unsqueeze(0).expand(n, -1, -1, -1)


class AttentionGate(nn.Module):
    """Additive attention gate on a skip connection (Oktay et al., MIDL 2018, Eq. 1-2).

    ``forward(skip, coarse)``: ``skip`` ``(N, C_s, H, W)``, ``coarse`` ``(N, C_g, h, w)``
    (the decoder's signal, upsampled to ``(H, W)``); returns ``skip * alpha`` with the
    map ``alpha = sigmoid(psi(relu(W_x skip + W_g g))))`` of shape ``(N, 1, H, W)``, computed
    in the submodule ``gate`` so :func:`attnvision.explain.capture` records it.
    """

    def __init__(self, c_skip: int, c_coarse: int, c_mid: int) -> None:
        super().__init__()
        self.theta = nn.Conv2d(c_skip, c_mid, 1, bias=False)
        self.phi = nn.Conv2d(c_coarse, c_mid, 1)
        self.gate = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(c_mid, 1, 1), nn.Sigmoid())

    def forward(self, skip: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        g = F.interpolate(coarse, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        alpha = self.gate(self.theta(skip) + self.phi(g))
        return skip * alpha


def _check_image_batch(x: Any, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"{name} expected input of shape (N, 3, H, W), got {tuple(x.shape)}")
    if x.shape[-1] < 16 or x.shape[-2] < 16:
        raise ValueError(f"{name} expected H, W >= 16, got {tuple(x.shape[-2:])}")


# --------------------------------------------------------------------------- networks


class FixationNet(nn.Module):
    """Fixation prediction: ``(N, 3, H, W)`` normalised RGB -> ``(N, 1, H, W)`` log-density.

    Encoder stages at 1/2, 1/4, 1/8 and 1/16 (squeeze-excitation at 1/4 and 1/8, CBAM and
    a dilated convolution at 1/16);
    the 1/4, 1/8 and 1/16 features are fused at 1/4 with ``n_priors`` learned Gaussian
    maps (SAM, Cornia et al. TIP 2018), giving one logit per pixel at 1/4 which is
    upsampled bilinearly and log-softmax-normalised over all pixels, so
    ``exp(out).sum((2, 3)) == 1``.

    Args:
        widths: channels of the four encoder stages.
        attention: attention block names of stages 2-4
            (:func:`attnvision.layers.create_attention`).
        n_priors: number of learned Gaussian prior maps.
        fuse: channels of the fused features.
    """

    def __init__(
        self,
        widths: tuple[int, int, int, int] = (16, 32, 64, 96),
        attention: tuple[str, str, str] = ("se", "se", "cbam"),
        n_priors: int = 8,
        fuse: int = 48,
    ) -> None:
        super().__init__()
        w1, w2, w3, w4 = (int(w) for w in widths)
        a2, a3, a4 = attention
        self.stem = Stage(3, w1, 2, None)
        self.stage2 = Stage(w1, w2, 2, a2)
        self.stage3 = Stage(w2, w3, 2, a3)
        self.stage4 = Stage(w3, w4, 2, a4, dilation=2)
        self.reduce = ConvBNAct(w2 + w3 + w4, fuse, 1)
        self.prior = GaussianPrior(n_priors)
        self.head = nn.Sequential(
            ConvBNAct(fuse + n_priors, fuse, 5, dilation=2),
            nn.Conv2d(fuse, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_image_batch(x, "FixationNet")
        size = x.shape[-2:]
        f1 = self.stem(x)
        f2 = self.stage2(f1)
        f3 = self.stage3(f2)
        f4 = self.stage4(f3)
        up = [
            F.interpolate(f, size=f2.shape[-2:], mode="bilinear", align_corners=False)
            for f in (f3, f4)
        ]
        fused = self.reduce(torch.cat([f2, *up], 1))
        logits = self.head(torch.cat([fused, self.prior(fused)], 1))
        logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        n = logits.shape[0]
        return F.log_softmax(logits.reshape(n, -1), 1).reshape_as(logits)


class ObjectNet(nn.Module):
    """Salient-object segmentation: ``(N, 3, H, W)`` -> ``(N, 1, H, W)`` logits.

    A U-Net (Ronneberger et al. 2015) whose encoder runs at 1/2 to 1/16 of the input with
    attention blocks (squeeze-excitation, then CBAM, then a global-context bottleneck), and
    whose decoder takes the skips through additive attention gates (Oktay et al. 2018,
    submodules ``gate2``-``gate4``); the 1/2-resolution logits are upsampled bilinearly
    to the input size. ``sigmoid(out)`` is the object probability.

    Args:
        widths: channels at 1/2, 1/4, 1/8, 1/16 and of the 1/32 bottleneck.
        attention: attention block names at 1/4, 1/8, 1/16 and in the bottleneck.
    """

    def __init__(
        self,
        widths: tuple[int, int, int, int, int] = (16, 32, 48, 64, 96),
        attention: tuple[str, str, str, str] = ("se", "se", "cbam", "gc"),
    ) -> None:
        super().__init__()
        w = [int(v) for v in widths]
        self.enc1 = Stage(3, w[0], 2, None)
        self.enc2 = Stage(w[0], w[1], 2, attention[0])
        self.enc3 = Stage(w[1], w[2], 2, attention[1])
        self.enc4 = Stage(w[2], w[3], 2, attention[2])
        self.bottleneck = Stage(w[3], w[4], 2, attention[3], dilation=2)
        self.gate4 = AttentionGate(w[3], w[4], w[3] // 2)
        self.dec4 = ConvBNAct(w[4] + w[3], w[3])
        self.gate3 = AttentionGate(w[2], w[3], w[2] // 2)
        self.dec3 = ConvBNAct(w[3] + w[2], w[2])
        self.gate2 = AttentionGate(w[1], w[2], w[1] // 2)
        self.dec2 = ConvBNAct(w[2] + w[1], w[1])
        self.dec1 = ConvBNAct(w[1] + w[0], w[0])
        self.out = nn.Conv2d(w[0], 1, 3, padding=1)

    @staticmethod
    def _up(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_image_batch(x, "ObjectNet")
        return F.interpolate(
            self.out(self.decode(x)), size=x.shape[-2:], mode="bilinear", align_corners=False
        )

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """The decoder's last feature map ``(N, widths[0], H / 2, W / 2)`` (before ``out``);
        training can hang auxiliary heads on it."""
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        e4 = self.enc4(e3)
        b = self.bottleneck(e4)
        d4 = self.dec4(torch.cat([self._up(b, e4), self.gate4(e4, b)], 1))
        d3 = self.dec3(torch.cat([self._up(d4, e3), self.gate3(e3, d4)], 1))
        d2 = self.dec2(torch.cat([self._up(d3, e2), self.gate2(e2, d3)], 1))
        return self.dec1(torch.cat([self._up(d2, e1), e1], 1))


ARCHITECTURES: dict[str, type[nn.Module]] = {"fixation": FixationNet, "object": ObjectNet}

#: input sizes the networks are trained at: fixation keeps the aspect with this long side,
#: object resizes to a fixed square (as most SOD networks do)
DEFAULT_INPUT = {"fixation": {"long_side": 128}, "object": {"size": [128, 128]}}


def build(kind: str, config: dict[str, Any] | None = None) -> nn.Module:
    """A fresh (untrained) network for ``kind`` from its constructor ``config``."""
    _check_kind(kind)
    cfg = dict(config or {})
    try:
        return ARCHITECTURES[kind](**cfg)
    except TypeError as exc:
        raise ValueError(f"bad {kind} network config {cfg}: {exc}") from None


# --------------------------------------------------------------------------- weights


def save_weights(
    path: str | os.PathLike[str],
    model: nn.Module,
    kind: str,
    config: dict[str, Any],
    *,
    input_spec: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    half: bool = True,
) -> Path:
    """Write ``model``'s weights atomically (float16 floats when ``half``).

    The file is a dict of plain data and tensors (``format``, ``version``, ``kind``,
    ``config``, ``input``, ``state_dict``, ``meta``) readable with
    ``torch.load(..., weights_only=True)``.
    """
    _check_kind(kind)
    state = {
        k: (v.detach().half() if half and v.is_floating_point() else v.detach()).clone()
        for k, v in model.state_dict().items()
    }
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "kind": kind,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items()},
        "input": dict(input_spec or DEFAULT_INPUT[kind]),
        "state_dict": state,
        "meta": dict(meta or {}),
    }
    return atomic_save(path, lambda handle: torch.save(payload, handle))


def read_weights(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a weights file written by :func:`save_weights`, safely
    (:func:`attnvision._utils.load_versioned`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: truncated/corrupt, not a torch file, a pickle asking to run code,
            not a saliency-weights file, or a newer format version.
    """
    payload = load_versioned(path, FORMAT, FORMAT_VERSION, "saliency weights file")
    for key in ("kind", "config", "state_dict", "input"):
        if key not in payload:
            raise ValueError(f"{path}: saliency weights file lacks the entry {key!r}")
    return payload


def load_model(path: str | os.PathLike[str], kind: str | None = None) -> nn.Module:
    """The network stored in ``path`` (float32, eval mode).

    Args:
        path: a file written by :func:`save_weights`.
        kind: when given, the file must hold a network of this kind.
    """
    payload = read_weights(path)
    stored = payload["kind"]
    if kind is not None and stored != _check_kind(kind):
        raise ValueError(f"{path} holds {stored!r} weights, expected {kind!r} weights")
    model = build(stored, payload["config"])
    own = model.state_dict()
    state = payload["state_dict"]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    bad = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or bad:
        first = (missing or unexpected or bad)[0]
        raise ValueError(
            f"{path} does not fit {type(model).__name__}: {len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(bad)} mis-shaped tensors (e.g. {first})"
        )
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
    model.input_spec = dict(payload["input"])  # type: ignore[assignment]
    model.kind = stored  # type: ignore[assignment]
    return model.eval()


_CACHE: dict[tuple[str, int, int], nn.Module] = {}


def _cached_model(path: Path, kind: str) -> nn.Module:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise FileNotFoundError(f"saliency weights not found: {path}") from None
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _CACHE:
        if len(_CACHE) > 4:
            _CACHE.clear()
        _CACHE[key] = load_model(path, kind)
    model = _CACHE[key]
    if model.kind != kind:  # type: ignore[attr-defined]
        raise ValueError(f"{path} holds {model.kind!r} weights, expected {kind!r} weights")
    return model


# --------------------------------------------------------------------------- predict


def input_size(shape: tuple[int, int], spec: dict[str, Any]) -> tuple[int, int]:
    """The network input ``(h, w)`` for an image of ``shape`` ``(H, W)`` under ``spec``.

    ``{"size": [h, w]}``: fixed; ``{"long_side": L}``: the aspect kept, the long side
    ``L``, both sides rounded to multiples of 8. A spec may also say ``"flip": true``:
    :func:`predict_batch` then averages the map of the image and the mirrored map of its
    mirror image (test-time flip averaging). An object spec may set ``"logit_scale": k``:
    the probability is ``sigmoid(k * logits)``; ``k > 1`` sharpens the map towards its
    0.5 level set (the absolute error is minimised by the median, not the calibrated
    probability), and leaves the ranking of pixels, hence max F, unchanged.
    """
    if "size" in spec:
        h, w = spec["size"]
        return int(h), int(w)
    long_side = int(spec["long_side"])
    scale = long_side / max(shape)
    h = max(16, int(round(shape[0] * scale / 8)) * 8)
    w = max(16, int(round(shape[1] * scale / 8)) * 8)
    return h, w


def to_input(image: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """``(H, W, 3)`` uint8 -> normalised ``(1, 3, h, w)`` float32 (bilinear, antialiased)."""
    # a copy: read-only arrays (np.asarray of a PIL image) must not reach torch.from_numpy
    x = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 255.0
    if tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


def _check_image(image: Any) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    if not isinstance(image, np.ndarray):
        raise TypeError(f"predict expected an (H, W, 3) uint8 array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"predict expected an (H, W, 3) uint8 array, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise TypeError(f"predict expected an (H, W, 3) uint8 array, got dtype {image.dtype}")
    if image.shape[0] < 8 or image.shape[1] < 8:
        raise ValueError(f"predict expected an image of at least 8x8 pixels, got {image.shape}")
    return image


@torch.no_grad()
def _probabilities(out: torch.Tensor, kind: str, logit_scale: float = 1.0) -> torch.Tensor:
    """Network output -> density (fixation: log-density in) or probability (object:
    ``sigmoid(logit_scale * logits)``)."""
    return out.exp() if kind == "fixation" else torch.sigmoid(logit_scale * out)


def predict_batch(model: nn.Module, images: list[np.ndarray]) -> list[np.ndarray]:
    """Maps in ``[0, 1]`` at each image's size from a loaded ``model`` (see :func:`predict`)."""
    kind = getattr(model, "kind", "object" if isinstance(model, ObjectNet) else "fixation")
    spec = getattr(model, "input_spec", DEFAULT_INPUT[kind])
    outs = []
    for image in images:
        image = _check_image(image)
        shape = image.shape[:2]
        x = to_input(image, input_size(shape, spec))
        scale = float(spec.get("logit_scale", 1.0))
        y = _probabilities(model(x), kind, scale)
        if spec.get("flip", False):
            y = 0.5 * (y + _probabilities(model(x.flip(-1)), kind, scale).flip(-1))
        y = F.interpolate(y, size=shape, mode="bilinear", align_corners=False)[0, 0]
        if kind == "fixation":
            top = float(y.max())
            y = y / top if top > 0 else y
        outs.append(y.clamp_(0, 1).numpy().astype(np.float32))
    return outs


def predict(
    image: np.ndarray,
    kind: str = "fixation",
    *,
    weights: str | os.PathLike[str] | None = None,
) -> np.ndarray:
    """A saliency map for one image from a trained network shipped with the package.

    Args:
        image: ``(H, W, 3)`` uint8 RGB array.
        kind: ``"fixation"`` (where people look; OSIE-trained :class:`FixationNet`; the
            predicted density scaled to a maximum of 1) or ``"object"`` (salient-object
            probability; SOD-trained :class:`ObjectNet`).
        weights: another weights file written by :func:`save_weights`.

    Returns:
        ``(H, W)`` float32 map in ``[0, 1]`` at the image's size (the network's output at
        its input size, upsampled bilinearly).

    Raises:
        TypeError / ValueError: a bad image, an unknown kind, or an unusable weights file.
    """
    _check_kind(kind)
    image = _check_image(image)
    path = Path(weights) if weights is not None else default_weights(kind)
    model = _cached_model(path, kind)
    return predict_batch(model, [image])[0]
