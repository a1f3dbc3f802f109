"""``python -m optim.benchmarks.liang --csv``: any table of measured designs, validated
before anything runs (file, column, cell, fix)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optim.benchmarks import liang
from optim.exceptions import ConfigError


def _table(tmp_path, n=12, name="designs.csv"):
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 1, n), rng.integers(1, 4, n)
    path = tmp_path / name
    pd.DataFrame({"a": a, "b": b, "label": [f"d{i}" for i in range(n)],
                  "y": -(a - 0.3) ** 2 + 0.1 * b}).to_csv(path, index=False)
    return path


def test_a_csv_of_ones_own_runs_as_a_benchmark(tmp_path, capsys):
    path = _table(tmp_path)
    out = tmp_path / "out"
    liang.main(["--csv", str(path), "--inputs", "a,b", "--target", "y", "--direction",
                "maximize", "--strategies", "gp", "--seeds", "1", "--budget", "4",
                "--jobs", "1", "--out", str(out), "--tracking-uri", "none"])
    summary = pd.read_csv(out / "liang2021_summary.csv")
    assert summary[["dataset", "strategy", "budget", "pool"]].to_dict("records") == [
        {"dataset": "designs", "strategy": "gp", "budget": 4, "pool": 12}]
    curves = pd.read_csv(out / "liang2021_curves.csv")
    assert list(curves["experiments"]) == [1, 2, 3, 4]
    assert "1 runs in" in capsys.readouterr().out


def test_a_minimized_target_counts_the_lowest_as_best(tmp_path):
    path = _table(tmp_path)
    ds = liang.custom_dataset(path, ["a", "b"], "y", "minimize")
    pool = liang.load_pool(ds)
    (best,) = liang.top_set(pool, ds)  # ceil(0.05 * 12) = 1 design
    assert np.isclose(pool.loc[pool["y"].idxmin(), ["a", "b"]].to_numpy(float), best).all()
    assert ds.budget == 12  # capped at the number of designs


@pytest.mark.parametrize(("args", "match"), [
    (("missing.csv", ["a"], "y", "maximize"), r"--csv .*missing.csv: file not found"),
    (("{t}", ["a", "bb"], "y", "maximize"), r"no column\(s\) \['bb'\]; it has \['a', 'b', "
                                             r"'label', 'y'\]"),
    (("{t}", ["a", "label"], "y", "maximize"), r"row 1 \(line 2\), column 'label': "
                                                r"value='d0' is not a number"),
    (("{t}", ["a"], "a", "maximize"), r"a target that is not one of them"),
    (("{t}", ["a"], "y", "up"), r"--direction 'up': expected maximize or minimize"),
], ids=["no-file", "no-column", "text-cell", "target-is-input", "direction"])
def test_a_bad_csv_is_refused_with_the_fix(tmp_path, args, match):
    path = _table(tmp_path)
    file, inputs, target, direction = args
    with pytest.raises(ConfigError, match=match) as err:
        liang.custom_dataset(file.format(t=path) if "{t}" in file else tmp_path / file,
                             inputs, target, direction)
    assert "Fix:" in str(err.value)


def test_a_constant_input_or_a_tiny_table_is_refused(tmp_path):
    path = tmp_path / "flat.csv"
    pd.DataFrame({"a": [1, 2, 3, 4], "c": [5, 5, 5, 5], "y": [1, 2, 3, 4]}).to_csv(
        path, index=False)
    with pytest.raises(ConfigError, match=r"input\(s\) \['c'\] take a single value"):
        liang.custom_dataset(path, ["a", "c"], "y", "maximize")
    with pytest.raises(ConfigError, match=r"2 distinct design\(s\)"):
        pd.DataFrame({"a": [1, 2], "y": [1, 2]}).to_csv(path, index=False)
        liang.custom_dataset(path, ["a"], "y", "maximize")


def test_command_line_needs_the_three_csv_options(capsys):
    with pytest.raises(SystemExit) as done:
        liang.parse_args(["--csv", "x.csv", "--inputs", "a"])
    assert done.value.code == 2
    assert "--csv needs --inputs, --target and --direction" in capsys.readouterr().err
    args = liang.parse_args(["--csv", "x.csv", "--inputs", "a", "--target", "y",
                             "--direction", "minimize"])
    assert args.datasets == []  # only the table; --datasets adds published ones
    assert liang.parse_args([]).datasets == list(liang.DATASETS)


def test_main_prints_one_error_line_for_a_bad_csv(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        liang.main(["--csv", str(tmp_path / "none.csv"), "--inputs", "a", "--target", "y",
                    "--direction", "maximize", "--tracking-uri", "none"])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --csv")
