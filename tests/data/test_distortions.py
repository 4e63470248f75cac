"""Tests of attnvision.data.distortions and create_dataset's distortion handling."""

from __future__ import annotations

import math

import pytest
import torch

from attnvision.data import (
    DistortedDataset,
    cluttered,
    create_dataset,
    elastic,
    item_generator,
    list_datasets,
    list_distortions,
    projective,
    rotated,
    rts,
    translated,
)

SIZES = {
    "rotated": 28,
    "rts": 42,
    "projective": 28,
    "elastic": 28,
    "translated": 60,
    "cluttered": 60,
}


@pytest.fixture(scope="module")
def digits():
    return create_dataset("digits", train=True)


def _corner_digit() -> torch.Tensor:
    image = torch.zeros(1, 28, 28)
    image[0, 0:4, 23:28] = 1.0  # ink in the top-right corner, far from the centre
    return image


@pytest.mark.parametrize("name", sorted(SIZES))
def test_same_seed_same_image(name, digits):
    a = create_dataset("digits", distortion=name, seed=3)
    b = create_dataset("digits", distortion=name, seed=3)
    c = create_dataset("digits", distortion=name, seed=4)
    x = a[11][0]
    assert x.shape == (1, SIZES[name], SIZES[name]) and x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert torch.equal(x, b[11][0])  # another dataset object
    assert torch.equal(x, a[11][0])  # again, after other items were read
    assert not torch.equal(x, c[11][0])  # another seed
    assert not torch.equal(x, a[12][0])
    assert a[11][1] == digits[11][1]


def test_item_generator():
    g1, g2 = item_generator(0, 5), item_generator(0, 5)
    assert torch.equal(torch.rand(4, generator=g1), torch.rand(4, generator=g2))
    assert not torch.equal(
        torch.rand(4, generator=item_generator(0, 5)), torch.rand(4, generator=item_generator(1, 5))
    )
    with pytest.raises(ValueError, match="seed >= 0"):
        item_generator(-1, 0)


def test_identity_settings_give_the_input(digits):
    image = digits[0][0]
    gen = torch.Generator().manual_seed(0)
    torch.testing.assert_close(rotated(image, gen, max_angle=0.0), image, rtol=0, atol=1e-6)
    same = projective(image, gen, scale=(1.0, 1.0), corner_std=0.0)
    torch.testing.assert_close(same, image, rtol=0, atol=1e-5)
    torch.testing.assert_close(elastic(image, gen, displacement_std=0.0), image, rtol=0, atol=1e-5)


def test_rotation_matches_a_direct_rotation_about_the_centre():
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    inside = ((xs - 13.5) ** 2 + (ys - 13.5) ** 2) < 11.0**2  # ink never leaves the frame
    image = (torch.rand(1, 28, 28) * inside).float()
    u = float(torch.rand((), generator=item_generator(0, 0), dtype=torch.float64))
    angle = math.radians(-30.0 + 60.0 * u)  # the first draw of the generator
    out = rotated(image, item_generator(0, 0), max_angle=30.0)
    c = 13.5  # output pixel (x, y) reads the input at R(-angle) (x - c, y - c) + c
    src_x = math.cos(angle) * (xs - c) + math.sin(angle) * (ys - c) + c
    src_y = -math.sin(angle) * (xs - c) + math.cos(angle) * (ys - c) + c
    grid = torch.stack([(2 * src_x + 1) / 28 - 1, (2 * src_y + 1) / 28 - 1], -1)[None]
    expected = torch.nn.functional.grid_sample(image[None], grid, align_corners=False)[0]
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("seed", range(12))
def test_digit_stays_inside_the_canvas(seed):
    image = _corner_digit()
    mass = float(image.sum())
    gen = item_generator(seed, 0)
    # rotations and RTS without scaling preserve the ink; a corner digit would leave a
    # 28x28 frame when rotated if it were not shifted back inside
    assert float(rotated(image, gen).sum()) == pytest.approx(mass, rel=0.03)
    assert float(rts(image, gen, scale=(1.0, 1.0)).sum()) == pytest.approx(mass, rel=0.03)
    assert float(translated(image, gen).sum()) == mass
    # a projective map changes areas a lot near the corners, an elastic warp a little;
    # either way the block is kept, not cut away by the frame
    warped = projective(image, gen)
    assert warped.shape == (1, 28, 28) and float(warped.sum()) > 0.05 * mass
    assert float(elastic(image, gen).sum()) > 0.4 * mass


def test_rts_places_uniformly_inside():
    image = _corner_digit()
    tops = set()
    for seed in range(30):
        out = rts(image, item_generator(seed, 1))
        assert out.shape == (1, 42, 42)
        rows = torch.nonzero(out[0].amax(1) > 0).flatten()
        tops.add(int(rows[0]))
    assert len(tops) > 10  # many different positions


def test_cluttered_contains_the_translated_digit(digits):
    image = digits[0][0]
    pool = [digits[i][0] for i in range(1, 20)]

    def fragments(gen):
        return pool[int(torch.randint(0, len(pool), (), generator=gen))]

    base = translated(image, item_generator(0, 7), canvas=60)
    out = cluttered(image, item_generator(0, 7), fragments=fragments, canvas=60, pieces=4)
    assert torch.all(out >= base)
    assert float(out.sum()) > float(base.sum())
    none = cluttered(image, item_generator(0, 7), fragments=fragments, pieces=0)
    assert torch.equal(none, base)
    big = cluttered(image, item_generator(0, 7), fragments=fragments, canvas=100, pieces=8)
    assert big.shape == (1, 100, 100)
    assert float(big.sum()) <= float(image.sum()) + 8 * 64


def test_dataset_cluttered_options():
    ds = create_dataset("digits", distortion="cluttered", seed=1, canvas=100, pieces=8)
    assert isinstance(ds, DistortedDataset) and ds[0][0].shape == (1, 100, 100)


def test_errors():
    assert list_datasets() == ["digits", "folder", "mnist"]
    assert list_distortions() == sorted(SIZES)
    with pytest.raises(ValueError, match="unknown dataset 'mnsit'.*expected one of: digits"):
        create_dataset("mnsit")
    with pytest.raises(ValueError, match="unknown distortion 'clutter'.*cluttered, elastic"):
        create_dataset("digits", distortion="clutter")
    with pytest.raises(TypeError, match="unknown option.*canvass"):
        create_dataset("digits", distortion="cluttered", canvass=60)
    with pytest.raises(TypeError, match="without a distortion"):
        create_dataset("digits", canvas=60)
    with pytest.raises(ValueError, match=r"shape \(C, H, W\)"):
        rotated(torch.zeros(28, 28), torch.Generator())
    with pytest.raises(ValueError, match="at most 60x60"):
        translated(torch.zeros(1, 70, 70), torch.Generator())
