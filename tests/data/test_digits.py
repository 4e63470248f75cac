"""Tests of attnvision.data.digits: the built-in 28x28 digits and their fixed split."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from attnvision.data import Digits, create_dataset
from attnvision.data.digits import split_indices, upsample_digits


def test_split_is_fixed_stratified_and_complete():
    from sklearn.datasets import load_digits

    labels = torch.from_numpy(load_digits().target)
    train, test = split_indices(labels, True), split_indices(labels, False)
    assert len(train) == 1352 and len(test) == 445
    assert set(train.tolist()).isdisjoint(test.tolist())
    assert len(set(train.tolist()) | set(test.tolist())) == 1797
    # stratified: every class has a quarter of its images (rounded down) in the test split
    counts = torch.bincount(labels, minlength=10)
    assert torch.equal(torch.bincount(labels[test], minlength=10), counts // 4)
    # the first test image of class 0 is its fourth occurrence in file order
    zeros = torch.nonzero(labels == 0).flatten()
    assert int(zeros[3]) in test.tolist() and int(zeros[0]) in train.tolist()


def test_items_match_sklearn_upsampled():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    ds = Digits(train=False)
    index = int(split_indices(torch.from_numpy(bunch.target), False)[7])
    image, label = ds[7]
    assert label == int(bunch.target[index])
    source = torch.from_numpy(bunch.images[index]).float()[None, None] / 16
    expected = F.interpolate(source, size=(20, 20), mode="bilinear", align_corners=False)[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    torch.testing.assert_close(image[:, 4:24, 4:24], expected.clamp(0, 1))
    assert float(image[:, :4].abs().sum() + image[:, 24:].abs().sum()) == 0.0


def test_upsample_constant_and_range():
    flat = upsample_digits(torch.full((2, 8, 8), 0.5))
    assert flat.shape == (2, 1, 28, 28)
    torch.testing.assert_close(flat[:, :, 4:24, 4:24], torch.full((2, 1, 20, 20), 0.5))
    ds = create_dataset("digits", train=True)
    assert len(ds) == 1352
    assert float(ds.images.min()) >= 0.0 and float(ds.images.max()) <= 1.0
