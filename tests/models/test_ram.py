"""Tests of attnvision.models.ram: the Recurrent Attention Model (Mnih et al. 2014)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from attnvision.models import create_model
from attnvision.models.ram import RAM, GlimpseSensor


def _image() -> torch.Tensor:
    return torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8) + 1


def test_sensor_reads_the_right_patch_at_the_centre():
    sensor = GlimpseSensor(patch_size=4, num_scales=2, scale=2)
    x = _image()
    g = sensor(x, torch.zeros(1, 2))
    assert g.shape == (1, 2, 1, 4, 4)
    torch.testing.assert_close(g[0, 0], x[0, :, 2:6, 2:6])
    torch.testing.assert_close(g[0, 1], F.avg_pool2d(x, 2)[0])  # the whole image, halved


def test_sensor_at_borders_pads_with_zeros_and_x_is_the_column():
    sensor = GlimpseSensor(patch_size=4, num_scales=1)
    x = _image()
    top_left = sensor(x, torch.tensor([[-1.0, -1.0]]))[0, 0, 0]
    expected = torch.zeros(4, 4)
    expected[2:, 2:] = x[0, 0, :2, :2]
    torch.testing.assert_close(top_left, expected)
    bottom_right = sensor(x, torch.tensor([[1.0, 1.0]]))[0, 0, 0]
    expected = torch.zeros(4, 4)
    expected[:2, :2] = x[0, 0, 6:, 6:]
    torch.testing.assert_close(bottom_right, expected)
    # (x, y) = (0.5, -0.5): centre at column 6, row 2 -> columns 4..7, rows 0..3
    right_top = sensor(x, torch.tensor([[0.5, -0.5]]))[0, 0, 0]
    torch.testing.assert_close(right_top, x[0, 0, 0:4, 4:8])
    far = sensor(x, torch.tensor([[3.0, 3.0]]))  # beyond the image: all zeros
    assert float(far.abs().sum()) == 0.0


@pytest.mark.parametrize(("patch", "scales", "factor", "channels"), [(12, 3, 2, 1), (5, 3, 3, 2)])
def test_sensor_equals_crop_then_average_pool_everywhere(patch, scales, factor, channels):
    """The summed-area reading of the pooled scales against the definition: crop the
    zero-padded image around the rounded centre, then average-pool, at random locations
    inside, across the border and far outside."""
    sensor = GlimpseSensor(patch_size=patch, num_scales=scales, scale=factor)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(8, channels, 31, 23, generator=gen)
    loc = (torch.rand(8, 2, generator=gen) * 2 - 1) * torch.tensor([[1.0], [1.5]]).repeat(4, 1)
    got = sensor(x, loc)
    for i in range(8):
        cx = (float(loc[i, 0]) + 1) / 2 * 23
        cy = (float(loc[i, 1]) + 1) / 2 * 31
        for s in range(scales):
            size = patch * factor**s
            left, top = math.floor(cx - size / 2 + 0.5), math.floor(cy - size / 2 + 0.5)
            canvas = F.pad(x[i], (100, 100, 100, 100))
            crop = canvas[:, top + 100 : top + 100 + size, left + 100 : left + 100 + size]
            expected = F.avg_pool2d(crop[None], factor**s)[0] if s else crop
            torch.testing.assert_close(got[i, s], expected, rtol=0, atol=1e-6)
    # a prepared retina reads the same glimpses as the image itself
    assert torch.equal(sensor(sensor.prepare(x), loc), got)


def test_loss_has_three_terms():
    torch.manual_seed(0)
    net = create_model("ram", glimpses=4, patch_size=4, hidden=32)
    x, y = torch.rand(5, 1, 20, 20), torch.tensor([0, 1, 2, 3, 4])
    out = net(x)
    assert out.locations.shape == (5, 4, 2) and out.loc_log_probs.shape == (5, 3)
    assert float(out.locations.abs().max()) <= 1.0
    assert torch.equal(out.locations[:, 0], torch.zeros(5, 2))  # first glimpse at the centre
    terms = RAM.loss(out, y)
    reward = (out.log_probs.argmax(1) == y).float()[:, None].expand(-1, 3)
    torch.testing.assert_close(terms.nll, F.nll_loss(out.log_probs, y))
    torch.testing.assert_close(terms.baseline, F.mse_loss(out.baselines, reward))
    expected = -(out.loc_log_probs * (reward - out.baselines.detach())).sum(1).mean()
    torch.testing.assert_close(terms.reinforce, expected)
    torch.testing.assert_close(terms.total, terms.nll + terms.reinforce + terms.baseline)
    # REINFORCE trains only the locator; the baseline loss only the baseline
    terms.reinforce.backward(retain_graph=True)
    assert net.locator.fc.weight.grad is not None and net.classifier.weight.grad is None
    net.zero_grad()
    terms.baseline.backward()
    assert net.baseline.weight.grad is not None and net.locator.fc.weight.grad is None


def test_seeded_sampling_eval_mean_and_hook():
    net = create_model("ram", glimpses=3, patch_size=4, hidden=16)
    x = torch.rand(2, 1, 16, 16)
    a = net(x, generator=torch.Generator().manual_seed(1)).locations
    b = net(x, generator=torch.Generator().manual_seed(1)).locations
    assert torch.equal(a, b)
    net.eval()
    seen = []
    net.locator.register_forward_hook(lambda m, i, o: seen.append(o[1]))
    out = net(x)
    torch.testing.assert_close(out.locations[:, 1:], out.means)
    assert len(seen) == 2 and torch.equal(seen[0], out.locations[:, 1])


def test_errors():
    with pytest.raises(ValueError, match="glimpses >= 1"):
        RAM(glimpses=0)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 1, H, W\)"):
        RAM()(torch.rand(2, 3, 28, 28))


@pytest.mark.parametrize("core", ["rnn", "lstm"])
def test_a_few_steps_lower_the_loss(core):
    from attnvision.data import create_dataset

    ds = create_dataset("digits", train=True)
    x, y = ds.images[:32], ds.targets[:32]
    torch.manual_seed(0)
    net = create_model("ram", glimpses=4, patch_size=8, num_scales=2, hidden=64, core=core)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    nll = []
    for _ in range(25):
        terms = RAM.loss(net(x, generator=gen), y)
        opt.zero_grad()
        terms.total.backward()
        opt.step()
        nll.append(float(terms.nll.detach()))
    assert sum(nll[-3:]) / 3 < 0.85 * nll[0]
