"""`cfipt evaluate` end to end: stdout formats, report files (OTB CSV, Markdown, PNG, JSON), --summary,
exit codes and outputs never replaced without --overwrite."""

from __future__ import annotations

import json

import numpy as np
import pytest
from affine import Affine
from evaluate_builders import GRID_TRANSFORM, perturb, write_raster, write_scene

from cfipt_cli.evaluate.reports import markdown_grid, read_confusion_csv
from cfipt_cli.io.classes import ClassTable


@pytest.fixture
def maps(tmp_path, table):
    """A reference where 'Roof' (5) is absent and a map that never predicts 'Grass' (3) but predicts 'Roof'."""
    rng = np.random.default_rng(11)
    reference = rng.integers(0, 5, (40, 50)).astype(np.uint8)
    prediction = perturb(reference, 4, 0.2, 12)
    prediction[prediction == 3] = 1
    prediction[(rng.random(reference.shape) < 0.05) & (reference > 0)] = 5
    prediction[reference == 0] = 2
    write_raster(tmp_path / "ref.tif", reference, classes=table)
    write_raster(tmp_path / "map.tif", prediction, classes=table)
    return tmp_path, reference, prediction


def test_default_stdout_is_an_aligned_markdown_table(run_cli, maps):
    folder, reference, prediction = maps
    code, out, err = run_cli("evaluate", folder / "map.tif", "--reference", folder / "ref.tif")
    assert code == 0 and err == ""
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert len({len(line) for line in table}) == 1  # columns padded: reads well in a terminal
    rows = {cells[1]: cells for cells in ([c.strip() for c in line.split("|")[1:-1]] for line in table)}
    valid = (reference > 0) & (prediction > 0)
    oa = np.mean(reference[valid] == prediction[valid])
    assert rows["OA"][2] == f"{100 * oa:.2f}"
    assert rows["Roof"][-1] == "absent from reference" and rows["Roof"][2] == "-"
    assert rows["Grass"][-1] == "never predicted" and rows["Grass"][2] == "0.00" and rows["Grass"][3] == "-"
    assert {"AA", "Kappa ×100"} <= rows.keys()


def test_json_and_csv_on_stdout(run_cli, maps):
    folder, _, _ = maps
    code, out, _ = run_cli("evaluate", folder / "map.tif", "-r", folder / "ref.tif", "--json")
    report = json.loads(out)
    assert code == 0 and report["format"] == "cfipt-evaluation"
    code, out_csv, _ = run_cli("evaluate", folder / "map.tif", "-r", folder / "ref.tif", "--format", "csv")
    ref_labels, prod_labels, counts = read_confusion_csv(out_csv)
    assert code == 0 and counts.sum() == report["pixels"]["evaluated"]
    assert ref_labels == [1, 2, 3, 4]  # 'Roof' (5) absent from the reference: no row, as in OTB
    assert prod_labels == [1, 2, 4, 5]  # 'Grass' (3) never predicted: no column, as in OTB


def test_out_writes_every_format_and_the_csv_reads_as_otb_users_do(run_cli, maps):
    folder, reference, prediction = maps
    code, out, _ = run_cli("evaluate", folder / "map.tif", "-r", folder / "ref.tif", "--out", folder / "rep")
    assert code == 0
    report = json.loads((folder / "rep.json").read_text())
    lines = (folder / "rep.csv").read_text().splitlines()
    assert lines[0].startswith("#Reference labels (rows):") and lines[1].startswith(
        "#Produced labels (columns):"
    )
    rows = [int(v) for v in lines[0].split(":")[1].split(",")]
    cols = [int(v) for v in lines[1].split(":")[1].split(",")]
    matrix = np.array([[int(v) for v in line.split(",")] for line in lines[2:]])
    assert matrix.shape == (len(rows), len(cols))
    valid = (reference > 0) & (prediction > 0)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            assert matrix[i, j] == np.sum((reference[valid] == r) & (prediction[valid] == c))
    correct = sum(matrix[i, cols.index(r)] for i, r in enumerate(rows) if r in cols)
    assert report["overall_accuracy"] == pytest.approx(correct / matrix.sum(), abs=1e-12)
    assert (folder / "rep.md").read_text() == out  # the file holds what stdout showed


