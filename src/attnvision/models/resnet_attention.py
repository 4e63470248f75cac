"""ImageNet ResNets with the attention block of a paper on every residual branch.

One documented function per variant (as torchvision's ``models/resnet.py``), built on
:func:`attnvision.models.resnet.build_resnet`: ``se_resnet50/101/152`` (Hu et al. 2018),
``cbam_resnet50/101`` (Woo et al. 2018), ``eca_resnet50/101`` (Wang et al. 2020) and
``bam_resnet50`` (Park et al. 2018, BAM at the three stage bottlenecks). SE uses reduction
``r = 16`` on ``C / 16`` hidden units; the SE-ResNet-50 count of the paper (28.088M) is
reproduced with ``rd_divisor=1`` (every ``C / 16`` of ResNet-50 is already a multiple of 8,
so the block default gives the same count; the variant passes ``rd_divisor=1`` to stay
exact for any width). ECA-Net uses its adaptive kernel size (``k = 3`` for 256 channels,
...) from the block defaults. ``attention_options=`` overrides a variant's options key by
key; another ``attention=`` is refused (``create_model("resnet50", attention=...)`` takes
any block).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .registry import register_model
from .resnet import ResNet, build_resnet

__all__ = [
    "CBAM_OPTIONS",
    "ECA_OPTIONS",
    "SE_OPTIONS",
    "bam_resnet50",
    "cbam_resnet50",
    "cbam_resnet101",
    "eca_resnet50",
    "eca_resnet101",
    "se_resnet50",
    "se_resnet101",
    "se_resnet152",
]


def _with_block(
    name: str,
    depth: int,
    attention: str,
    defaults: Mapping[str, Any],
    num_classes: int,
    attention_options: Mapping[str, Any] | None,
    kwargs: dict[str, Any],
) -> ResNet:
    """Build a named attention variant: ``defaults`` are the paper's block options,
    ``attention_options`` override them key by key; another ``attention=`` is refused."""
    if "attention" in kwargs:
        raise TypeError(
            f"{name} has attention={attention!r} built in; "
            f"use create_model('resnet{depth}', attention=...) for another block"
        )
    return build_resnet(
        depth,
        num_classes=num_classes,
        attention=attention,
        attention_options=attention_options,
        default_options=defaults,
        **kwargs,
    )


#: SE: r = 16 (Hu et al. 2018, Sec. 6.1), hidden width exactly C / 16.
SE_OPTIONS: dict[str, Any] = {"rd_ratio": 1.0 / 16, "rd_divisor": 1}
#: CBAM: r = 16 and a 7x7 spatial kernel (Woo et al. 2018, Sec. 4).
CBAM_OPTIONS: dict[str, Any] = {"rd_ratio": 1.0 / 16, "rd_divisor": 1}
#: ECA: the adaptive kernel size from C (Wang et al. 2020, Eq. 12), the block's defaults.
ECA_OPTIONS: dict[str, Any] = {}


# Named attention variants: the block and its options follow each paper;
# ``attention_options=`` overrides the options key by key.


@register_model()
def se_resnet50(
    num_classes: int = 1000, attention_options: Mapping[str, Any] | None = None, **kwargs: Any
) -> ResNet:
    """SE-ResNet-50 (Hu et al. 2018; 28.09M parameters, the paper's count): SE (``r = 16``) on every
    residual branch."""
    return _with_block("se_resnet50", 50, "se", SE_OPTIONS, num_classes, attention_options, kwargs)


@register_model()
def se_resnet101(
    num_classes: int = 1000, attention_options: Mapping[str, Any] | None = None, **kwargs: Any
) -> ResNet:
    """SE-ResNet-101 (Hu et al. 2018; 49.33M parameters): SE (``r = 16``) on every
    residual branch."""
    return _with_block(
        "se_resnet101", 101, "se", SE_OPTIONS, num_classes, attention_options, kwargs
    )


@register_model()
def se_resnet152(
    num_classes: int = 1000, attention_options: Mapping[str, Any] | None = None, **kwargs: Any
) -> ResNet:
    """SE-ResNet-152 (Hu et al. 2018; 66.82M parameters): SE (``r = 16``) on every
    residual branch."""
    return _with_block(
        "se_resnet152", 152, "se", SE_OPTIONS, num_classes, attention_options, kwargs
    )


@register_model()
def cbam_resnet50(
    num_classes: int = 1000, attention_options: Mapping[str, Any] | None = None, **kwargs: Any
) -> ResNet:
    """ResNet-50 + CBAM (Woo et al. 2018; 28.09M parameters): channel (``r = 16``)
    then spatial (7x7) attention on every residual branch."""
    return _with_block(
        "cbam_resnet50", 50, "cbam", CBAM_OPTIONS, num_classes, attention_options, kwargs
    )


@register_model()
def cbam_resnet101(
    num_classes: int = 1000, attention_options: Mapping[str, Any] | None = None, **kwargs: Any
) -> ResNet:
    """ResNet-101 + CBAM (Woo et al. 2018; 49.33M parameters): channel (``r = 16``)
    then spatial (7x7) attention on every residual branch."""
    return _with_block(
        "cbam_resnet101", 101, "cbam", CBAM_OPTIONS, num_classes, attention_options, kwargs
    )


@register_model()
def eca_resnet50(
    num_classes: int = 1000, attention_options: Mapping[str, Any] | None = None, **kwargs: Any
) -> ResNet:
    """ECA-Net-50 (Wang et al. 2020; 25.56M parameters): ECA with the adaptive
    kernel size on every residual branch."""
    return _with_block(
        "eca_resnet50", 50, "eca", ECA_OPTIONS, num_classes, attention_options, kwargs
    )


@register_model()
def eca_resnet101(
    num_classes: int = 1000, attention_options: Mapping[str, Any] | None = None, **kwargs: Any
) -> ResNet:
    """ECA-Net-101 (Wang et al. 2020; 44.55M parameters): ECA with the adaptive
    kernel size on every residual branch."""
    return _with_block(
        "eca_resnet101", 101, "eca", ECA_OPTIONS, num_classes, attention_options, kwargs
    )


@register_model()
def bam_resnet50(
    num_classes: int = 1000, attention_options: Mapping[str, Any] | None = None, **kwargs: Any
) -> ResNet:
    """ResNet-50 + BAM (Park et al. 2018, Fig. 1; 25.92M parameters): BAM at the three stage
    bottlenecks."""
    return _with_block("bam_resnet50", 50, "bam", {}, num_classes, attention_options, kwargs)
