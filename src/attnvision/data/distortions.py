"""Distorted-digit tasks of the spatial-attention papers, reproducible from a generator.

Every function takes one ``(C, H, W)`` float image in ``[0, 1]`` (a digit on a zero
background) and a ``torch.Generator`` and returns a new image; all random numbers come
from that generator, in a fixed order, so the same generator state gives the same image.
Datasets seed one generator per item with :func:`item_generator` ``(seed, index)``.

The digit is always kept whole inside the canvas: warps are computed into a canvas with
a margin, the digit's ink box (pixels > 0) is cut out and pasted into the output canvas;
if a warp pushed it past a border it is shifted back, and in the rare case that it is
larger than the canvas it is shrunk to fit (bilinear).

References (``R``, ``RTS``, ``P``, ``E`` as in Jaderberg et al. 2015, appendix A.1;
translated / cluttered as in Mnih et al. 2014, sec. 4.1, and Almahairi et al. 2016):

- ``rotated`` (R): rotation by an angle uniform in +/-90 deg, same canvas.
- ``rts``: rotation +/-45 deg, scale uniform in [0.7, 1.2], placed at a uniformly random
  position in a 42x42 canvas.
- ``projective`` (P): scale uniform in [0.75, 1], then the four image corners moved by
  Gaussian noise (std 5 px) and the projective map between the corners applied.
- ``elastic`` (E): a thin-plate-spline warp whose 4x4 grid of control points is moved by
  Gaussian noise (std 2 px). The paper gives no number we could check; these defaults
  are our reading and are options.
- ``translated``: the whole image pasted at a uniformly random position in a 60x60 canvas.
- ``cluttered``: ``translated``, plus ``pieces`` random ``piece_size`` x ``piece_size``
  crops of other random digits pasted at random places (combined by maximum); 60x60 with
  4 pieces (RAM) or 100x100 with 8 pieces (DCN).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

Fragments = Callable[[torch.Generator], torch.Tensor]


def item_generator(seed: int, index: int) -> torch.Generator:
    """A CPU generator seeded from ``(seed, index)`` through NumPy's ``SeedSequence``.

    The mapping is fixed and machine-independent, and items with nearby indices get
    unrelated streams.
    """
    if seed < 0 or index < 0:
        raise ValueError(f"expected seed >= 0 and index >= 0, got seed={seed}, index={index}")
    state = np.random.SeedSequence([int(seed), int(index)]).generate_state(1, dtype=np.uint64)
    return torch.Generator().manual_seed(int(state[0]) & 0x7FFF_FFFF_FFFF_FFFF)


def _uniform(gen: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=gen, dtype=torch.float64))


def _randint(gen: torch.Generator, high: int) -> int:
    """Uniform integer in ``[0, high]`` (inclusive)."""
    return int(torch.randint(0, high + 1, (), generator=gen))


def _check_image(image: torch.Tensor, name: str) -> None:
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"{name} expected a torch.Tensor image, got {type(image).__name__}")
    if image.dim() != 3 or not image.is_floating_point():
        raise ValueError(
            f"{name} expected a float image of shape (C, H, W), got dtype {image.dtype} "
            f"shape {tuple(image.shape)}"
        )


def sample_at(image: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``image`` ``(C, H, W)`` at pixel coordinates ``coords``.

    ``coords`` is ``(h, w, 2)`` with ``(x, y)`` = (column, row) in pixels, pixel centres at
    integers; points outside read zeros. Returns ``(C, h, w)``.
    """
    _, height, width = image.shape
    coords = coords.to(torch.float64)
    gx = (2.0 * coords[..., 0] + 1.0) / width - 1.0  # align_corners=False convention
    gy = (2.0 * coords[..., 1] + 1.0) / height - 1.0
    grid = torch.stack([gx, gy], dim=-1).unsqueeze(0).to(image.dtype)
    out = F.grid_sample(
        image.unsqueeze(0), grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    return out[0].clamp_(0.0, 1.0)


def _pixel_grid(height: int, width: int) -> torch.Tensor:
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float64),
        torch.arange(width, dtype=torch.float64),
        indexing="ij",
    )
    return torch.stack([xs, ys], dim=-1)


