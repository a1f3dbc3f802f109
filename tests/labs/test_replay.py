"""The replay lab answers from a table of real measurements."""

from __future__ import annotations

import pandas as pd
import pytest

from optim.exceptions import LabError
from optim.labs import ReplayLab, average_replicates


def test_replicates_average_their_distinct_values():
    raw = pd.DataFrame({"a": [1, 1, 1, 2], "b": [0.5, 0.5, 0.5, 0.5],
                        "y": [1.0, 1.0, 4.0, 7.0]})
    out = average_replicates(raw, ["a", "b"], ["y"])
    # distinct values of (1, 0.5): {1, 4} -> 2.5 (the Liang et al. convention)
    assert out.set_index("a")["y"].to_dict() == {1: 2.5, 2: 7.0}


def test_replay_lab_answers_by_inputs_and_refuses_unknown(tmp_path):
    path = tmp_path / "data.csv"
    pd.DataFrame({"n": [6, 6, 8], "t": [0.7, 0.7, 1.4], "toughness": [1.0, 3.0, 9.5]}
                 ).to_csv(path, index=False)
    lab = ReplayLab(path, ["toughness"])
    out = lab(pd.DataFrame({"id": ["x-1", "x-2"], "round": 1, "n": [8.0, 6.0],
                            "t": [1.4, 0.7]}))
    assert out.to_dict("list") == {"id": ["x-1", "x-2"], "toughness": [9.5, 2.0]}
    with pytest.raises(LabError, match="experiment x-3 with inputs .* is not in"):
        lab(pd.DataFrame({"id": ["x-3"], "round": 1, "n": [10.0], "t": [0.7]}))
    with pytest.raises(LabError, match=r"has no column\(s\) \['strength'\]"):
        ReplayLab(path, ["strength"])


def test_missing_replay_table_is_a_lab_error(tmp_path):
    with pytest.raises(LabError, match=r"replay lab: file .*nowhere.csv not found"):
        ReplayLab(tmp_path / "nowhere.csv", ["toughness"])
