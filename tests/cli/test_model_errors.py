"""`models` stands alone: it imports nothing of cfipt_cli, and the CLI reports its errors in its own terms."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cfipt_cli.errors import (
    EXIT_USAGE,
    CfiptUsageError,
    CheckpointError,
    DataError,
    WeightsUnavailableError,
    cli_terms,
    from_model_error,
)


def test_models_imports_nothing_of_the_cli():
    code = "import sys, models, models.errors; print(sorted(m for m in sys.modules if m.startswith('cfipt_cli')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_every_model_error_class_has_a_cli_class_and_exit_code():
    from models import errors

    cases = {
        errors.ModelSettingError("n_prompt must be even"): CfiptUsageError,
        errors.ModelInputError("HSI patches must be ..."): DataError,
        errors.WeightsUnavailableError("pretrained='openai' is not cached"): WeightsUnavailableError,
        errors.WeightsMismatchError("missing entries"): CheckpointError,
    }
    for exc, expected in cases.items():
        converted = from_model_error(exc)
        assert type(converted) is expected and converted.__cause__ is exc
    assert from_model_error(ValueError("not a model error")) is None
    assert {c.__name__ for c in errors.ModelError.__subclasses__()} == {
        "ModelSettingError",
        "ModelInputError",
        "WeightsUnavailableError",
        "WeightsMismatchError",
    }


def test_model_settings_become_the_cli_options():
    text = "pretrained='x' is not a tag; pass pretrained=/path/w.bin or pretrained=None; clip_model='V' is unknown"
    assert cli_terms(text) == (
        "--pretrained 'x' is not a tag; pass --pretrained /path/w.bin or --pretrained none; --clip 'V' is unknown"
    )
    assert cli_terms("the unpretrained=1 stays") == "the unpretrained=1 stays"


def test_a_model_setting_error_becomes_a_usage_error_naming_the_option():
    """An unknown backbone name from `models` reaches the user as a usage error naming --clip."""
    from models.backbone import load_backbone

    with pytest.raises(Exception) as info:
        load_backbone("ViT-Nope-99", None)
    converted = from_model_error(info.value)
    assert isinstance(converted, CfiptUsageError) and converted.exit_code == EXIT_USAGE
    assert str(converted).startswith("--clip 'ViT-Nope-99' is unknown")