def warp_homography(
    image: torch.Tensor, inverse: torch.Tensor, out_size: tuple[int, int]
) -> torch.Tensor:
    """Warp ``image`` ``(C, H, W)`` with the 3x3 map ``inverse`` from output to input pixels.

    Output pixel ``(x, y)`` reads the input at ``inverse @ (x, y, 1)`` (divided by its third
    coordinate); bilinear, zeros outside. Returns ``(C, *out_size)``.
    """
    points = _pixel_grid(*out_size)
    ones = torch.ones(points.shape[:-1] + (1,), dtype=torch.float64)
    mapped = torch.cat([points, ones], dim=-1) @ inverse.to(torch.float64).T
    return sample_at(image, mapped[..., :2] / mapped[..., 2:3])


def _translate(tx: float, ty: float) -> torch.Tensor:
    return torch.tensor([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]], dtype=torch.float64)


def _rotate_scale(angle_deg: float, scale: float) -> torch.Tensor:
    a = math.radians(angle_deg)
    c, s = scale * math.cos(a), scale * math.sin(a)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


def _ink_box(image: torch.Tensor) -> tuple[int, int, int, int] | None:
    mask = image.amax(dim=0) > 0
    rows = torch.nonzero(mask.any(dim=1)).flatten()
    cols = torch.nonzero(mask.any(dim=0)).flatten()
    if len(rows) == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _paste(
    big: torch.Tensor,
    margin: int,
    out_size: tuple[int, int],
    gen: torch.Generator | None,
) -> torch.Tensor:
    """Cut the ink box out of ``big`` and paste it into an ``out_size`` canvas.

    With ``gen`` the position is uniform over all positions that keep it inside; without,
    it goes where the warp put it (``big`` has ``margin`` extra pixels on each side),
    shifted back inside if needed.
    """
    channels = big.shape[0]
    out_h, out_w = out_size
    canvas = big.new_zeros((channels, out_h, out_w))
    box = _ink_box(big)
    if box is None:
        if gen is not None:  # keep the number of draws fixed
            _randint(gen, 0)
            _randint(gen, 0)
        return canvas
    r0, r1, c0, c1 = box
    crop = big[:, r0:r1, c0:c1]
    h, w = crop.shape[1:]
    if h > out_h or w > out_w:
        factor = min(out_h / h, out_w / w)
        size = (max(1, min(out_h, int(h * factor))), max(1, min(out_w, int(w * factor))))
        crop = F.interpolate(crop[None], size=size, mode="bilinear", align_corners=False)[0]
        h, w = crop.shape[1:]
    if gen is not None:
        top, left = _randint(gen, out_h - h), _randint(gen, out_w - w)
    else:
        top = min(max(r0 - margin, 0), out_h - h)
        left = min(max(c0 - margin, 0), out_w - w)
    canvas[:, top : top + h, left : left + w] = crop
    return canvas


def _warp_keep_inside(
    image: torch.Tensor, forward: torch.Tensor, out_size: tuple[int, int]
) -> torch.Tensor:
    """Apply the input->output pixel map ``forward`` (3x3) into ``out_size``, keeping the
    digit whole inside."""
    margin = max(out_size)
    shift = _translate(float(margin), float(margin))
    inverse = torch.linalg.inv(shift @ forward)
    big = warp_homography(image, inverse, (out_size[0] + 2 * margin, out_size[1] + 2 * margin))
    return _paste(big, margin, out_size, None)


