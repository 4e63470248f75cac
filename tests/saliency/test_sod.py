"""Tests for attnvision.saliency.sod: parity with PySODMetrics 1.6.2 and with the MATLAB
toolbox's stored results on the SOD benchmark, synthetic edge cases, known values, errors."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from PIL import Image, ImageFilter

from _data import require_data
from attnvision.saliency import sod

MODELS = ("Amulet", "DSS", "PiCANet")
SCALARS = ("mae", "smeasure", "weighted_fmeasure", "adaptive_fmeasure", "adaptive_emeasure")


def _peer():
    py_sod_metrics = pytest.importorskip("py_sod_metrics")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Fmeasure announces its deprecation
        return {
            "mae": py_sod_metrics.MAE(),
            "fm": py_sod_metrics.Fmeasure(),
            "sm": py_sod_metrics.Smeasure(),
            "em": py_sod_metrics.Emeasure(),
            "wfm": py_sod_metrics.WeightedFmeasure(),
        }


def _peer_step(peer: dict, pred: np.ndarray, mask: np.ndarray, normalize: bool = True) -> dict:
    """One image through the five PySODMetrics evaluators; its figures in our key names,
    curves in our ascending-threshold order."""
    if mask.dtype == np.uint8 and normalize:
        gt = mask  # a grey mask: PySODMetrics binarises it with gt > 128
    else:
        gt = mask.astype(np.uint8) * 255 if normalize else mask.astype(bool)
    for metric in peer.values():
        metric.step(pred, gt, normalize=normalize)
    return {
        "mae": float(peer["mae"].maes[-1]),
        "smeasure": float(peer["sm"].sms[-1]),
        "weighted_fmeasure": float(peer["wfm"].weighted_fms[-1]),
        "adaptive_fmeasure": float(peer["fm"].adaptive_fms[-1]),
        "adaptive_emeasure": float(peer["em"].adaptive_ems[-1]),
        "precision": np.asarray(peer["fm"].precisions[-1])[::-1],
        "recall": np.asarray(peer["fm"].recalls[-1])[::-1],
        "fmeasure_curve": np.asarray(peer["fm"].changeable_fms[-1])[::-1],
        "emeasure_curve": np.asarray(peer["em"].changeable_ems[-1])[::-1],
    }


def _ours(pred, mask, **kwargs) -> dict:
    image = sod.prepare(pred, mask, **kwargs)
    precision, recall = sod.precision_recall(image, None)
    return {
        "mae": sod.mae(image, None),
        "smeasure": sod.smeasure(image, None),
        "weighted_fmeasure": sod.weighted_fmeasure(image, None),
        "adaptive_fmeasure": sod.fmeasure(image, None),
        "adaptive_emeasure": sod.emeasure(image, None),
        "precision": precision,
        "recall": recall,
        "fmeasure_curve": sod.fmeasure_from_pr(precision, recall),
        "emeasure_curve": sod.emeasure_curve(image, None),
    }


def _assert_same(ours: dict, peer: dict, atol: float = 1e-9, skip: tuple = ()) -> None:
    for key, expected in peer.items():
        if key in skip:
            continue
        np.testing.assert_allclose(ours[key], expected, rtol=0, atol=atol, err_msg=key)


# ----------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def sod_subset():
    """30 images per model (every 10th of the 300, sorted by name as MATLAB's dir sorts)."""
    root = require_data("sod")
    names = sorted(p.stem for p in (root / "masks").glob("*.png"))
    assert len(names) == 300
    chosen = list(range(0, 300, 10))
    masks = {i: sod.read_mask(root / "masks" / f"{names[i]}.png") for i in chosen}
    preds = {
        model: {
            i: sod.read_prediction(root / "predictions" / model / f"{names[i]}.png") for i in chosen
        }
        for model in MODELS
    }
    return root, chosen, masks, preds


@pytest.mark.parametrize("model", MODELS)
def test_parity_with_pysodmetrics_on_sod(sod_subset, model):
    _, chosen, masks, preds = sod_subset
    peer, evaluator = _peer(), sod.SODEvaluator()
    for i in chosen:
        pred, mask = preds[model][i], masks[i]
        assert pred.dtype == np.uint8 and mask.dtype == bool
        expected = _peer_step(peer, pred, mask)
        figures = evaluator.update(pred, mask)
        for key in SCALARS:
            assert figures[key] == pytest.approx(expected[key], abs=1e-12), key
    results = evaluator.results()
    fm, em = peer["fm"].get_results(), peer["em"].get_results()
    expected_curves = {
        "precision": fm["pr"]["p"][::-1],
        "recall": fm["pr"]["r"][::-1],
        "fmeasure_curve": fm["fm"]["curve"][::-1],
        "emeasure_curve": em["em"]["curve"][::-1],
    }
    for key, curve in expected_curves.items():
        assert results[key].shape == (256,)
        np.testing.assert_allclose(results[key], curve, rtol=0, atol=1e-9, err_msg=key)
    expected_scalars = {
        "mae": peer["mae"].get_results()["mae"],
        "smeasure": peer["sm"].get_results()["sm"],
        "weighted_fmeasure": peer["wfm"].get_results()["wfm"],
        "adaptive_fmeasure": fm["fm"]["adp"],
        "mean_fmeasure": fm["fm"]["curve"].mean(),
        "max_fmeasure": fm["fm"]["curve"].max(),
        "adaptive_emeasure": em["em"]["adp"],
        "mean_emeasure": em["em"]["curve"].mean(),
        "max_emeasure": em["em"]["curve"].max(),
    }
    assert set(results) == set(sod.SCALAR_KEYS) | set(sod.CURVE_KEYS)
    for key, value in expected_scalars.items():
        assert isinstance(results[key], float)
        assert results[key] == pytest.approx(value, abs=1e-9), key


@pytest.mark.parametrize("model", MODELS)
def test_parity_with_matlab_toolbox_results(sod_subset, model):
    """Per-image MAE, S-measure, adaptive P/R/F and PR curves stored by the MATLAB toolbox
    (float64 in the .mat; they agree to ~1e-13, the rounding of MATLAB's own sums)."""
    scipy_io = pytest.importorskip("scipy.io")
    root, chosen, masks, preds = sod_subset
    stored = scipy_io.loadmat(root / "matlab_results" / f"{model}.mat")
    for i in chosen:
        image = sod.prepare(preds[model][i], masks[i])
        assert sod.mae(image, None) == pytest.approx(stored["MAE_image"][i, 0], abs=1e-12)
        assert sod.smeasure(image, None) == pytest.approx(
            stored["S_measure_image"][i, 0], abs=1e-12
        )
        adaptive = sod.fmeasure(image, None)
        assert adaptive == pytest.approx(stored["mean_Fmeasure_image"][i, 2], abs=1e-12)
        precision, recall = sod.precision_recall(image, None)
        np.testing.assert_allclose(precision, stored["Pre_image"][i, ::-1], rtol=0, atol=1e-12)
        np.testing.assert_allclose(recall, stored["Recall_image"][i, ::-1], rtol=0, atol=1e-12)
    # MATLAB's dataset F curve is F of the mean P and R curves, not the mean of F curves.
    curve = sod.fmeasure_from_pr(stored["Pre"][:, 0], stored["Recall"][:, 0])
    np.testing.assert_allclose(curve, stored["Fmeasure_Curve"][:, 0], rtol=0, atol=1e-12)
    assert curve.max() == pytest.approx(stored["MaxFmeasure"][0, 0], abs=1e-12)


# ----------------------------------------------------------------------------- synthetic


def _disk(h: int = 48, w: int = 64, cy: float = 22, cx: float = 30, r: float = 14) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def _smooth_pred(mask: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noisy = 0.7 * mask + 0.3 * rng.random(mask.shape)
    return np.clip(noisy, 0, 1)


SYNTHETIC = {
    "random": lambda m: (_smooth_pred(m, 0) * 255).astype(np.uint8),
    "all_zero": lambda m: np.zeros(m.shape, np.uint8),
    "all_one": lambda m: np.full(m.shape, 255, np.uint8),
    "constant": lambda m: np.full(m.shape, 77, np.uint8),
    "binary_perfect": lambda m: m.astype(np.uint8) * 255,
    "binary_inverted": lambda m: (~m).astype(np.uint8) * 255,
    "narrow_range": lambda m: (100 + 30 * _smooth_pred(m, 1)).astype(np.uint8),
}
MASKS = {
    "disk": _disk(),
    "empty": np.zeros((48, 64), bool),
    "full": np.ones((48, 64), bool),
    "corner": np.pad(np.ones((5, 7), bool), ((43, 0), (57, 0))),
    "pixel": np.pad(np.ones((1, 1), bool), ((20, 27), (10, 53))),
}


@pytest.mark.parametrize("mask_name", sorted(MASKS))
@pytest.mark.parametrize("pred_name", sorted(SYNTHETIC))
def test_parity_with_pysodmetrics_synthetic(pred_name, mask_name):
    mask = MASKS[mask_name]
    pred = SYNTHETIC[pred_name](mask)
    skip = ()
    if pred_name == "constant" and mask_name in ("corner", "pixel"):
        # constant prediction over a quadrant whose mask is constant: SSIM is 0/0, scored 1
        # by the definition; PySODMetrics' rounded mean makes it 0 (see test below).
        skip = ("smeasure",)
    _assert_same(_ours(pred, mask), _peer_step(_peer(), pred, mask), skip=skip)


@pytest.mark.parametrize("mask_name", ["disk", "corner", "empty"])
def test_parity_with_pysodmetrics_float_input(mask_name):
    """Float maps are used as given, like PySODMetrics with normalize=False."""
    mask = MASKS[mask_name]
    pred = _smooth_pred(mask, 3) * 0.8 + 0.1
    _assert_same(_ours(pred, mask), _peer_step(_peer(), pred, mask, normalize=False))
    for dtype in (np.float32, np.float16):
        low = _ours(pred.astype(dtype), mask)
        exact = _ours(pred.astype(dtype).astype(np.float64), mask)
        _assert_same(low, exact, atol=0)


def test_float_normalize_true_matches_uint8_path():
    mask = MASKS["disk"]
    pred = SYNTHETIC["narrow_range"](mask)
    as_float = sod.prepare(pred / 255.0, mask, normalize=True)
    _assert_same(_ours(as_float, None), _ours(pred, mask), atol=1e-12)


def test_smeasure_constant_prediction_known_value():
    """Constant p = c: object term 0.5 * (2c / (c^2 + 1) mix); region term = the area of the
    quadrants whose mask is constant (SSIM 0/0 -> 1), 0 for the others (variance 0)."""
    mask = MASKS["corner"]  # 5x7 block in the bottom-right corner of 48x64
    c = 77 / 255
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    cy, cx = int(np.round(ys.mean())) + 1, int(np.round(xs.mean())) + 1
    gt_mean = mask.mean()
    obj = gt_mean * 2 * c / (c * c + 1 + sod.EPS) + (1 - gt_mean) * 2 * (1 - c) / (
        (1 - c) ** 2 + 1 + sod.EPS
    )
    quadrants = [(0, cy, 0, cx), (0, cy, cx, w), (cy, h, 0, cx), (cy, h, cx, w)]
    constant_area = sum(
        (y1 - y0) * (x1 - x0)
        for y0, y1, x0, x1 in quadrants
        if np.unique(mask[y0:y1, x0:x1]).size == 1
    )
    assert 0 < constant_area < h * w
    expected = 0.5 * obj + 0.5 * constant_area / (h * w)
    pred = np.full(mask.shape, 77, np.uint8)
    assert sod.smeasure(pred, mask) == pytest.approx(expected, abs=1e-12)
    assert sod.smeasure(np.full(mask.shape, c), mask) == pytest.approx(expected, abs=1e-12)


# ----------------------------------------------------------------------------- grey masks


def _grey_masks(mask: np.ndarray) -> dict[str, np.ndarray]:
    """Non-binary versions of a binary mask as benchmarks ship them (uint8 0..255)."""
    h, w = mask.shape
    image = Image.fromarray(mask.astype(np.uint8) * 255)
    aliased = np.asarray(image.filter(ImageFilter.GaussianBlur(1.2)))  # soft, anti-aliased edges
    resized = image.resize((w // 2, h // 2), Image.BILINEAR)
    resized = np.asarray(resized.resize((w, h), Image.BILINEAR))  # resized down and back up
    buffer = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255).save(buffer, format="JPEG", quality=40)
    jpeg = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("L"))
    shifted = [np.roll(mask, k, axis=1) for k in (-2, 0, 3)]  # three annotators, averaged
    averaged = np.round(np.mean(shifted, axis=0) * 255).astype(np.uint8)
    return {"aliased": aliased, "resized": resized, "jpeg": jpeg, "averaged": averaged}


@pytest.mark.parametrize("kind", ["aliased", "resized", "jpeg", "averaged"])
@pytest.mark.parametrize("pred_name", ["random", "narrow_range", "binary_perfect"])
def test_grey_masks_match_pysodmetrics(kind, pred_name):
    mask = _grey_masks(MASKS["disk"])[kind]
    values = np.unique(mask)
    assert values.size > 2 and np.any((values > 0) & (values < 255))  # really not binary
    pred = SYNTHETIC[pred_name](MASKS["disk"])
    _assert_same(_ours(pred, mask), _peer_step(_peer(), pred, mask))
    # the default is PySODMetrics' gt > 128
    _assert_same(_ours(pred, mask), _ours(pred, mask > 128), atol=0)


def test_grey_masks_of_the_sod_benchmark_match_pysodmetrics(sod_subset):
    _, chosen, masks, preds = sod_subset
    peer, evaluator = _peer(), sod.SODEvaluator()
    for i in chosen[:12]:
        grey = _grey_masks(masks[i])[("aliased", "resized", "jpeg", "averaged")[i % 4]]
        expected = _peer_step(peer, preds["DSS"][i], grey)
        figures = evaluator.update(preds["DSS"][i], grey)
        for key in SCALARS:
            assert figures[key] == pytest.approx(expected[key], abs=1e-12), key
    fm = peer["fm"].get_results()
    np.testing.assert_allclose(
        evaluator.results()["fmeasure_curve"], fm["fm"]["curve"][::-1], rtol=0, atol=1e-12
    )
    assert evaluator.results()["weighted_fmeasure"] == pytest.approx(
        peer["wfm"].get_results()["wfm"], abs=1e-12
    )


def test_mask_threshold_and_strict_masks():
    mask = _grey_masks(MASKS["disk"])["averaged"]  # levels 0, 85, 170, 255
    pred = SYNTHETIC["random"](MASKS["disk"])
    assert set(np.unique(mask)) == {0, 85, 170, 255}
    for threshold in (0, 84, 85, 127, 128, 169, 170, 254.5):
        expected = _ours(pred, mask > threshold)
        _assert_same(_ours(pred, mask, mask_threshold=threshold), expected, atol=0)
        evaluator = sod.SODEvaluator(mask_threshold=threshold)
        assert evaluator.update(pred, mask) == sod.SODEvaluator().update(pred, mask > threshold)
    # floats are levels / 255: the same foreground as the uint8 mask
    _assert_same(_ours(pred, mask / 255.0), _ours(pred, mask), atol=0)
    _assert_same(_ours(pred, mask / 255.0, mask_threshold=85), _ours(pred, mask > 85), atol=0)
    # 0/1 and 0/255 masks are binary whatever the threshold
    binary = MASKS["disk"]
    for as_given in (binary.astype(np.uint8), binary * 255.0, binary.astype(np.int64) * 255):
        _assert_same(_ours(pred, as_given, mask_threshold=254), _ours(pred, binary), atol=0)
        _assert_same(_ours(pred, as_given, strict_masks=True), _ours(pred, binary), atol=0)
    with pytest.raises(ValueError, match="binary mask.*got values 0, 85, 170, 255"):
        sod.mae(pred, mask, strict_masks=True)
    with pytest.raises(ValueError, match="binary mask"):
        sod.SODEvaluator(strict_masks=True).update(pred, mask)
    for bad in (-1, 255, 300):
        with pytest.raises(ValueError, match=r"mask_threshold in \[0, 255\)"):
            sod.SODEvaluator(mask_threshold=bad)
        with pytest.raises(ValueError, match=r"mask_threshold in \[0, 255\)"):
            sod.mae(pred, mask, mask_threshold=bad)
    with pytest.raises(TypeError, match="mask_threshold as a number, got str"):
        sod.SODEvaluator(mask_threshold="128")


# ----------------------------------------------------------------------------- known values


def test_perfect_prediction_known_values():
    mask = MASKS["disk"]
    pred = mask.astype(np.uint8) * 255
    n = mask.size
    assert sod.mae(pred, mask) == 0.0
    assert sod.smeasure(pred, mask) == pytest.approx(1.0, abs=1e-12)
    assert sod.fmeasure(pred, mask) == pytest.approx(1.0, abs=1e-12)
    assert sod.weighted_fmeasure(pred, mask) == pytest.approx(1.0, abs=1e-12)
    # every pixel aligned: sum(phi) = N, divided by N - 1 + eps
    assert sod.emeasure(pred, mask) == pytest.approx(n / (n - 1), rel=1e-15)
    precision, recall = sod.precision_recall(pred, mask)
    assert np.all(precision[1:] == 1.0) and np.all(recall == 1.0)
    assert precision[0] == pytest.approx(mask.mean())  # t = 0 predicts everything


def test_mae_and_fmeasure_by_hand():
    mask = np.array([[1, 1, 0, 0]], bool).repeat(2, axis=0)
    pred = np.array([[1.0, 0.5, 0.5, 0.0]]).repeat(2, axis=0)
    assert sod.mae(pred, mask) == pytest.approx((0 + 0.5 + 0.5 + 0) / 4)
    # adaptive threshold min(2 * 0.5, 1) = 1: one foreground pixel per row predicted
    assert sod.fmeasure(pred, mask) == pytest.approx(1.3 * 1 * 0.5 / (0.3 * 1 + 0.5))
    # threshold 0.5: P = 2/3, R = 1
    assert sod.fmeasure(pred, mask, threshold=0.5) == pytest.approx(
        1.3 * (2 / 3) / (0.3 * (2 / 3) + 1)
    )
    precision, recall = sod.precision_recall(pred, mask)
    # floor(255 * 0.5) = 127: t <= 127 keeps three pixels a row, 128..255 keeps one
    assert precision[127] == pytest.approx(2 / 3) and precision[128] == 1.0
    assert recall[127] == 1.0 and recall[128] == 0.5


def test_evaluator_means_per_image_figures():
    evaluator = sod.SODEvaluator()
    per_image = []
    for seed in range(3):
        mask = _disk(cy=20 + seed, cx=28 + 2 * seed)
        per_image.append(evaluator.update(_smooth_pred(mask, seed), mask))
    assert evaluator.count == 3
    results = evaluator.results()
    for key in SCALARS:
        assert results[key] == pytest.approx(np.mean([f[key] for f in per_image]), abs=1e-15)
    assert results["max_fmeasure"] == pytest.approx(results["fmeasure_curve"].max())
    assert results["max_fmeasure"] <= max(f["max_fmeasure"] for f in per_image)


def test_torch_and_numpy_agree():
    torch = pytest.importorskip("torch")
    mask = MASKS["disk"]
    pred = _smooth_pred(mask, 5)
    expected = _ours(pred, mask)
    got = _ours(torch.from_numpy(pred), torch.from_numpy(mask))
    _assert_same(got, expected, atol=0)


def test_resize_is_explicit():
    mask = MASKS["disk"]
    small = SYNTHETIC["random"](mask)[::2, ::2]
    with pytest.raises(ValueError, match=r"shape \(24, 32\).*shape \(48, 64\)"):
        sod.mae(small, mask)
    resized = np.asarray(Image.fromarray(small).resize((64, 48), Image.BILINEAR))
    assert sod.mae(small, mask, resize=True) == sod.mae(resized, mask)
    evaluator = sod.SODEvaluator(resize=True)
    assert evaluator.update(small, mask)["mae"] == sod.mae(resized, mask)
    # a constant map stays constant: MAE = fraction of foreground (p = 1 everywhere)
    ones = np.full((10, 13), 255, np.uint8)
    assert sod.mae(ones, mask, resize=True) == pytest.approx(1 - mask.mean())


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("pred", "mask", "message"),
    [
        (np.full((4, 4), np.nan), np.ones((4, 4), bool), "NaN"),
        (np.full((4, 4), 1.5), np.ones((4, 4), bool), r"\[0, 1\].*max 1.5"),
        (np.zeros((4, 4), np.int64), np.ones((4, 4), bool), "uint8.*float.*int64"),
        (np.zeros((4, 4), bool), np.ones((4, 4), bool), "got dtype bool"),
        (np.zeros((0, 4), np.uint8), np.ones((0, 4), bool), "non-empty pred"),
        (np.zeros((2, 4, 4), np.uint8), np.ones((4, 4), bool), r"\(H, W\).*\(2, 4, 4\)"),
        (np.zeros((4, 4), np.uint8), np.full((4, 4), 300, np.int16), "levels 0..255.*max 300"),
        (np.zeros((4, 4), np.uint8), np.full((4, 4), 1.5), r"float mask in \[0, 1\].*max 1.5"),
        (np.zeros((4, 4), np.uint8), np.full((4, 4), np.nan), "finite mask"),
        (np.zeros((4, 4), np.uint8), np.ones((4, 5), bool), r"\(4, 4\).*\(4, 5\)"),
    ],
)
def test_bad_input_raises_value_error(pred, mask, message):
    for fn in (sod.mae, sod.fmeasure, sod.smeasure, sod.emeasure, sod.weighted_fmeasure):
        with pytest.raises(ValueError, match=message):
            fn(pred, mask)
    with pytest.raises(ValueError, match=message):
        sod.SODEvaluator().update(pred, mask)


def test_evaluator_without_images_and_bad_threshold():
    with pytest.raises(ValueError, match="at least one image, got 0"):
        sod.SODEvaluator().results()
    with pytest.raises(ValueError, match="'adaptive' or a float, got 'max'"):
        sod.fmeasure(np.zeros((2, 2), np.uint8), np.ones((2, 2), bool), threshold="max")