def test_png_is_a_real_figure(run_cli, maps):
    from matplotlib.image import imread

    folder, _, _ = maps
    code, _, _ = run_cli(
        "evaluate", folder / "map.tif", "-r", folder / "ref.tif", "--plot", folder / "cm.png"
    )
    image = imread(folder / "cm.png")
    assert code == 0
    assert image.shape[0] >= 400 and image.shape[1] >= 400
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_existing_outputs_are_untouched_without_overwrite(run_cli, maps):
    folder, _, _ = maps
    (folder / "rep.md").write_text("old report\n")
    code, out, err = run_cli(
        "evaluate", folder / "map.tif", "-r", folder / "ref.tif", "--out", folder / "rep"
    )
    assert code == 1 and out == ""
    assert err.startswith("cfipt: error:") and "--overwrite" in err and err.count("\n") == 1
    assert (folder / "rep.md").read_text() == "old report\n"
    assert not (folder / "rep.json").exists()  # nothing written when one target exists
    args = ("evaluate", folder / "map.tif", "-r", folder / "ref.tif", "--out", folder / "rep", "--overwrite")
    code, _, err = run_cli(*args)  # --overwrite replaces only what cfipt wrote: not this file
    assert code == 1 and "only what cfipt wrote" in err and err.count("\n") == 1
    assert (folder / "rep.md").read_text() == "old report\n"
    (folder / "rep.md").unlink()
    assert run_cli(*args)[0] == 0
    (folder / "rep.md").write_text("Accuracy of an older run\n")  # a report as cfipt writes them
    code, _, _ = run_cli(*args)
    assert code == 0 and "an older run" not in (folder / "rep.md").read_text()
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(("rep", ".rep"))) == [
        "rep.csv", "rep.json", "rep.md", "rep.png",
    ]  # fmt: skip


def test_scene_reference_through_the_cli(run_cli, tmp_path, table):
    labels = np.tile(np.arange(1, 6, dtype=np.uint8), (20, 4))
    train = np.where(np.arange(20)[:, None] < 5, labels, 0).astype(np.uint8)
    test = np.where(train > 0, 0, labels).astype(np.uint8)
    scene = write_scene(tmp_path / "scene", test, train, table)
    write_raster(tmp_path / "map.tif", labels, classes=table)
    code, out, _ = run_cli("evaluate", tmp_path / "map.tif", "-r", scene, "--json")
    report = json.loads(out)
    assert code == 0
    assert report["reference"]["kind"] == "scene" and report["pixels"]["evaluated"] == 15 * 20


def test_no_overlap_and_empty_reference_exit_1_with_one_line(run_cli, tmp_path):
    write_raster(tmp_path / "map.tif", np.ones((20, 20), np.uint8))
    write_raster(
        tmp_path / "far.tif", np.ones((5, 5), np.uint8), transform=GRID_TRANSFORM @ Affine.translation(1e4, 0)
    )
    write_raster(tmp_path / "empty.tif", np.zeros((20, 20), np.uint8))
    for ref, words in (("far.tif", "does not overlap"), ("empty.tif", "no labelled pixel")):
        code, out, err = run_cli("evaluate", tmp_path / "map.tif", "-r", tmp_path / ref)
        assert (code, out) == (1, "")
        assert err.startswith("cfipt: error:") and words in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "args",
    [
        ["MAP"],  # no --reference
        ["MAP", "MAP", "-r", "REF"],  # two maps without --summary
        ["--summary", "REF", "-r", "REF"],  # --summary takes reports only
        ["--summary", "REF", "--plot", "x.png"],
        ["--summary"],  # no report
        ["MAP", "-r", "REF", "--json", "--format", "csv"],
        ["MAP", "-r", "REF", "--format", "xml"],
        ["MAP", "-r", "VEC"],  # vector without --field
    ],
)
def test_usage_errors_exit_2(run_cli, maps, args):
    folder, _, _ = maps
    (folder / "ref.gpkg").write_text("")
    names = {"MAP": folder / "map.tif", "REF": folder / "ref.tif", "VEC": folder / "ref.gpkg"}
    code, out, err = run_cli("evaluate", *[names.get(a, a) for a in args])
    assert code == 2 and out == "" and err