def rotated(
    image: torch.Tensor, generator: torch.Generator, *, max_angle: float = 90.0
) -> torch.Tensor:
    """R: rotate about the image centre by an angle uniform in ``[-max_angle, max_angle]``
    degrees (Jaderberg et al. 2015, A.1). ``(C, H, W)`` -> ``(C, H, W)``."""
    _check_image(image, "rotated")
    _, height, width = image.shape
    angle = _uniform(generator, -max_angle, max_angle)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    forward = _translate(cx, cy) @ _rotate_scale(angle, 1.0) @ _translate(-cx, -cy)
    return _warp_keep_inside(image, forward, (height, width))


def rts(
    image: torch.Tensor,
    generator: torch.Generator,
    *,
    max_angle: float = 45.0,
    scale: tuple[float, float] = (0.7, 1.2),
    canvas: int = 42,
) -> torch.Tensor:
    """RTS: rotate (+/-``max_angle`` deg), scale (uniform in ``scale``) and place at a
    uniformly random position in a ``canvas`` x ``canvas`` image (Jaderberg et al. 2015,
    A.1: +/-45 deg, 0.7-1.2, 42x42). ``(C, H, W)`` -> ``(C, canvas, canvas)``."""
    _check_image(image, "rts")
    _, height, width = image.shape
    angle = _uniform(generator, -max_angle, max_angle)
    factor = _uniform(generator, scale[0], scale[1])
    side = int(math.ceil(max(height, width) * max(scale) * math.sqrt(2.0))) + 2
    cx, cy = (width - 1) / 2, (height - 1) / 2
    mid = (side - 1) / 2
    forward = _translate(mid, mid) @ _rotate_scale(angle, factor) @ _translate(-cx, -cy)
    big = warp_homography(image, torch.linalg.inv(forward), (side, side))
    return _paste(big, 0, (canvas, canvas), generator)


def _homography_from_points(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 projective map taking the 4 points ``src`` to ``dst`` (direct linear solve)."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.extend([u, v])
    h = np.linalg.solve(np.asarray(rows, dtype=np.float64), np.asarray(rhs, dtype=np.float64))
    return np.append(h, 1.0).reshape(3, 3)


def projective(
    image: torch.Tensor,
    generator: torch.Generator,
    *,
    scale: tuple[float, float] = (0.75, 1.0),
    corner_std: float = 5.0,
) -> torch.Tensor:
    """P: scale about the centre (uniform in ``scale``), then move the four image corners
    by Gaussian noise with ``corner_std`` pixels and apply the projective map between the
    corners (Jaderberg et al. 2015, A.1). ``(C, H, W)`` -> ``(C, H, W)``."""
    _check_image(image, "projective")
    _, height, width = image.shape
    factor = _uniform(generator, scale[0], scale[1])
    noise = torch.randn(4, 2, generator=generator, dtype=torch.float64).numpy() * corner_std
    cx, cy = (width - 1) / 2, (height - 1) / 2
    corners = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], float)
    scaled = (corners - [cx, cy]) * factor + [cx, cy]
    forward = torch.from_numpy(_homography_from_points(corners, scaled + noise))
    return _warp_keep_inside(image, forward, (height, width))


