"""`cfipt evaluate` under the output policy (never over the map, the reference or a report it reads),
--summary figures averaged over the same runs, and Markdown tables that class names cannot break."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from evaluate_builders import perturb, write_raster, write_scene

from cfipt_cli.evaluate.reports import markdown_report, markdown_summary
from cfipt_cli.io.classes import ClassTable


@pytest.fixture
def pair(tmp_path, table):
    rng = np.random.default_rng(5)
    reference = rng.integers(0, 5, (20, 30)).astype(np.uint8)
    write_raster(tmp_path / "ref.tif", reference, classes=table)
    write_raster(tmp_path / "map.tif", perturb(reference, 5, 0.2, 6), classes=table)
    return tmp_path


def _digest(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    "args",
    [
        ["--plot", "{d}/map.tif"],  # the map itself
        ["--plot", "{d}/map.tif.aux.xml"],  # its class names
        ["--plot", "{d}/ref.tif"],
        ["--out", "{d}/scene/scene"],  # BASE.json inside the reference scene
        ["--out", "{d}/scene/x"],
        ["--classes", "{d}/classes.json", "--out", "{d}/classes"],  # BASE.json = the --classes file
    ],
)
def test_no_output_over_an_input_even_with_overwrite(run_cli, pair, table, args):
    d = pair
    write_scene(d / "scene", np.zeros((20, 30), np.uint8), np.ones((20, 30), np.uint8), table)
    (d / "classes.json").write_text(json.dumps(table.to_json()))
    reference = "scene" if "scene" in args[1] else "ref.tif"
    before = _digest(d)
    argv = [a.format(d=d) for a in args]
    code, out, err = run_cli("evaluate", d / "map.tif", "-r", d / reference, *argv, "--overwrite")
    assert code == 2 and out == "" and err.count("\n") == 1 and "would replace the input" in err
    assert _digest(d) == before


def test_summary_out_over_one_of_its_reports_is_refused(run_cli, pair):
    d = pair
    assert run_cli("evaluate", d / "map.tif", "-r", d / "ref.tif", "--out", d / "r1")[0] == 0
    before = (d / "r1.json").read_bytes()
    code, _, err = run_cli("evaluate", "--summary", d / "r1.json", "--out", d / "r1", "--overwrite")
    assert code == 2 and "would replace the input" in err and (d / "r1.json").read_bytes() == before


def test_a_plot_over_a_users_png_is_kept_even_with_overwrite(run_cli, pair):
    from matplotlib.image import imsave

    d = pair
    imsave(d / "photo.png", np.zeros((3, 3, 4), np.uint8))
    before = (d / "photo.png").read_bytes()
    code, _, err = run_cli(
        "evaluate", d / "map.tif", "-r", d / "ref.tif", "--plot", d / "photo.png", "--overwrite"
    )
    assert code == 1 and "replaces only what cfipt wrote" in err and (d / "photo.png").read_bytes() == before
    assert run_cli("evaluate", d / "map.tif", "-r", d / "ref.tif", "--plot", d / "cm.png")[0] == 0
    assert (
        run_cli("evaluate", d / "map.tif", "-r", d / "ref.tif", "--plot", d / "cm.png", "--overwrite")[0] == 0
    )


# ------------------------------------------------------------------------------------ --summary
def _report(path, classes):
    report = {"format": "cfipt-evaluation", "format_version": 1, "classes": classes}
    report.update(overall_accuracy=0.9, average_accuracy=0.8, kappa=0.7)
    path.write_text(json.dumps(report))
    return path


def _class(pa, ua, f1, in_reference=True, name="Water"):
    return {
        "id": 3,
        "name": name,
        "producer_accuracy": pa,
        "user_accuracy": ua,
        "f1": f1,
        "in_reference": in_reference,
    }


def test_a_run_whose_reference_lacks_the_class_counts_for_no_figure(run_cli, tmp_path):
    a = _report(tmp_path / "a.json", [_class(0.8, 0.6, 0.7)])
    b = _report(tmp_path / "b.json", [_class(None, 0.0, 0.0, in_reference=False)])  # predicted, not there
    code, out, err = run_cli("evaluate", "--summary", a, b, "--out", tmp_path / "s", "--json")
    assert code == 0, err
    (water,) = json.loads(out)["classes"]
    assert water["runs"] == 1
    assert [water[k]["n"] for k in ("producer_accuracy", "user_accuracy", "f1")] == [1, 1, 1]
    assert water["user_accuracy"]["mean"] == pytest.approx(0.6) and water["f1"]["mean"] == pytest.approx(0.7)
    rows = [line.split(",") for line in (tmp_path / "s.csv").read_text().splitlines()[4:]]
    assert {row[-1] for row in rows} == {"1"}  # n of PA, UA and F1 in the CSV
    md_row = next(line for line in (tmp_path / "s.md").read_text().splitlines() if "Water" in line)
    assert md_row.split("|")[-2].strip() == "1" and "(n=" not in md_row  # the runs column says the same


def test_a_figure_defined_in_fewer_runs_says_so_in_the_markdown(tmp_path):
    from cfipt_cli.evaluate.summary import summarise_runs

    a = _report(tmp_path / "a.json", [_class(0.8, 0.6, 0.7)])
    b = _report(tmp_path / "b.json", [_class(0.0, None, 0.0)])  # in the reference, never predicted
    summary = summarise_runs([a, b])
    (water,) = summary["classes"]
    assert water["runs"] == 2 and water["producer_accuracy"]["n"] == 2 and water["user_accuracy"]["n"] == 1
    row = next(line for line in markdown_summary(summary).splitlines() if "Water" in line)
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[3] == "60.00 ± - (n=1)" and "(n=" not in cells[2] + cells[4] and cells[5] == "2"


# ------------------------------------------------------------------------------------ Markdown cells
@pytest.mark.parametrize("name", ["Wa\nter", "Water | Sea", "Tab\there", "Line\r\nbreak"])
def test_class_names_never_break_the_markdown_tables(tmp_path, name):
    from cfipt_cli.evaluate.summary import summarise_runs

    report = {
        "map": "m\n.tif",
        "reference": {"path": "r.tif", "kind": "raster", "mat_key": None},
        "class_matching": "name",
        "pixels": {"evaluated": 10},
        "overall_accuracy": 0.5,
        "average_accuracy": 0.5,
        "kappa": 0.1,
        "classes": [
            {
                "id": 1,
                "name": name,
                "producer_accuracy": 0.5,
                "user_accuracy": 0.5,
                "f1": 0.5,
                "reference_pixels": 10,
                "predicted_pixels": 10,
                "in_reference": True,
                "predicted": True,
            }
        ],
    }
    for text in (
        markdown_report(report),
        markdown_summary(summarise_runs([_report(tmp_path / "r.json", report["classes"])])),
    ):
        table = [line for line in text.splitlines() if line.startswith("|")]
        assert len(table) == 2 + 1 + 3  # header, rule, the class, OA, AA, kappa: no row broken
        assert len({line.replace("\\|", "").count("|") for line in table}) == 1  # same cells per row
        assert len({len(line) for line in table}) == 1  # still aligned
    assert ClassTable.from_names([name]).names == [name]  # the name itself is kept as it is


@pytest.mark.parametrize("values", [[1, 2, -3], [1, 70000], ["1", "-3"], [1.0, 2.5]])
def test_an_integer_reference_field_out_of_range_is_an_error(tmp_path, values):
    import pandas as pd

    from cfipt_cli.errors import DataError
    from cfipt_cli.evaluate.vector_reference import vector_class_ids

    with pytest.raises(DataError, match=r"class field of .* holds"):
        vector_class_ids(pd.Series(values), None, tmp_path / "truth.gpkg")


# ------------------------------------------------------------------------- --summary reads reports safely
def _good_report(path, **changes):
    """A report as cfipt writes it (two classes), with `changes` applied (... deletes a key)."""
    classes = [
        {**_class(0.8, 0.6, 0.7, name="Water"), "id": 1, "reference_pixels": 10, "predicted_pixels": 8},
        {**_class(0.5, 0.5, 0.5, name="Trees"), "id": 2, "reference_pixels": 4, "predicted_pixels": 4},
    ]
    report = {"format": "cfipt-evaluation", "format_version": 1, "classes": classes}
    report.update(overall_accuracy=0.9, average_accuracy=0.8, kappa=0.7, pixels={"evaluated": 14})
    for key, value in changes.items():
        target, _, leaf = key.rpartition(".")
        holder = report
        for part in target.split(".") if target else []:
            holder = holder[int(part)] if isinstance(holder, list) else holder[part]
        if value is ...:
            del holder[leaf]
        else:
            holder[leaf] = value
    path.write_text(json.dumps(report, allow_nan=True))
    return path


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"classes": ...}, "'classes' is missing"),
        ({"classes": "Water"}, "'classes' is wrong"),
        ({"overall_accuracy": 1.7}, "'overall_accuracy' is wrong"),
        ({"overall_accuracy": "0.9"}, "'overall_accuracy' is wrong"),
        ({"overall_accuracy": float("nan")}, "'overall_accuracy' is wrong"),
        ({"average_accuracy": -0.1}, "'average_accuracy' is wrong"),
        ({"kappa": -1.5}, "'kappa' is wrong"),
        ({"kappa": True}, "'kappa' is wrong"),
        ({"average_accuracy": ...}, "'average_accuracy' is missing"),
        ({"classes.0.producer_accuracy": 2.0}, "'classes[0].producer_accuracy' is wrong"),
        ({"classes.1.f1": float("inf")}, "'classes[1].f1' is wrong"),
        ({"classes.0.id": 0}, "'classes[0].id' is wrong"),
        ({"classes.0.id": "1"}, "'classes[0].id' is wrong"),
        ({"classes.1.name": 5}, "'classes[1].name' is wrong"),
        ({"classes.1.name": ...}, "'classes[1].name' is missing"),
        ({"classes.1.id": 1}, "'classes' is wrong (expected a valid class table"),  # one id twice
        ({"classes.0.reference_pixels": -3}, "'classes[0].reference_pixels' is wrong"),
        ({"classes.0.predicted_pixels": 2.5}, "'classes[0].predicted_pixels' is wrong"),
        ({"classes.0.in_reference": "yes"}, "'classes[0].in_reference' is wrong"),
        ({"pixels.evaluated": -1}, "'pixels.evaluated' is wrong"),
    ],
)
def test_summary_checks_every_key_it_reads_one_line_naming_file_and_key(run_cli, tmp_path, changes, key):
    good = _good_report(tmp_path / "good.json")
    bad = _good_report(tmp_path / "bad.json", **changes)
    code, out, err = run_cli("evaluate", "--summary", good, bad, "--out", tmp_path / "s")
    assert (code, out) == (1, "") and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"cfipt: error: {bad}: {key}") and "write it again" in err
    assert not list(tmp_path.glob("s.*"))


def test_summary_reads_a_report_as_cfipt_writes_it(tmp_path):
    from cfipt_cli.evaluate.report_schema import read_report

    report = read_report(_good_report(tmp_path / "r.json", kappa=None, **{"classes.1.user_accuracy": None}))
    assert report["kappa"] is None  # undefined figures are null, and allowed


def test_summary_refuses_one_file_given_twice_even_through_a_link(run_cli, tmp_path):
    a = _good_report(tmp_path / "a.json")
    (tmp_path / "link.json").symlink_to(a)
    os.link(a, tmp_path / "hard.json")
    for second, said in ((a, "is given twice"), (tmp_path / "link.json", f"is the same file as {a}")):
        code, out, err = run_cli("evaluate", "--summary", a, second, "--out", tmp_path / "s")
        assert (code, out) == (2, "") and err.count("\n") == 1 and said in err, err
    code, _, err = run_cli("evaluate", "--summary", a, tmp_path / "hard.json")
    assert code == 2 and "is the same file as" in err
    assert not list(tmp_path.glob("s.*"))


def test_summary_warns_about_two_reports_with_the_same_content(run_cli, tmp_path):
    a = _good_report(tmp_path / "a.json")
    (tmp_path / "copy.json").write_bytes(a.read_bytes())
    b = _good_report(tmp_path / "b.json", overall_accuracy=0.8)
    code, out, err = run_cli("evaluate", "--summary", a, b, tmp_path / "copy.json", "--json")
    assert code == 0 and json.loads(out)["n_runs"] == 3
    assert err.count("\n") == 1 and f"reports {a} and {tmp_path / 'copy.json'} are identical" in err
