"""Tests of attnvision.layers.stn: the spatial transformer layer (Jaderberg et al. 2015)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from attnvision.layers import SpatialTransformer, create_attention
from attnvision.layers.stn import (
    TRANSFORMS,
    AffineGrid,
    TPSGrid,
    params_to_theta,
    tps_control_points,
)


def _set_params(stn: SpatialTransformer, values) -> None:
    with torch.no_grad():
        stn.loc.head.bias.copy_(torch.as_tensor(values, dtype=torch.float32))


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
def test_identity_at_initialisation(transform):
    stn = create_attention("stn", channels=3, transform=transform)
    assert isinstance(stn, SpatialTransformer)
    for shape in [(2, 3, 28, 28), (1, 3, 7, 5), (1, 3, 1, 1)]:
        x = torch.rand(shape)
        torch.testing.assert_close(stn(x), x, rtol=0, atol=1e-5)


def test_rotation_by_90_degrees_moves_a_known_pixel():
    stn = SpatialTransformer(1)
    # theta maps output (x, y) to input (-y, x): output pixel (i, j) reads input (j, W-1-i)
    _set_params(stn, [0.0, -1.0, 0.0, 1.0, 0.0, 0.0])
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 2, 6] = 1.0  # row 2, column 6
    y = stn(x).detach()
    assert y[0, 0, 9 - 1 - 6, 2] == pytest.approx(1.0, abs=1e-6)
    assert float(y.sum()) == pytest.approx(1.0, abs=1e-5)
    # the same as torch.rot90 of the image (counter-clockwise on screen)
    torch.testing.assert_close(y, torch.rot90(x, k=1, dims=(2, 3)), rtol=0, atol=1e-6)


def test_translation_shifts_by_whole_pixels():
    stn = SpatialTransformer(1, transform="translation")
    _set_params(stn, [2 * 2 / 10, 0.0])  # +2 pixels in x: output (i, j) reads input (i, j + 2)
    x = torch.rand(1, 1, 6, 10)
    y = stn(x).detach()
    torch.testing.assert_close(y[..., :8], x[..., 2:], rtol=0, atol=1e-6)
    assert float(y[..., 8:].abs().max()) == 0.0  # zero padding beyond the border


def test_out_size_identity_is_2x2_average():
    stn = SpatialTransformer(1, out_size=15)
    x = torch.rand(2, 1, 30, 30)
    y = stn(x)
    assert y.shape == (2, 1, 15, 15)
    torch.testing.assert_close(y, F.avg_pool2d(x, 2), rtol=0, atol=1e-5)


def test_parametrisations_agree_with_affine():
    p = torch.tensor([[0.8, 0.3, 0.1, -0.2]])
    theta = params_to_theta(p, "similarity")
    expected = torch.tensor([[[0.8, -0.3, 0.1], [0.3, 0.8, -0.2]]])
    torch.testing.assert_close(theta, expected)
    s = params_to_theta(torch.tensor([[0.5, 0.1, 0.2]]), "translation_scale")
    torch.testing.assert_close(s, torch.tensor([[[0.5, 0.0, 0.1], [0.0, 0.5, 0.2]]]))
    # a similarity with (a, b) = (cos r, sin r) is the rotation by r
    r = math.radians(30)
    rot = params_to_theta(torch.tensor([[math.cos(r), math.sin(r), 0.0, 0.0]]), "similarity")
    assert float(torch.linalg.det(rot[0, :, :2])) == pytest.approx(1.0, abs=1e-6)


def test_tps_reproduces_affine_maps():
    torch.manual_seed(1)
    theta = torch.tensor([[[0.9, -0.2, 0.1], [0.15, 1.1, -0.05]]])
    control = tps_control_points(4)
    targets = control @ theta[0, :, :2].T + theta[0, :, 2]
    size = [1, 1, 11, 13]
    tps = TPSGrid(4)(targets.reshape(1, -1), size)
    affine = AffineGrid("affine")(theta.reshape(1, 6), size)
    torch.testing.assert_close(tps, affine, rtol=0, atol=1e-5)
    # and a control point moved alone moves the grid near it most
    moved = control.clone()
    moved[5] += torch.tensor([0.2, 0.0])
    grid = TPSGrid(4)(moved.reshape(1, -1), [1, 1, 31, 31])
    base = TPSGrid(4)(control.reshape(1, -1), [1, 1, 31, 31])
    change = (grid - base).norm(dim=-1)[0]
    peak = torch.nonzero(change == change.max())[0]
    # control point 5 is (x, y) = (-1/3, -1/3) -> pixel (row, col) = (10, 10) of 31
    assert abs(int(peak[0]) - 10) <= 1 and abs(int(peak[1]) - 10) <= 1


def test_gradients_reach_every_parameter():
    stn = SpatialTransformer(4, transform="affine")
    x = torch.rand(3, 4, 12, 12, requires_grad=True)
    (stn(x) * torch.rand(3, 4, 12, 12)).sum().backward()
    for name, p in stn.named_parameters():
        assert p.grad is not None, name
    assert float(stn.loc.head.weight.grad.abs().sum()) > 0
    assert float(x.grad.abs().sum()) > 0
    # after one step away from the identity the earlier layers get non-zero gradients too
    with torch.no_grad():
        stn.loc.head.weight.normal_(0, 0.01)
    stn.zero_grad()
    (stn(x) * torch.rand(3, 4, 12, 12)).sum().backward()
    assert float(stn.loc.features[0].weight.grad.abs().sum()) > 0


def test_float64_channels_last_and_tps_out_size():
    stn = SpatialTransformer(2, transform="tps", out_size=(6, 8)).double()
    x = torch.rand(2, 2, 12, 16, dtype=torch.float64).to(memory_format=torch.channels_last)
    y = stn(x)
    assert y.shape == (2, 2, 6, 8) and y.dtype == torch.float64
    torch.testing.assert_close(y, F.avg_pool2d(x, 2), rtol=0, atol=1e-5)


def test_errors():
    stn = SpatialTransformer(64)
    with pytest.raises(ValueError, match=r"SpatialTransformer\(channels=64\) got input with 32"):
        stn(torch.rand(1, 32, 8, 8))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, C, H, W\)"):
        stn(torch.rand(64, 8, 8))
    with pytest.raises(TypeError, match="floating-point"):
        stn(torch.ones(1, 64, 8, 8, dtype=torch.int64))
    with pytest.raises(ValueError, match="unknown transform 'projection'.*affine"):
        SpatialTransformer(3, transform="projection")
    with pytest.raises(ValueError, match="tps_grid >= 2"):
        SpatialTransformer(3, transform="tps", tps_grid=1)


@pytest.mark.parametrize(
    "transform", ["affine", "similarity", "translation_scale", "translation", "tps"]
)
def test_init_scale_starts_as_a_centred_zoom(transform):
    # output 4x4 of an 8x8 input at scale 0.5: the output pixel centres +-0.75, +-0.25 map
    # to +-0.375, +-0.125, i.e. exactly the centres of input pixels 2..5
    stn = SpatialTransformer(2, transform=transform, out_size=4, init_scale=0.5).eval()
    x = torch.rand(3, 2, 8, 8)
    torch.testing.assert_close(stn(x), x[..., 2:6, 2:6], rtol=0, atol=1e-5)
    # scale 1 is the identity, the default
    torch.testing.assert_close(SpatialTransformer(2, transform=transform, init_scale=1.0)(x), x)


def test_translation_keeps_its_window_size_and_only_moves():
    stn = SpatialTransformer(2, transform="translation", out_size=4, init_scale=0.5).eval()
    assert stn.loc.head.out_features == 2  # the window size is not a parameter
    with torch.no_grad():  # shift right by 2 input pixels (0.5 in [-1, 1] units), down by 1
        stn.loc.head.bias.copy_(torch.tensor([0.5, 0.25]))
    x = torch.rand(3, 2, 8, 8)
    torch.testing.assert_close(stn(x), x[..., 3:7, 4:8], rtol=0, atol=1e-5)
    theta = params_to_theta(torch.tensor([[0.5, 0.25]]), "translation", 0.5)
    torch.testing.assert_close(theta, torch.tensor([[[0.5, 0.0, 0.5], [0.0, 0.5, 0.25]]]))


def test_init_scale_errors():
    with pytest.raises(ValueError, match="init_scale > 0, got -0.5"):
        SpatialTransformer(1, init_scale=-0.5)
    with pytest.raises(ValueError, match="init_scale > 0, got 0.0"):
        SpatialTransformer(1, transform="translation", init_scale=0.0)


def test_loc_norm_keeps_every_hidden_unit_alive():
    torch.manual_seed(0)
    stn = SpatialTransformer(1, loc_norm=True, loc_hidden=32)
    norms = [m for m in stn.loc.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert len(norms) == 3
    # push every hidden unit far below zero: without batch norm all would be dead (0 for
    # every image); batch norm re-centres them per batch, so about half fire for each unit
    with torch.no_grad():
        stn.loc.fc[1].weight.add_(-5.0)
    hidden = stn.loc.fc(stn.loc.features(torch.rand(64, 1, 28, 28)))
    assert hidden.shape == (64, 32)
    assert bool(((hidden > 0).float().mean(0) > 0.2).all())
    # still the identity at initialisation (the head's weights are zero), in both modes
    x = torch.rand(4, 1, 20, 20)
    torch.testing.assert_close(stn(x), x, rtol=0, atol=1e-5)
    torch.testing.assert_close(stn.eval()(x), x, rtol=0, atol=1e-5)


def test_softargmax_localisation_finds_the_peak_and_starts_centred():
    from attnvision.layers.stn import SoftArgmaxLocalisation

    loc = SoftArgmaxLocalisation(1)
    x = torch.rand(3, 1, 20, 30)
    assert torch.allclose(loc(x), torch.zeros(3, 2), atol=1e-6)  # uniform scores: the centre
    # the soft-argmax of a sharp peak is that cell's centre in [-1, 1] coordinates
    loc.features = torch.nn.Identity()
    loc.score = torch.nn.Conv2d(1, 1, 1, bias=False)
    torch.nn.init.constant_(loc.score.weight, 200.0)
    peak = torch.zeros(2, 1, 10, 16)
    peak[0, 0, 2, 5] = 1.0
    peak[1, 0, 9, 0] = 1.0
    expected = torch.tensor(
        [[(5.5 * 2 / 16) - 1, (2.5 * 2 / 10) - 1], [(0.5 * 2 / 16) - 1, 1 - 0.1]]
    )
    assert torch.allclose(loc(peak), expected, atol=1e-5)


def test_softargmax_moves_a_fixed_window_and_only_for_translation():
    stn = SpatialTransformer(1, transform="translation", init_scale=0.5, out_size=8,
                             loc="softargmax")  # fmt: skip
    x = torch.zeros(1, 1, 16, 16)
    x[0, 0, 4:8, 4:8] = 1.0
    # at the start the window is the central half of the input, read at 8x8
    assert torch.allclose(stn(x), x[:, :, 4:12, 4:12], atol=1e-6)
    with pytest.raises(ValueError, match="gives a position: expected transform 'translation'"):
        SpatialTransformer(1, transform="affine", loc="softargmax")
    with pytest.raises(ValueError, match="expected loc in regression, softargmax, got 'dense'"):
        SpatialTransformer(1, loc="dense")
