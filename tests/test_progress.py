"""The live status line: shown on a terminal, silent elsewhere, never in the way."""

from __future__ import annotations

import io

from optim import progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_steps_are_shown_on_a_terminal_and_the_line_is_cleared_at_the_end():
    term = _Terminal()
    with progress.status("campaign oxychloride", file=term):
        progress.step("fitting conductivity_mS_cm (12 rows)")
        progress.step("optimizing candidate 2 of 4")
    text = term.getvalue()
    assert "campaign oxychloride: fitting conductivity_mS_cm (12 rows)" in text
    assert "campaign oxychloride: optimizing candidate 2 of 4" in text
    assert text.rstrip(" ").endswith("\r")  # leave=False: the line is wiped at the end


def test_nothing_is_written_when_the_output_is_not_a_terminal(capsys):
    piped = io.StringIO()
    with progress.status("campaign oxychloride", file=piped):
        progress.step("fitting conductivity_mS_cm")
        progress.say("a result line")
    assert piped.getvalue() == ""
    assert capsys.readouterr().out == "a result line\n"  # results still reach stdout


def test_steps_outside_a_status_line_and_nested_lines_are_harmless():
    progress.step("no line open: nothing happens")
    outer, inner = _Terminal(), _Terminal()
    with progress.status("outer", file=outer), progress.status("inner", file=inner):
        progress.step("a step")
    assert inner.getvalue() == ""  # the outer line shows the steps of nested blocks
    assert "outer: a step" in outer.getvalue()