def test_summary_mean_and_std_match_numpy(run_cli, tmp_path, table):
    rng = np.random.default_rng(21)
    reference = rng.integers(0, 6, (40, 40)).astype(np.uint8)
    write_raster(tmp_path / "ref.tif", reference, classes=table)
    reports = []
    for seed in range(3):
        prediction = perturb(reference, 5, 0.1 + 0.1 * seed, seed)
        write_raster(tmp_path / f"map{seed}.tif", prediction, classes=table)
        code, _, _ = run_cli(
            "evaluate", tmp_path / f"map{seed}.tif", "-r", tmp_path / "ref.tif", "-o", tmp_path / f"r{seed}"
        )
        assert code == 0
        reports.append(json.loads((tmp_path / f"r{seed}.json").read_text()))
    paths = [tmp_path / f"r{seed}.json" for seed in range(3)]
    code, out, _ = run_cli("evaluate", "--summary", *paths, "--json", "--out", tmp_path / "summary")
    summary = json.loads(out)
    assert code == 0 and summary["n_runs"] == 3
    for key in ("overall_accuracy", "average_accuracy", "kappa"):
        values = [r[key] for r in reports]
        assert summary[key]["mean"] == pytest.approx(np.mean(values), abs=1e-12)
        assert summary[key]["std"] == pytest.approx(np.std(values, ddof=1), abs=1e-12)
    trees = [r["classes"][1]["producer_accuracy"] for r in reports]
    assert summary["classes"][1]["name"] == "Trees"
    assert summary["classes"][1]["producer_accuracy"]["mean"] == pytest.approx(np.mean(trees), abs=1e-12)
    assert summary["classes"][1]["producer_accuracy"]["std"] == pytest.approx(
        np.std(trees, ddof=1), abs=1e-12
    )
    md = (tmp_path / "summary.md").read_text()
    oa = summary["overall_accuracy"]
    assert f"{100 * oa['mean']:.2f} ± {100 * oa['std']:.2f}" in md
    assert (tmp_path / "summary.csv").read_text().splitlines()[1].startswith("overall_accuracy,,,")


def _reports_with_tables(run_cli, folder, tables):
    """One evaluation report per class table: the same labels and map, named by each table."""
    rng = np.random.default_rng(31)
    reference = rng.integers(0, 4, (30, 30)).astype(np.uint8)
    prediction = perturb(reference, 3, 0.2, 32)
    paths = []
    for i, table in enumerate(tables):
        write_raster(folder / f"ref{i}.tif", reference, classes=table)
        write_raster(folder / f"map{i}.tif", prediction, classes=table)
        paths.append(folder / f"r{i}.json")
        code, _, err = run_cli(
            "evaluate", folder / f"map{i}.tif", "-r", folder / f"ref{i}.tif", "-o", paths[-1].with_suffix("")
        )
        assert code == 0, err
    return paths


def test_summary_refuses_reports_of_different_class_tables(run_cli, tmp_path):
    fruit = ClassTable.from_names(["Apple trees", "Buildings", "Ground"])
    other = ClassTable.from_names(["Box", "Buildings", "Ground"])
    paths = _reports_with_tables(run_cli, tmp_path, [fruit, fruit, other])
    code, out, err = run_cli("evaluate", "--summary", *paths, "--out", tmp_path / "summary")
    assert (code, out) == (1, "")
    assert err.startswith("cfipt: error:") and err.count("\n") == 1
    assert f"report {paths[2]} names class 1 'Box' but {paths[0]} names it 'Apple trees'" in err
    assert not list(tmp_path.glob("summary*"))


def test_summary_accepts_one_class_table_however_spelt_and_classes_missing_from_some_runs(run_cli, tmp_path):
    """Names compare as class matching does; a class only some runs list (a stray value) is no conflict."""
    base = ClassTable.from_names(["Apple trees", "Buildings", "Ground"])
    spelt = ClassTable.from_names(["apple  Trees", "BUILDINGS", "Ground"])
    extra = ClassTable.from_names(["Apple trees", "Buildings", "Ground", "Roads"])
    paths = _reports_with_tables(run_cli, tmp_path, [base, spelt, extra])
    code, out, err = run_cli("evaluate", "--summary", *paths, "--json")
    summary = json.loads(out)
    assert code == 0 and err == "" and summary["n_runs"] == 3
    assert [c["name"] for c in summary["classes"]] == ["Apple trees", "Buildings", "Ground", "Roads"]
    assert summary["classes"][0]["producer_accuracy"]["n"] == 3


def test_help_names_the_positional_argument_without_a_python_type(run_cli):
    code, out, _ = run_cli("evaluate", "--help")
    assert code == 0
    assert out.splitlines()[0] == "Usage: cfipt evaluate [OPTIONS] [MAP]..."
    assert "list[" not in out and "<path>" not in out and "Path]" not in out
    assert "MAP is the classification map" in out and "--mat-key KEY" in out


def test_summary_rejects_a_file_that_is_not_a_report(run_cli, tmp_path):
    (tmp_path / "other.json").write_text('{"format": "cfipt-scene"}')
    code, _, err = run_cli("evaluate", "--summary", tmp_path / "other.json")
    assert code == 1 and "not a JSON report" in err


def test_markdown_grid_pads_and_aligns():
    text = markdown_grid(["a", "name"], [["1", "x"], ["100", "longer"]], [True, False])
    lines = text.splitlines()
    assert lines[1] == "|----:|:-------|"
    assert lines[2] == "|   1 | x      |"
    assert len({len(line) for line in lines}) == 1
