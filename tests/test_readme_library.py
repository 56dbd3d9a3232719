"""The README's library example runs as written, on the synthetic scene, and agrees with the CLI."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from cfipt_cli.testing.synthetic import make_scene

README = Path(__file__).resolve().parents[1] / "README.md"


def _library_example() -> str:
    text = README.read_text()
    found = re.search(r"<!-- library-example -->\n```python\n(.*?)```", text, flags=re.S)
    assert found, "README.md lost its library example"
    return found.group(1)


def test_the_readme_library_example_runs(tmp_path, monkeypatch, capsys):
    scene = make_scene(tmp_path / "inputs")
    monkeypatch.chdir(tmp_path)
    for name, source in (("hsi.tif", scene.hsi), ("dsm.tif", scene.lidar), ("labels.gpkg", scene.polygons)):
        (tmp_path / name).symlink_to(source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random tiny backbone warns, by design
        exec(compile(_library_example(), "README.md", "exec"), {})
    line = capsys.readouterr().out.strip().splitlines()[-1]
    oa, kappa = (float(v) for v in re.findall(r"\d+\.\d+", line))
    assert 0.0 <= kappa <= oa <= 1.0
    assert (tmp_path / "map.tif").exists() and (tmp_path / "model" / "model.json").exists()
    with pytest.raises(FileExistsError):  # the library keeps the CLI's output policy
        exec(compile(_library_example(), "README.md", "exec"), {})
