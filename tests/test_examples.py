"""The study scripts of ``examples/`` run end to end at toy sizes and write what docs/studies.rst quotes.

The measured tables come from these scripts at full size (minutes to an hour); here they run on 40
Pythia jets per process with a step or an epoch, so that a change in the library that breaks a
study fails CI instead of the next person who reruns the table. The table merger of
``jetclr_table.py --collect`` is checked on hand-written result files.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(script: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / script), *args], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def jets(tmp_path_factory) -> Path:
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    out = tmp_path_factory.mktemp("studies") / "jets"
    proc = subprocess.run([sys.executable, "-m", "pgjets.cli", "generate", "--process", "qcd", "--process", "top",
                           "--process", "w", "--n-jets", "40", "--fast", "--no-progress", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


@pytest.mark.slow
def test_set_generation_writes_the_table_with_its_reference_rows(jets, tmp_path):
    run("set_generation.py", "--data", str(jets), "--jets", "40", "--steps", "3", "--replicas", "2",
        "--configs", "hungarian,sel-ssmmd", "--out", str(tmp_path))
    res = json.loads((tmp_path / "results.json").read_text())
    assert [k for k in res if not k.startswith("_")] == ["detector model", "truth copied", "detector rerun",
                                                          "hungarian", "sel-ssmmd"]
    w1 = ("W1_log_pt", "W1_deta", "W1_dphi", "W1_counts")
    assert all(res["detector model"][k] == 0.0 for k in w1)
    # truth copied keeps the lost tracks: more particles per jet than the reco sets, no smearing
    assert res["truth copied"]["W1_counts"] > 0 and res["truth copied"]["sigma"] == 0.0
    # an independent detector run smears like the detector (1 % pT, 2 mrad) and differs from the first run
    assert 0.005 < res["detector rerun"]["sigma"] < 0.02 and res["detector rerun"]["W1_log_pt"] > 0
    for row in ("hungarian", "sel-ssmmd"):
        assert all(math.isfinite(res[row][k]) for k in w1) and res[row]["cpu_s"] > 0
    assert (tmp_path / "response.png").stat().st_size > 0


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["pgjets", "paper"])
def test_jetclr_table_writes_representation_and_baseline_rows(jets, tmp_path, recipe):
    out = tmp_path / "table.json"
    run("jetclr_table.py", "--data", str(jets), "--n-jets", "40", "--epochs", "2", "--lct-every", "1", "--rows",
        "all", "--baselines", "efp", "--recipe", recipe, "--json", str(out))
    written = json.loads(out.read_text())
    assert written["args"]["recipe"] == recipe
    rows = {r["name"]: r for r in written["rows"]}
    curve = rows["all"]["auc_by_epoch"]  # after epoch 1 (--lct-every) and the final test
    assert list(curve) == ["1", "2"] and curve["2"] == rows["all"]["auc"]
    assert list(rows) == ["all", "EFP d<=5 (linear)"]
    for r in rows.values():
        assert 0.0 <= r["auc"] <= 1.0 and r["auc_err"] > 0
    assert -1.0 <= rows["all"]["s_rot"] <= 1.0 and 0.0 <= rows["all"]["auc_head"] <= 1.0


@pytest.mark.slow
def test_anomaly_detection_scores_every_autoencoder(jets, tmp_path):
    run("anomaly_detection.py", "--data", str(jets), "--jets", "40", "--epochs", "1", "--out", str(tmp_path))
    table = json.loads((tmp_path / "results.json").read_text())["table"]
    assert set(table) == {"mass only", "dense AE (high-level)", "GraphAutoencoder (constituents)",
                          "JetVAE (constituents)"}
    for r in table.values():
        assert 0.0 <= r["AUC top"] <= 1.0 and 0.0 <= r["AUC W"] <= 1.0
    assert (tmp_path / "scores.png").stat().st_size > 0


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_run(path: Path, seed: int, rows: list[tuple[str, float]], n_jets: int = 100, head: bool = True,
              recipe: str | None = None, **more_args) -> str:
    row = {"rejection": 10.0, "s_rot": 0.5, "auc_err": 0.01, "auc_head": 0.8}
    out = [{**row, "name": name, "auc": auc} for name, auc in rows]
    if not head:
        out = [{k: v for k, v in r.items() if k != "auc_head"} for r in out]
    args = {"n_jets": n_jets, "seed": seed, **({} if recipe is None else {"recipe": recipe}), **more_args}
    path.write_text(json.dumps({"rows": out, "args": args}))
    return str(path)


def test_jetclr_collect_combines_seeds_in_the_seeds_row_order(tmp_path):
    collect = load_example("jetclr_table").collect
    files = [write_run(tmp_path / "a.json", 0, [("all", 0.95), ("none", 0.90)]),
             write_run(tmp_path / "b.json", 1, [("all", 0.97)]),
             write_run(tmp_path / "c.json", 0, [("EFP d<=5 (linear)", 0.976)], n_jets=200)]
    table = collect(files)
    assert [(r["n_jets"], r["name"]) for r in table] == [(100, "none"), (100, "all"), (200, "EFP d<=5 (linear)")]
    both = table[1]
    assert both["seeds"] == [0, 1] and both["aucs"] == [0.95, 0.97]
    assert both["auc"] == pytest.approx(0.96) and both["seed_std"] == pytest.approx(0.02 / 2 ** 0.5)
    assert table[0]["seed_std"] == 0.0


def test_jetclr_collect_keeps_recipes_apart(tmp_path):
    # Files written before --recipe existed are the pgjets recipe; the same row and seed of the
    # paper's recipe is another line, listed after the pgjets lines of its sample size.
    collect = load_example("jetclr_table").collect
    files = [write_run(tmp_path / "paper0.json", 0, [("all", 0.97)], recipe="paper"),
             write_run(tmp_path / "paper1.json", 1, [("all", 0.98)], recipe="paper"),
             write_run(tmp_path / "old.json", 0, [("all", 0.95), ("none", 0.9)]),
             write_run(tmp_path / "narrow.json", 0, [("all", 0.96)], recipe="paper", paper_shift=0.1),
             write_run(tmp_path / "long.json", 0, [("all", 0.99)], recipe="paper", epochs=20)]
    table = collect(files)
    assert [(r["recipe"], r["epochs"], r["name"], r["seeds"]) for r in table] == [
        ("pgjets", 0, "none", [0]), ("pgjets", 0, "all", [0]), ("paper", 0, "all", [0, 1]),
        ("paper", 20, "all", [0]), ("paper/0.1", 0, "all", [0])]
    assert table[2]["auc"] == pytest.approx(0.975)


def test_jetclr_paired_differences_use_only_common_seeds_within_one_setting(tmp_path):
    module = load_example("jetclr_table")
    files = [write_run(tmp_path / "n0.json", 0, [("none", 0.90), ("translations", 0.93)]),
             write_run(tmp_path / "n1.json", 1, [("none", 0.92), ("translations", 0.91)]),
             write_run(tmp_path / "n2.json", 2, [("none", 0.89), ("translations", 0.92)]),
             write_run(tmp_path / "t3.json", 3, [("translations", 0.99)]),  # no "none" with seed 3
             write_run(tmp_path / "p0.json", 0, [("none", 0.5), ("translations", 0.6)], recipe="paper")]
    pairs = module.paired_differences(module.collect(files))
    assert [(p["recipe"], p["lower"], p["upper"], p["seeds"]) for p in pairs] == [
        ("pgjets", "none", "translations", [0, 1, 2]), ("paper", "none", "translations", [0])]
    mine = pairs[0]
    assert mine["diffs"] == pytest.approx([0.03, -0.01, 0.03])
    assert mine["mean"] == pytest.approx(0.05 / 3)
    # brute force: the sample standard deviation of the three differences over sqrt(3)
    d = [0.03, -0.01, 0.03]
    m = sum(d) / 3
    assert mine["sem"] == pytest.approx((sum((x - m) ** 2 for x in d) / 2) ** 0.5 / 3 ** 0.5)
    assert mine["wins"] == 2
    assert pairs[1]["mean"] == pytest.approx(0.1) and pairs[1]["sem"] != pairs[1]["sem"]  # NaN with one seed
    # a pair that is not in the seed's ordering is not reported unless asked for
    assert module.paired_differences(module.collect(files), pairs=[("all", "none")]) == []
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "jetclr_table.py"), "--collect", *files[:3]],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.splitlines()[-1].split()
    assert line[3:7] == ["translations", "-", "none", "3"] and line[7] == "+0.0167" and line[9] == "2/3"


def test_jetclr_paper_recipe_puts_distortions_on_the_second_view():
    module = load_example("jetclr_table")
    paper = module.augmentation_sets(0.1, "paper")
    assert list(paper) == ["none", "translations", "rotations", "soft+collinear", "all", "rotations+soft+collinear"]
    assert paper["none"] == ([], [])
    # "all" without the translations: the same augmentations, the shift left out
    assert paper["rotations+soft+collinear"] == (paper["all"][0][:1], paper["all"][1])
    mild = module.augmentation_sets(0.1, "pgjets")
    assert mild["rotations+soft+collinear"][0] == [t for t in mild["all"][0] if type(t).__name__ != "RandomTranslation"]
    assert len(mild["rotations+soft+collinear"][0]) == len(mild["all"][0]) - 1
    both, second = paper["all"]
    assert [type(t).__name__ for t in both] == ["RandomRotation", "RandomTranslation"]
    assert both[1].relative and both[1].distribution == "uniform" and both[1].scale == 1.0
    assert [type(t).__name__ for t in second] == ["CollinearSplitting", "CollinearSplitting", "SoftSmearing"]
    assert second[0].fill_to == module.PAPER_CONSTITUENTS == 50 and second[2].pt_min == 0.1
    assert all(not s for _, s in module.augmentation_sets(0.1, "pgjets").values())
    assert module.augmentation_sets(0.1, "paper", paper_shift=0.25)["translations"][0][0].scale == 0.25


def test_jetclr_collect_refuses_repeated_seeds_and_head_output_files(tmp_path):
    collect = load_example("jetclr_table").collect
    twice = [write_run(tmp_path / "a.json", 0, [("all", 0.95)]), write_run(tmp_path / "b.json", 0, [("all", 0.9)])]
    with pytest.raises(ValueError, match="twice with the same seed"):
        collect(twice)
    with pytest.raises(ValueError, match="projection head"):
        collect([write_run(tmp_path / "old.json", 0, [("all", 0.95)], head=False)])


def test_jetclr_collect_command_line_errors_are_one_line_and_exit_2(tmp_path):
    for bad in (str(tmp_path / "missing.json"), write_run(tmp_path / "old.json", 0, [("all", 0.9)], head=False)):
        proc = subprocess.run([sys.executable, str(ROOT / "examples" / "jetclr_table.py"), "--collect", bad],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith("jetclr_table.py: error: --collect:")
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "jetclr_table.py"), "--lct-every", "-1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == ("jetclr_table.py: error: --lct-every must be >= 0 (0: only after "
                                                    "the last epoch), got -1")
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "jetclr_table.py"), "--rows", "all,translation"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("jetclr_table.py: error: --rows: unknown row(s) "
                                                           "'translation'; the rows are none, translations,")
