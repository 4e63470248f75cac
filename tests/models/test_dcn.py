"""Tests of attnvision.models.dcn: Dynamic Capacity Networks (Almahairi et al. 2016)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from attnvision.models import create_model
from attnvision.models.dcn import DCN


def _net(**kw) -> DCN:
    """A small DCN in eval mode (batch norm then does not depend on which patches are read)."""
    torch.manual_seed(0)
    net = create_model("dcn", patch_size=10, features=16, coarse_width=8, fine_width=8, **kw)
    return net.eval()


def test_exactly_k_regions_the_most_salient():
    net = _net(k=5)
    x = torch.rand(3, 1, 60, 80)
    out = net(x)
    assert out.logits.shape == (3, 10) and out.regions.shape == (3, 5, 2)
    assert out.saliency.shape == (3, 6, 8)
    for i in range(3):
        flat = (out.regions[i, :, 0] * 8 + out.regions[i, :, 1]).tolist()
        assert len(set(flat)) == 5
        assert set(flat) == set(out.saliency[i].flatten().topk(5).indices.tolist())
    torch.testing.assert_close(out.boxes[..., :2], out.regions * 10)
    torch.testing.assert_close(out.boxes[..., 2:], out.regions * 10 + 10)


def test_saliency_is_the_entropy_gradient_norm():
    net = _net(k=3)
    x = torch.rand(2, 1, 40, 40)
    coarse = net.coarse(x).detach().requires_grad_(True)
    log_p = F.log_softmax(net.top(coarse), dim=1)
    entropy = -(log_p.exp() * log_p).sum()
    (grad,) = torch.autograd.grad(entropy, coarse)
    torch.testing.assert_close(net(x).saliency, grad.norm(dim=1))


def test_fine_features_replace_coarse_ones_at_the_chosen_regions():
    net = _net(k=4)
    x = torch.rand(2, 1, 50, 50)
    out = net(x)
    coarse = net.coarse(x)
    fine = net.fine_features(x)
    mask = torch.zeros(2, 1, 5, 5, dtype=torch.bool)
    for i in range(2):
        mask[i, 0, out.regions[i, :, 0], out.regions[i, :, 1]] = True
    mixed = torch.where(mask, fine, coarse)
    torch.testing.assert_close(out.logits, net.top(mixed), rtol=0, atol=1e-5)
    # and the hint loss is the squared distance of those coarse features to the fine ones
    diff = ((coarse - fine) ** 2).sum(1, keepdim=True)[mask]
    torch.testing.assert_close(out.hint_loss, diff.mean(), rtol=1e-5, atol=1e-6)


def test_a_region_window_gives_the_whole_image_fine_features():
    """The fine network reads a chosen region with ``margin`` pixels of context and gives
    exactly the whole-image pass's features there, at the borders too; less context would
    not (so the margin is the receptive field, not a guess)."""
    net = _net(k=30)
    for m in net.modules():  # batch norm that maps zero input to non-zero output
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.bias.data.uniform_(-0.5, 0.5)
    x = torch.rand(2, 1, 60, 50)
    grid = torch.stack(torch.meshgrid(torch.arange(6), torch.arange(5), indexing="ij"), -1)
    regions = grid.reshape(1, 30, 2).expand(2, -1, -1)
    windows, valid = net.windows(x, regions)
    assert windows.shape == (60, 1, 22, 22) and valid.shape == (60, 1, 22, 22)
    # the top-left region's window: 6 zero rows and columns, then the image
    assert torch.equal(windows[0, 0, 6:, 6:], x[0, 0, :16, :16])
    assert float(windows[0, 0, :6].abs().sum()) == 0.0 and float(valid[0, 0, :6].sum()) == 0.0
    assert float(valid[0, 0, 6:, 6:].min()) == 1.0
    whole = net.fine_features(x).detach()

    def windowed() -> torch.Tensor:
        return net.fine(windows, valid, 10).reshape(2, 6, 5, -1).permute(0, 3, 1, 2)

    torch.testing.assert_close(windowed(), whole, rtol=0, atol=1e-6)
    net.fine.margin = 4
    windows, valid = net.windows(x, regions)
    assert float((windowed() - whole).abs().max().detach()) > 1e-3


def test_k_all_regions_equals_fine_only_and_k0_equals_coarse_only():
    x = torch.rand(2, 1, 40, 30)
    everything = _net(k=12)
    fine_only = _net(k=12, mode="fine")
    fine_only.load_state_dict(everything.state_dict())
    torch.testing.assert_close(everything(x).logits, fine_only(x).logits, rtol=0, atol=1e-5)
    assert fine_only(x).regions.shape == (2, 12, 2)
    none = _net(k=0)
    coarse_only = _net(k=3, mode="coarse")
    coarse_only.load_state_dict(none.state_dict())
    torch.testing.assert_close(none(x).logits, coarse_only(x).logits)
    assert none(x).regions.shape == (2, 0, 2) and float(none(x).hint_loss) == 0.0


def test_works_without_grad_and_selector_is_hookable():
    net = _net(k=2).eval()
    seen = []
    net.selector.register_forward_hook(lambda m, i, o: seen.append(o))
    with torch.no_grad():
        out = net(torch.rand(1, 1, 20, 20))
    assert torch.equal(seen[0], out.regions)


def test_errors():
    with pytest.raises(ValueError, match="even patch_size"):
        DCN(patch_size=7)
    with pytest.raises(ValueError, match="mode 'dcn', 'coarse' or 'fine'"):
        DCN(mode="both")
    with pytest.raises(ValueError, match="multiples of 10"):
        _net()(torch.rand(1, 1, 28, 28))


def test_a_few_steps_lower_the_loss():
    from attnvision.data import create_dataset

    ds = create_dataset("digits", distortion="translated", canvas=40, seed=0)
    x = torch.stack([ds[i][0] for i in range(32)])
    y = torch.tensor([ds[i][1] for i in range(32)])
    net = _net(k=4).train()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        out = net(x)
        loss = F.cross_entropy(out.logits, y) + 0.1 * out.hint_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.8 * losses[0]
