"""The mixed-optimizer benchmark's machinery (not its figures): every variant runs on
the round's model and reports a feasible batch; botorch's refusal of a discrete
composition under the sum-to-one constraint is reported, not raised."""

from __future__ import annotations

import pytest

from optim.benchmarks import mixed_optimizer
from tests.helpers import SMOKE, make_settings

TINY = ["--n", "14", "--seeds", "1", *(f"--override={o}" for o in [*SMOKE, "batch_size=2"])]


@pytest.mark.slow
def test_interlayer_reports_every_variant_with_feasible_batches(tmp_path, capsys):
    rows = mixed_optimizer.main(["--campaign", "interlayer", *TINY])
    out = capsys.readouterr().out
    space = make_settings("interlayer", tmp_path).space
    by_variant = {r["variant"]: r for r in rows}
    assert set(by_variant) == {"round", *mixed_optimizer.VARIANTS}
    for variant in mixed_optimizer.VARIANTS:
        row = by_variant[variant]
        assert row["error"] is None, row["error"]
        assert row["X"].shape == (2, space.dim)
        assert float(space.max_violation(row["X"]).max()) <= 1e-6
        assert row["quality"] >= 0 and row["cpu_s"] > 0 and row["wall_s"] > 0
        assert f"| {variant} |" in out
    round_row = by_variant["round"]
    assert round_row["n_measured"] == 14 and round_row["cpu_optimize"] > 0
    assert "round CPU" in out and "% of arms" in out


@pytest.mark.slow
def test_oxychloride_reports_botorchs_composition_error(capsys):
    rows = mixed_optimizer.main(["--campaign", "oxychloride", *TINY,
                                 "--variants", "alternating"])
    out = capsys.readouterr().out
    by_variant = {r["variant"]: r for r in rows}
    probe = by_variant["alternating (composition discrete)"]
    assert "continuous degrees of freedom" in probe["error"]
    assert by_variant["alternating"]["error"] is None
    assert "Equality constraints can only be used" in out
