"""The model registry: one documented, greppable ``def`` per registered name."""

from __future__ import annotations

import importlib
import inspect

import pytest

from attnvision.models import create_model, get_model_builder, list_models


@pytest.mark.parametrize("name", list_models())
def test_every_name_is_a_documented_function_of_its_family_module(name: str) -> None:
    fn = get_model_builder(name)
    module = importlib.import_module(fn.__module__)
    assert inspect.isfunction(fn)
    assert fn.__name__ == name and fn.__qualname__ == name  # a module-level ``def name(...)``
    assert getattr(module, name) is fn
    assert f"def {name}(" in inspect.getsource(module)
    assert fn.__doc__ and len(fn.__doc__.strip()) > 20


def test_named_attention_variants_refuse_another_block() -> None:
    with pytest.raises(TypeError, match="se_resnet50 has attention='se' built in"):
        create_model("se_resnet50", attention="cbam")
    with pytest.raises(TypeError, match="cbam_resnet20 has attention='cbam' built in"):
        create_model("cbam_resnet20", attention="se")


def test_unknown_names_suggest_close_ones() -> None:
    with pytest.raises(ValueError, match="se_resnet50"):
        get_model_builder("se_resnet5")