def _tps_map(control: np.ndarray, target: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Thin-plate spline through ``control -> target`` (K, 2) evaluated at ``points`` (M, 2).

    Kernel ``U(r) = r^2 log r^2`` (Bookstein 1989), with an affine part.
    """

    def kernel(d2: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(d2 > 0, d2 * np.log(d2), 0.0)

    k = len(control)
    d2 = ((control[:, None, :] - control[None, :, :]) ** 2).sum(-1)
    p = np.concatenate([np.ones((k, 1)), control], axis=1)
    system = np.zeros((k + 3, k + 3))
    system[:k, :k] = kernel(d2)
    system[:k, k:] = p
    system[k:, :k] = p.T
    rhs = np.zeros((k + 3, 2))
    rhs[:k] = target
    coef = np.linalg.solve(system, rhs)
    d2p = ((points[:, None, :] - control[None, :, :]) ** 2).sum(-1)
    basis = np.concatenate([kernel(d2p), np.ones((len(points), 1)), points], axis=1)
    return basis @ coef


def elastic(
    image: torch.Tensor,
    generator: torch.Generator,
    *,
    grid: int = 4,
    displacement_std: float = 2.0,
) -> torch.Tensor:
    """E: thin-plate-spline warp through a ``grid`` x ``grid`` lattice of control points
    spanning the image, each moved by Gaussian noise with ``displacement_std`` pixels
    (Jaderberg et al. 2015, A.1). ``(C, H, W)`` -> ``(C, H, W)``."""
    _check_image(image, "elastic")
    _, height, width = image.shape
    noise = torch.randn(grid * grid, 2, generator=generator, dtype=torch.float64).numpy()
    xs, ys = np.meshgrid(np.linspace(0, width - 1, grid), np.linspace(0, height - 1, grid))
    control = np.stack([xs.ravel(), ys.ravel()], axis=1)
    margin = max(height, width)
    out_h, out_w = height + 2 * margin, width + 2 * margin
    points = _pixel_grid(out_h, out_w).reshape(-1, 2).numpy() - margin
    # output control point c reads the input at c + noise: the spline maps output -> input
    mapped = _tps_map(control, control + noise * displacement_std, points)
    big = sample_at(image, torch.from_numpy(mapped).reshape(out_h, out_w, 2))
    return _paste(big, margin, (height, width), None)


def translated(
    image: torch.Tensor, generator: torch.Generator, *, canvas: int = 60
) -> torch.Tensor:
    """Paste the whole image at a uniformly random position in a ``canvas`` x ``canvas``
    zero image (Mnih et al. 2014, sec. 4.1). ``(C, H, W)`` -> ``(C, canvas, canvas)``."""
    _check_image(image, "translated")
    channels, height, width = image.shape
    if height > canvas or width > canvas:
        raise ValueError(
            f"translated: expected an image at most {canvas}x{canvas}, got {height}x{width}"
        )
    top, left = _randint(generator, canvas - height), _randint(generator, canvas - width)
    out = image.new_zeros((channels, canvas, canvas))
    out[:, top : top + height, left : left + width] = image
    return out


def cluttered(
    image: torch.Tensor,
    generator: torch.Generator,
    *,
    fragments: Fragments,
    canvas: int = 60,
    pieces: int = 4,
    piece_size: int = 8,
) -> torch.Tensor:
    """:func:`translated`, then ``pieces`` clutter fragments: for each, ``fragments(gen)``
    returns another digit, a random ``piece_size`` x ``piece_size`` crop of it is pasted at a
    random position, combined with the canvas by maximum (Mnih et al. 2014: 60x60, 4 pieces
    of 8x8; Almahairi et al. 2016: 100x100, 8 pieces). The digit's own placement is drawn
    first, so the result is ``>=`` :func:`translated` with the same generator state.
    ``(C, H, W)`` -> ``(C, canvas, canvas)``."""
    _check_image(image, "cluttered")
    out = translated(image, generator, canvas=canvas)
    for _ in range(pieces):
        other = fragments(generator)
        _check_image(other, "cluttered fragments")
        height, width = other.shape[1:]
        size_h, size_w = min(piece_size, height), min(piece_size, width)
        r, c = _randint(generator, height - size_h), _randint(generator, width - size_w)
        top, left = _randint(generator, canvas - size_h), _randint(generator, canvas - size_w)
        region = out[:, top : top + size_h, left : left + size_w]
        torch.maximum(region, other[:, r : r + size_h, c : c + size_w], out=region)
    return out


#: distortion name -> function; ``cluttered`` needs ``fragments=`` (datasets supply it).
DISTORTIONS: dict[str, Callable[..., torch.Tensor]] = {
    "rotated": rotated,
    "rts": rts,
    "projective": projective,
    "elastic": elastic,
    "translated": translated,
    "cluttered": cluttered,
}
