"""Grad-CAM (Selvaraju et al. ICCV 2017): known answers, Eq. 1-2, errors, no side effects."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import attnvision as av
from attnvision.explain.gradcam import gradcam


class PixelNet(nn.Module):
    """Class 0 = the brightest positive pixel, class 1 = the darkest negative pixel."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(1, 2, 1, bias=False)
        with torch.no_grad():
            self.features.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
        self.head = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.head.weight.copy_(torch.eye(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.features(x))
        return self.head(F.adaptive_max_pool2d(a, 1).flatten(1))


def _argmax2d(m: torch.Tensor) -> tuple[int, int]:
    flat = int(m.flatten().argmax())
    return flat // m.shape[-1], flat % m.shape[-1]


def _pixel_images() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = 0.1 * (torch.rand(2, 1, 9, 11, generator=g) - 0.5)
    x[0, 0, 2, 6] = 1.0  # decides class 0
    x[0, 0, 7, 1] = -0.6
    x[1, 0, 4, 9] = -1.0  # decides class 1
    x[1, 0, 1, 1] = 0.3
    return x


def test_points_at_the_pixel_that_decides_the_class():
    net = PixelNet()
    x = _pixel_images()
    assert net(x).argmax(1).tolist() == [0, 1]
    cams = gradcam(net, x, "features")
    assert cams.shape == (2, 9, 11)
    assert _argmax2d(cams[0]) == (2, 6)
    assert _argmax2d(cams[1]) == (4, 9)
    # asking for the other class points at the other pixel
    other = gradcam(net, x, net.features, class_idx=[1, 0])
    assert _argmax2d(other[0]) == (7, 1)
    assert _argmax2d(other[1]) == (1, 1)


def test_matches_equations_1_and_2():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 6, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 4),
    )
    x = torch.randn(3, 3, 14, 18)
    cls = torch.tensor([0, 3, 2])
    cams = gradcam(net, x, "2", class_idx=cls)
    # by hand: A = output of layer 2; alpha = mean over space of dy^c/dA; ReLU(sum alpha A)
    act = net[:3](x).detach().requires_grad_(True)
    scores = net[3:](act)
    (grad,) = torch.autograd.grad(scores.gather(1, cls[:, None]).sum(), act)
    cam = F.relu((grad.mean((2, 3), keepdim=True) * act).sum(1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=(14, 18), mode="bilinear", align_corners=False)[:, 0]
    expected = cam / cam.flatten(1).max(1).values.clamp_min(1e-12)[:, None, None]
    torch.testing.assert_close(cams, expected, rtol=1e-5, atol=1e-6)
    assert cams.shape == (3, 14, 18)
    assert float(cams.min()) >= 0 and float(cams.max()) <= 1


def test_no_side_effects_and_frozen_models():
    net = PixelNet().eval()
    for p in net.parameters():
        p.requires_grad_(False)
    x = _pixel_images()
    with torch.no_grad():  # works under no_grad too
        cams = gradcam(net, x, "features")
    assert _argmax2d(cams[0]) == (2, 6)
    assert all(p.grad is None for p in net.parameters())
    assert not net.training
    assert len(net.features._forward_hooks) == 0
    assert not x.requires_grad


def test_our_models_and_capture_side_by_side():
    torch.manual_seed(0)
    model = av.models.create_model("cnn", attention="cbam", num_classes=10).eval()
    x = torch.rand(2, 1, 60, 60)
    layer = next(n for n, m in model.named_modules() if isinstance(m, nn.Conv2d))
    cams = gradcam(model, x, layer)
    assert cams.shape == (2, 60, 60)
    assert float(cams.min()) >= 0 and float(cams.max()) <= 1
    with torch.no_grad(), av.explain.capture(model) as maps:
        model(x)
    assert maps  # the network's own attention to set beside it


def test_errors():
    net = PixelNet()
    x = _pixel_images()
    with pytest.raises(ValueError, match="no submodule 'featurez'.*features"):
        gradcam(net, x, "featurez")
    with pytest.raises(ValueError, match=r"\(N, K, h, w\)"):
        gradcam(net, x, "head")
    with pytest.raises(ValueError, match="class_idx expected values in"):
        gradcam(net, x, "features", class_idx=2)
    with pytest.raises(ValueError, match="one per image"):
        gradcam(net, x, "features", class_idx=[0, 1, 0])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        gradcam(net, x[0], "features")
    with pytest.raises(TypeError, match="nn.Module"):
        gradcam(lambda t: t, x, "features")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="module path"):
        gradcam(net, x, 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a submodule"):
        gradcam(net, x, nn.Conv2d(1, 1, 1))
    assert len(net.head._forward_hooks) == 0  # removed after the error
