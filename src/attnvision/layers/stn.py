"""Spatial transformer layer (Jaderberg et al., "Spatial Transformer Networks", NeurIPS 2015).

A localisation network regresses the parameters ``theta`` of a spatial transform from
the input (sec. 3.1), a grid generator turns them into a sampling grid (sec. 3.2, eq. 1
for the affine case, thin-plate spline as in sec. 3.2 / appendix), and a differentiable
bilinear sampler reads the input at that grid (sec. 3.3, eq. 5).

Submodules, named so :func:`attnvision.explain.capture` can hook them:

- ``loc``: :class:`Localisation`, ``(N, C, H, W) -> (N, P)`` transform parameters;
- ``grid``: :class:`AffineGrid` or :class:`TPSGrid`, parameters -> ``(N, H', W', 2)`` grid;
- ``sampler``: :class:`GridSampler`, whose output is the warped input ``(N, C, H', W')``.

Coordinates are normalised to ``[-1, 1]`` with ``align_corners=False`` by default:
``-1`` and ``1`` are the outer edges of the border pixels, so the identity grid reads
every pixel at its centre and the layer at initialisation returns its input exactly (up
to float rounding).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._utils import Device, check_feature_map, create_act, factory_kwargs

#: transform name -> number of parameters.
TRANSFORMS: dict[str, int] = {
    "translation": 2,  # (tx, ty)
    "translation_scale": 3,  # (s, tx, ty): the "attention" transform of the paper
    "similarity": 4,  # (a, b, tx, ty) = (s cos r, s sin r, tx, ty)
    "affine": 6,  # the 2x3 matrix, row-major
    "tps": -1,  # 2 * grid_size**2 control-point targets (x, y)
}


def identity_params(transform: str, tps_grid: int = 4) -> torch.Tensor:
    """Parameters of the identity transform for ``transform`` (the localisation bias)."""
    if transform == "translation":
        return torch.tensor([0.0, 0.0])
    if transform == "translation_scale":
        return torch.tensor([1.0, 0.0, 0.0])
    if transform == "similarity":
        return torch.tensor([1.0, 0.0, 0.0, 0.0])
    if transform == "affine":
        return torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    if transform == "tps":
        return tps_control_points(tps_grid).flatten()
    raise ValueError(
        f"unknown transform {transform!r}; expected one of: {', '.join(sorted(TRANSFORMS))}"
    )


def initial_params(transform: str, scale: float = 1.0, tps_grid: int = 4) -> torch.Tensor:
    """Parameters of a centred zoom by ``scale`` (the localisation head's starting bias).

    ``scale`` is the side of the window read, as a fraction of the input (``1``: the
    identity; ``0.6``: the central 60 %, magnified). ``"translation"`` has no scale
    parameter: its window size is fixed (see :func:`params_to_theta`), so its parameters
    start at zero shift for any ``scale``."""
    params = identity_params(transform, tps_grid)
    if not 0.0 < scale:
        raise ValueError(f"expected init_scale > 0, got {scale}")
    if scale == 1.0 or transform == "translation":
        return params
    index = {"translation_scale": [0], "similarity": [0], "affine": [0, 4]}.get(transform)
    if index is None:  # tps: the control points' targets
        return params * scale
    params[index] = scale
    return params


def params_to_theta(params: torch.Tensor, transform: str, scale: float = 1.0) -> torch.Tensor:
    """``(N, P)`` parameters of a linear transform -> ``(N, 2, 3)`` affine matrices.

    ``theta`` maps output coordinates ``(x, y, 1)`` to input coordinates (eq. 1):
    translation ``[[scale, 0, tx], [0, scale, ty]]`` (``scale`` fixed, not a parameter: a
    window of constant size that only moves), translation_scale ``[[s, 0, tx], [0, s, ty]]``,
    similarity ``[[a, -b, tx], [b, a, ty]]``, affine: the 6 numbers row-major.
    """
    one = torch.ones_like(params[:, 0])
    zero = torch.zeros_like(params[:, 0])
    if transform == "translation":
        rows = [one * scale, zero, params[:, 0], zero, one * scale, params[:, 1]]
    elif transform == "translation_scale":
        s = params[:, 0]
        rows = [s, zero, params[:, 1], zero, s, params[:, 2]]
    elif transform == "similarity":
        a, b = params[:, 0], params[:, 1]
        rows = [a, -b, params[:, 2], b, a, params[:, 3]]
    elif transform == "affine":
        return params.reshape(-1, 2, 3)
    else:
        raise ValueError("params_to_theta: expected a linear transform, got " + transform)
    return torch.stack(rows, dim=1).reshape(-1, 2, 3)


def tps_control_points(grid_size: int) -> torch.Tensor:
    """``(grid_size**2, 2)`` control points ``(x, y)`` on a regular grid over ``[-1, 1]^2``."""
    if grid_size < 2:
        raise ValueError(f"expected tps_grid >= 2, got {grid_size}")
    axis = torch.linspace(-1.0, 1.0, grid_size, dtype=torch.float64)
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], dim=1).to(torch.float32)


def _tps_kernel(d2: torch.Tensor) -> torch.Tensor:
    """Thin-plate radial basis ``U(r) = r^2 log r^2`` from squared distances (0 at 0)."""
    return d2 * torch.log(d2.clamp_min(1e-20))


def _normed(
    layer: nn.Conv2d | nn.Linear, norm: bool, act_layer: type[nn.Module] | str | None
) -> list[nn.Module]:
    """``layer`` -> batch norm (with ``norm``; 2-D after a convolution, 1-D after a linear
    layer, on the layer's device and dtype) -> activation (default ReLU)."""
    out = []
    if norm:
        width = layer.out_channels if isinstance(layer, nn.Conv2d) else layer.out_features
        bn = nn.BatchNorm2d if isinstance(layer, nn.Conv2d) else nn.BatchNorm1d
        out.append(bn(width, device=layer.weight.device, dtype=layer.weight.dtype))
    return [layer, *out, create_act(act_layer, nn.ReLU)]


class Localisation(nn.Module):
    """Localisation network ``f_loc``: ``(N, C, H, W) -> (N, num_params)`` (sec. 3.1).

    Conv 5x5 -> act -> adaptive max-pool to ``pool[0]`` -> conv 3x3 -> act -> adaptive
    average-pool to ``pool[1]`` -> linear -> act -> ``head`` linear. Adaptive pooling makes
    it work on any input size (1x1 included). ``head`` starts at the identity transform:
    weights zero, bias ``identity`` (sec. 4.1). With zero head weights the earlier layers
    still receive (zero) gradients, and non-zero ones after the first update. ``norm``
    puts batch norm after each conv and the hidden linear layer (before the activation),
    so no hidden unit can go silent for every image.
    """

    def __init__(
        self,
        channels: int,
        identity: torch.Tensor,
        loc_channels: Sequence[int] = (16, 32),
        loc_hidden: int = 64,
        pool: Sequence[int] = (12, 4),
        act_layer: type[nn.Module] | str | None = None,
        norm: bool = False,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        dd = factory_kwargs(device, dtype)
        c1, c2 = int(loc_channels[0]), int(loc_channels[1])
        flat = c2 * int(pool[1]) ** 2
        self.features = nn.Sequential(
            *_normed(nn.Conv2d(channels, c1, 5, padding=2, bias=not norm, **dd), norm, act_layer),
            nn.AdaptiveMaxPool2d(int(pool[0])),
            *_normed(nn.Conv2d(c1, c2, 3, padding=1, bias=not norm, **dd), norm, act_layer),
            nn.AdaptiveAvgPool2d(int(pool[1])),
        )
        self.fc = nn.Sequential(
            nn.Flatten(1),
            *_normed(nn.Linear(flat, loc_hidden, bias=not norm, **dd), norm, act_layer),
        )
        self.head = nn.Linear(loc_hidden, identity.numel(), **dd)
        nn.init.zeros_(self.head.weight)
        with torch.no_grad():
            self.head.bias.copy_(identity)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W) -> (N, num_params)``."""
        return self.head(self.fc(self.features(x)))


class SoftArgmaxLocalisation(nn.Module):
    """A convolutional localisation network for ``"translation"``: ``(N, C, H, W) -> (N, 2)``.

    Conv 5x5 -> (batch norm) -> act -> max-pool 2 -> conv 3x3 -> (batch norm) -> act ->
    conv 3x3 to one channel: a score map ``S`` at half the input's resolution. The window
    centre is its spatial soft-argmax, ``t = sum_ij softmax(S)_ij * p_ij`` with ``p_ij`` the
    cell centres in ``[-1, 1]`` (the spatial softmax of Levine et al., JMLR 2016, sec. 4.2;
    DSNT, Nibali et al. 2018). The STN paper lets ``f_loc`` take any form that ends in a
    regression of the parameters (sec. 3.1); this one is translation-equivariant, so it
    learns "where is the object" from far fewer examples than a fully connected
    regression (on the cluttered built-in digits of ``attnvision compare``: 2-3 px mean
    error after 5 epochs, against 10-17 px; BENCHMARKS.md, "The main job"). The last
    convolution starts at zero: a uniform score map, the window at the centre.
    """

    def __init__(
        self,
        channels: int,
        loc_channels: Sequence[int] = (8, 16),
        act_layer: type[nn.Module] | str | None = None,
        norm: bool = True,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        dd = factory_kwargs(device, dtype)
        c1, c2 = int(loc_channels[0]), int(loc_channels[1])

        self.features = nn.Sequential(
            *_normed(nn.Conv2d(channels, c1, 5, padding=2, bias=not norm, **dd), norm, act_layer),
            nn.MaxPool2d(2, ceil_mode=True),
            *_normed(nn.Conv2d(c1, c2, 3, padding=1, bias=not norm, **dd), norm, act_layer),
        )
        self.score = nn.Conv2d(c2, 1, 3, padding=1, **dd)
        nn.init.zeros_(self.score.weight)
        nn.init.zeros_(self.score.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W) -> (N, 2)``: the soft-argmax ``(x, y)`` in ``[-1, 1]``."""
        scores = self.score(self.features(x))[:, 0]
        n, h, w = scores.shape
        weights = torch.softmax(scores.reshape(n, h * w).float(), dim=1).reshape(n, h, w)
        ys = (torch.arange(h, device=x.device, dtype=weights.dtype) + 0.5) * (2.0 / h) - 1.0
        xs = (torch.arange(w, device=x.device, dtype=weights.dtype) + 0.5) * (2.0 / w) - 1.0
        centre = torch.stack([(weights.sum(1) * xs).sum(1), (weights.sum(2) * ys).sum(1)], 1)
        return centre.to(x.dtype)


#: localisation network name -> class (``SpatialTransformer(loc=...)``)
LOCALISATIONS = ("regression", "softargmax")


class AffineGrid(nn.Module):
    """Grid generator for the linear transforms (eq. 1): parameters -> ``(N, H, W, 2)``.

    ``scale`` is the fixed window size of ``"translation"`` (ignored by the others, whose
    scale is a parameter)."""

    def __init__(
        self, transform: str = "affine", align_corners: bool = False, scale: float = 1.0
    ) -> None:
        super().__init__()
        if transform not in TRANSFORMS or transform == "tps":
            raise ValueError(
                f"AffineGrid: expected a linear transform (translation, translation_scale, "
                f"similarity, affine), got {transform!r}"
            )
        self.transform = transform
        self.align_corners = align_corners
        self.scale = float(scale)

    def forward(self, params: torch.Tensor, size: list[int]) -> torch.Tensor:
        """``params`` ``(N, P)``, ``size`` ``[N, C, H, W]`` of the output -> grid."""
        theta = params_to_theta(params, self.transform, self.scale)
        return F.affine_grid(theta, size, align_corners=self.align_corners)


class TPSGrid(nn.Module):
    """Thin-plate-spline grid generator (sec. 3.2; Bookstein 1989).

    The parameters are the input positions ``(x, y)`` of ``grid_size**2`` control points
    fixed on a regular grid of the output; the spline through them (kernel
    ``U(r) = r^2 log r^2`` plus an affine part) maps every output point to the input.
    The inverse of the ``(K + 3, K + 3)`` spline system is precomputed as a buffer.
    """

    def __init__(
        self,
        grid_size: int = 4,
        align_corners: bool = False,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        buffer = {"device": device, "dtype": dtype or torch.float32}
        control = tps_control_points(grid_size).to(torch.float64)
        k = control.shape[0]
        d2 = ((control[:, None, :] - control[None, :, :]) ** 2).sum(-1)
        p = torch.cat([torch.ones(k, 1, dtype=torch.float64), control], dim=1)
        system = torch.zeros(k + 3, k + 3, dtype=torch.float64)
        system[:k, :k] = _tps_kernel(d2)
        system[:k, k:] = p
        system[k:, :k] = p.T
        inverse = torch.linalg.inv(system)
        self.grid_size = grid_size
        self.align_corners = align_corners
        self.register_buffer("control", control.to(**buffer), persistent=False)
        # only the first K columns matter: the right-hand side is [targets; 0]
        self.register_buffer("inverse", inverse[:, :k].to(**buffer).contiguous(), persistent=False)

    def forward(self, params: torch.Tensor, size: list[int]) -> torch.Tensor:
        """``params`` ``(N, 2K)`` control-point targets, ``size`` ``[N, C, H, W]`` -> grid."""
        n, h, w = size[0], size[2], size[3]
        k = self.control.shape[0]
        control = self.control.to(params.dtype)
        # the spline is linear in the targets and reproduces the identity exactly, so solve
        # for the displacement from the identity: exact (not just close) at initialisation
        offset = params.reshape(-1, k, 2) - control
        coef = torch.matmul(self.inverse.to(params.dtype), offset)  # (N, K + 3, 2)
        eye = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=params.dtype)
        base = F.affine_grid(
            eye.to(params.device)[None], [1, 1, h, w], align_corners=self.align_corners
        ).reshape(h * w, 2)
        d2 = ((base[:, None, :] - control[None, :, :]) ** 2).sum(-1)
        basis = torch.cat([_tps_kernel(d2), torch.ones_like(base[:, :1]), base], dim=1)
        return (base + torch.matmul(basis, coef)).reshape(n, h, w, 2)


class GridSampler(nn.Module):
    """Differentiable sampler (sec. 3.3): ``F.grid_sample`` of ``(N, C, H, W)`` at a grid.

    Its output is the warped input ``(N, C, H', W')``; hook it to see what the network read.
    """

    def __init__(
        self, mode: str = "bilinear", padding_mode: str = "zeros", align_corners: bool = False
    ) -> None:
        super().__init__()
        self.mode = mode
        self.padding_mode = padding_mode
        self.align_corners = align_corners

    def forward(self, x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        """``x`` ``(N, C, H, W)``, ``grid`` ``(N, H', W', 2)`` -> ``(N, C, H', W')``."""
        return F.grid_sample(
            x,
            grid.to(x.dtype),
            mode=self.mode,
            padding_mode=self.padding_mode,
            align_corners=self.align_corners,
        )


class SpatialTransformer(nn.Module):
    """Spatial transformer layer (Jaderberg et al. 2015): ``(N, C, H, W) -> (N, C, H', W')``.

    ``(H', W') = out_size`` (default: the input's size, so as an attention block it keeps
    the shape). Starts as the identity: the localisation head has zero weights and the
    identity parameters as bias.

    Args:
        channels: input channels ``C``.
        transform: ``"affine"`` (6 parameters, default), ``"translation"`` (2),
            ``"translation_scale"`` (3; the paper's "attention"; ``"translation"`` reads a
            window of the fixed size ``init_scale``), ``"similarity"``
            (4: rotation, isotropic scale, translation) or ``"tps"`` (thin-plate spline with
            ``tps_grid**2`` control points).
        out_size: output ``(H', W')`` (or an int); ``None`` keeps the input size.
        loc_channels: widths of the localisation network's two conv layers.
        loc_hidden: width of its hidden linear layer.
        tps_grid: control points per side for ``"tps"``.
        align_corners: coordinate convention of ``affine_grid`` / ``grid_sample``
            (``False``: ``+/-1`` are the outer pixel edges).
        mode: ``grid_sample`` interpolation (``"bilinear"`` as in the paper).
        padding_mode: what is read outside the input (``"zeros"``).
        act_layer: activation of the localisation network (default ``nn.ReLU``). On
            cluttered inputs, ReLU hidden units tend to die under Adam before the
            identity-initialised head carries an input-dependent transform, and the layer
            stays at the identity; ``"tanh"`` units cannot die and leave the identity more
            often (3 runs in 4 against 1 in 4 on cluttered MNIST; BENCHMARKS.md, "Spatial
            attention reproductions").
        loc_norm: batch norm in the localisation network (see :class:`Localisation`).
        loc: the localisation network: ``"regression"`` (:class:`Localisation`, conv layers
            and a fully connected regression of the parameters, the paper's) or
            ``"softargmax"`` (:class:`SoftArgmaxLocalisation`, a score map whose soft-argmax
            is the window centre; ``transform="translation"`` only; ``loc_hidden`` unused).
        init_scale: the transform starts as a centred zoom reading this fraction of each
            side (``1``: the identity, the paper's start). On cluttered MNIST an identity
            start never zoomed in; started at 0.6 with ``loc_norm=True`` the layer kept a
            zoom (scale 0.77-0.86) and followed the digit (correlation 0.8; BENCHMARKS.md,
            "Spatial attention reproductions"). With ``init_scale != 1`` the layer is not
            the identity at initialisation. ``"translation"`` has no scale parameter, so
            there the window keeps this size for good: a fixed zoom that only moves (the
            form that localised the digit best on cluttered MNIST; BENCHMARKS.md, same
            section).
        device, dtype: where and in which floating dtype the parameters and buffers are
            created (``torch.nn``'s factory arguments, as timm's layers take them).

    Example:
        >>> stn = SpatialTransformer(1, out_size=(30, 30))
        >>> stn(torch.rand(2, 1, 60, 60)).shape
        torch.Size([2, 1, 30, 30])
    """

    def __init__(
        self,
        channels: int,
        *,
        transform: str = "affine",
        out_size: int | Sequence[int] | None = None,
        loc_channels: Sequence[int] = (16, 32),
        loc_hidden: int = 64,
        tps_grid: int = 4,
        align_corners: bool = False,
        mode: str = "bilinear",
        padding_mode: str = "zeros",
        act_layer: type[nn.Module] | str | None = None,
        loc_norm: bool = False,
        init_scale: float = 1.0,
        loc: str = "regression",
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"SpatialTransformer expected channels >= 1, got {channels!r}")
        if loc not in LOCALISATIONS:
            raise ValueError(
                f"SpatialTransformer expected loc in {', '.join(LOCALISATIONS)}, got {loc!r}"
            )
        if loc == "softargmax" and transform != "translation":
            raise ValueError(
                "SpatialTransformer(loc='softargmax') gives a position: expected transform "
                f"'translation', got {transform!r}"
            )
        if transform not in TRANSFORMS:
            raise ValueError(
                f"SpatialTransformer got unknown transform {transform!r}; expected one of: "
                + ", ".join(sorted(TRANSFORMS))
            )
        if isinstance(out_size, int):
            out_size = (out_size, out_size)
        self.channels = channels
        self.transform = transform
        #: the identity transform at the start (to the sampler's interpolation rounding)
        self.starts_as_identity = float(init_scale) == 1.0 and out_size is None
        self.out_size = [int(s) for s in out_size] if out_size is not None else [0, 0]
        self.loc: nn.Module
        if loc == "softargmax":
            self.loc = SoftArgmaxLocalisation(
                channels, loc_channels, act_layer, bool(loc_norm), device=device, dtype=dtype
            )
        else:
            self.loc = Localisation(
                channels,
                initial_params(transform, float(init_scale), tps_grid),
                loc_channels=loc_channels,
                loc_hidden=loc_hidden,
                act_layer=act_layer,
                norm=bool(loc_norm),
                device=device,
                dtype=dtype,
            )
        self.grid: nn.Module
        if transform == "tps":
            self.grid = TPSGrid(tps_grid, align_corners=align_corners, device=device, dtype=dtype)
        else:
            self.grid = AffineGrid(transform, align_corners=align_corners, scale=init_scale)
        self.sampler = GridSampler(mode, padding_mode, align_corners)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W) -> (N, C, H', W')``: localise, build the grid, sample."""
        if not torch.jit.is_scripting():
            check_feature_map(x, self.channels, f"SpatialTransformer(channels={self.channels})")
        params = self.loc(x)
        h, w = self.out_size[0], self.out_size[1]
        if h == 0:
            h, w = x.shape[2], x.shape[3]
        grid = self.grid(params, [x.shape[0], x.shape[1], h, w])
        return self.sampler(x, grid)

    def extra_repr(self) -> str:
        out = f", out_size={tuple(self.out_size)}" if self.out_size[0] else ""
        fixed = getattr(self.grid, "scale", 1.0) if self.transform == "translation" else 1.0
        window = f", window={fixed}" if fixed != 1.0 else ""
        return f"channels={self.channels}, transform={self.transform!r}{window}{out}"
