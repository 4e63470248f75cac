"""The salient-object network: shapes, deep supervision, attention blocks on the skips (and
their absence for the ablation), frozen encoder blocks (the gates' capture is tested in
tests/explain/test_capture_models.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attnvision.saliency.objects import SalientObjectNet


def test_outputs_and_side_outputs():
    torch.manual_seed(0)
    net = SalientObjectNet(widths=(8, 8, 16, 16, 16)).eval()
    x = torch.randn(2, 3, 70, 90)
    with torch.no_grad():
        out = net(x)
        sides = net.forward_all(x)
        levels = net.decode(net.features(x))
    assert out.shape == (2, 1, 70, 90) and len(sides) == 5
    assert all(s.shape == (2, 1, 70, 90) for s in sides)
    torch.testing.assert_close(out, sides[0])  # the finest side output is the prediction
    assert [tuple(f.shape[-2:]) for f in levels] == [(35, 45), (18, 23), (9, 12), (5, 6), (3, 3)]
    assert [f.shape[1] for f in levels] == [8, 8, 16, 16, 16]


def test_attention_blocks_on_the_skips_and_the_ablation():
    w = (8, 8, 16, 16, 16)
    with_attn = SalientObjectNet(widths=w, attention="cbam")
    without = SalientObjectNet(widths=w, attention=None)
    coord = SalientObjectNet(widths=w, attention="coordatt", attention_options={"rd_ratio": 1 / 4})
    assert all(type(s.attn).__name__ == "CBAM" for s in with_attn.skips)
    assert all(isinstance(s.attn, nn.Identity) for s in without.skips)
    assert type(coord.skips[0].attn).__name__ == "CoordAttention"
    extra = sum(p.numel() for s in with_attn.skips for p in s.attn.parameters())
    n_with = sum(p.numel() for p in with_attn.parameters())
    n_without = sum(p.numel() for p in without.parameters())
    assert extra > 0 and n_with - n_without == extra  # the ablation differs only there
    with pytest.raises(ValueError, match="unknown attention"):
        SalientObjectNet(attention="cbamm")


def test_encoder_features_do_not_depend_on_the_batch_from_the_start():
    torch.manual_seed(0)
    net = SalientObjectNet(widths=(8, 8, 16, 16, 16), frozen_blocks=5)  # no .eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for both, alone in zip(net.features(x), net.features(x[:1])):
            torch.testing.assert_close(both[:1], alone)


def test_frozen_blocks_and_batch_norm_in_eval():
    net = SalientObjectNet(widths=(8, 8, 16, 16, 16), frozen_blocks=3).train()
    assert not net.encoder.conv_stem.weight.requires_grad
    assert not any(p.requires_grad for p in net.encoder.blocks[2].parameters())
    assert all(p.requires_grad for p in net.encoder.blocks[3].parameters())
    enc, dec = net.parameter_groups()
    assert len(enc) == sum(1 for p in net.encoder.parameters() if p.requires_grad)
    assert sum(p.numel() for p in dec) == sum(
        p.numel() for n, p in net.named_parameters() if not n.startswith("encoder.")
    )
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    enc_bns = [m for m in net.encoder.modules() if isinstance(m, nn.BatchNorm2d)]
    assert not any(m.training for m in enc_bns)  # the encoder's BN on running statistics
    assert all(m.training for m in bns if all(m is not e for e in enc_bns))
    frozen = SalientObjectNet(frozen_blocks=16)
    assert not any(p.requires_grad for p in frozen.encoder.parameters())
    with pytest.raises(ValueError, match="expected 5 widths >= 1"):
        SalientObjectNet(widths=(8, 8, 8, 8))
