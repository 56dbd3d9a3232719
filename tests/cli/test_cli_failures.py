"""Library warnings and log records do not leak onto stderr at the default verbosity; cfipt's own do."""

from __future__ import annotations

import logging
import warnings

from cfipt_cli.log import configure_logging


def _library_noise() -> None:
    warnings.warn_explicit(
        "Glyph 127754 missing from font(s) DejaVu Sans.",
        UserWarning,
        "/site-packages/matplotlib/backends/backend_agg.py",
        1,
    )
    warnings.warn_explicit("multi\nline", UserWarning, "/site-packages/geopandas/io/file.py", 1)
    logging.getLogger("pyogrio._io").warning("a record of a library's own logger")


def _noise_at(verbosity: int) -> None:
    configure_logging(verbosity)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        _library_noise()


def test_library_warnings_do_not_leak_at_the_default_verbosity(capsys):
    _noise_at(0)
    assert capsys.readouterr().err == ""
    _noise_at(1)
    err = capsys.readouterr().err
    assert "cfipt: INFO: (library) Glyph 127754" in err and "cfipt: INFO: (library) multi line" in err
    assert "pyogrio" not in err
    _noise_at(2)
    assert "cfipt: debug: pyogrio._io: a record of a library's own logger" in capsys.readouterr().err


def test_warnings_of_the_models_package_are_still_shown(capsys):
    from models.backbone import RandomBackboneWarning

    configure_logging(0)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("backbone x has random weights", RandomBackboneWarning, stacklevel=1)
    assert capsys.readouterr().err == "cfipt: WARNING: backbone x has random weights\n"
