"""The weighing sheet of ledger rows (``python -m optim campaign=... recipe=oxy-0012``).

For a composition campaign with a ``weighing:`` block, each selected experiment becomes
grams of each precursor (``optim.weighing``). The sheet is shown as a table, written as
CSV and as a printable, self-contained HTML page with blank "weighed (g)" cells to fill
in at the balance.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from optim.exceptions import ConfigError, LedgerError
from optim.ledger import _did_you_mean
from optim.settings import CampaignSettings
from optim.weighing import WeighingLine, WeighingSpec, asked_column, grams_column, weigh

__all__ = ["Recipe", "Sheet", "build_recipe", "format_recipe", "recipe_html",
           "recipe_table", "write_recipe"]

_ROUND = re.compile(r"round(?::(.*))?")
FORMS = "an experiment id (recipe=oxy-0012), recipe=round (the latest round) or " \
        "recipe=round:<n>"


@dataclass(frozen=True)
class Sheet:
    """One experiment's weighing sheet.

    Args:
        id: The ledger id.
        round: Its round.
        status: Its status.
        lines: One line per precursor.
        recorded: Grams already recorded as weighed, by precursor (empty: none yet).
    """

    id: str
    round: int
    status: str
    lines: tuple[WeighingLine, ...]
    recorded: dict[str, float] = field(default_factory=dict)

    @property
    def total_g(self) -> float:
        """Grams to weigh, all precursors."""
        return sum(line.grams for line in self.lines)


@dataclass(frozen=True)
class Recipe:
    """Weighing sheets of one experiment or one round.

    Args:
        campaign: The campaign's name.
        label: ``oxy-0012`` or ``round-003`` (the files' name).
        round: The round the experiments belong to.
        sheets: One per experiment.
        spec: Batch mass, balance, purities.
        created: When the sheet was made (UTC, ISO 8601).
        paths: The files written (CSV, HTML), once written.
        attached: The mlflow run the files were attached to, or ``None``.
    """

    campaign: str
    label: str
    round: int
    sheets: tuple[Sheet, ...]
    spec: WeighingSpec
    created: str
    paths: tuple[Path, ...] = ()
    attached: str | None = None

    @property
    def ids(self) -> list[str]:
        """The experiments, in ledger order."""
        return [s.id for s in self.sheets]


def _no_sheet(settings: CampaignSettings) -> ConfigError:
    where = f"configs/campaign/{settings.name}.yaml (or your --config-dir's)"
    if settings.space.composition is None:
        return ConfigError(f"campaign {settings.name!r} has no composition "
                           "(search_space.composition), so there are no precursors to "
                           "weigh and no weighing sheet.", key="recipe")
    names = settings.space.composition_names
    purity = ", ".join(f"{n}: 0.99" for n in names)
    return ConfigError(
        f"campaign {settings.name!r} has no weighing sheet: its config has no `weighing:` "
        f"block. Fix: add one at the top level of {where}, e.g.\n"
        f"weighing:\n  batch_mass_g: 2.0\n  balance_resolution_g: 0.0001\n"
        f"  purity: {{{purity}}}", key="weighing")


def _select(frame: pd.DataFrame, which: str) -> tuple[str, int, pd.DataFrame]:
    """The rows ``which`` names: an id, ``round`` (the latest) or ``round:<n>``."""
    rounds = sorted({int(r) for r in frame["round"] if int(r) > 0})
    match = _ROUND.fullmatch(which)
    if match:
        if not rounds:
            raise LedgerError(f"recipe={which}: the ledger has no planned round yet. Fix: "
                              "plan a round first (python -m optim campaign=<name>).")
        text = match.group(1)
        number = rounds[-1] if text is None else None
        if text is not None:
            try:
                number = int(text)
            except ValueError:
                number = None
            if number not in rounds:
                raise LedgerError(
                    f"recipe={which}: round {text!r} is not a round of the ledger "
                    f"(rounds {', '.join(map(str, rounds))}). Fix: recipe=round:"
                    f"{rounds[-1]}, or recipe=round for the latest.")
        rows = frame[(frame["round"] == number) & (frame["status"] != "rejected")
                     & (frame["replicate_of"] == "")]
        if rows.empty:
            raise LedgerError(f"recipe={which}: round {number} has no experiment to weigh "
                              "(every proposal of it was rejected). Fix: another round.")
        return f"round-{number:03d}", int(number), rows
    ids = list(frame["id"])
    if which not in ids:
        span = f"{ids[0]} … {ids[-1]}" if ids else "none yet"
        raise LedgerError(
            f"recipe={which}: {which!r} is not an id in the ledger (ids: {span}; rounds: "
            f"{', '.join(map(str, rounds)) or 'none'}){_did_you_mean(which, ids)}. Fix: "
            f"{FORMS}" + (f" (round {which}: recipe=round:{which})" if which.isdigit()
                          else "") + ".")
    rows = frame[frame["id"] == which]
    return which, int(rows["round"].iloc[0]), rows


def build_recipe(settings: CampaignSettings, frame: pd.DataFrame, which: str,
                 created: str | None = None) -> Recipe:
    """The weighing sheets of the experiments ``which`` names.

    Args:
        settings: The campaign (needs a composition and a weighing spec).
        frame: The ledger (validated).
        which: An id, ``round`` (the latest round) or ``round:<n>``.
        created: The sheet's time stamp (default: now, UTC).

    Raises:
        ConfigError: The campaign has no composition or no ``weighing:`` block.
        LedgerError: An unknown id or round (the message lists the valid ones).
    """
    comp, spec = settings.space.composition, settings.weighing
    if comp is None or spec is None:
        raise _no_sheet(settings)
    label, rnd, rows = _select(frame, str(which).strip())
    sheets = []
    for rec in rows.to_dict("records"):
        asked = {p: rec[asked_column(p)] if math.isfinite(rec[asked_column(p)]) else rec[p]
                 for p in comp.names}
        recorded = {p: float(rec[grams_column(p)]) for p in comp.names
                    if math.isfinite(rec[grams_column(p)])}
        sheets.append(Sheet(rec["id"], int(rec["round"]), rec["status"],
                            weigh(asked, comp, spec), recorded))
    stamp = created or datetime.now(UTC).replace(microsecond=0).isoformat()
    return Recipe(settings.name, label, rnd, tuple(sheets), spec, stamp)


def _grams(value: float, spec: WeighingSpec) -> str:
    return f"{value:.{spec.decimals}f}"


def recipe_table(recipe: Recipe) -> pd.DataFrame:
    """The sheet as a table, one row per experiment and precursor (the CSV)."""
    spec = recipe.spec
    rows = []
    for s in recipe.sheets:
        for line in s.lines:
            weighed = s.recorded.get(line.precursor)
            rows.append({
                "id": s.id, "round": s.round, "precursor": line.precursor,
                "molar_mass_g_mol": round(line.molar_mass, 4), "purity": line.purity,
                "mole_fraction_asked": round(line.asked, 6),
                "grams_to_weigh": _grams(line.grams, spec),
                "mole_fraction_as_weighed": round(line.weighed, 6),
                "deviation": f"{line.deviation:+.2e}",
                "weighed_g": "" if weighed is None else _grams(weighed, spec)})
    return pd.DataFrame(rows)


def _purities(spec: WeighingSpec, names: list[str]) -> str:
    return ", ".join(f"{n} {100 * spec.purity_of(n):g} %" for n in names)


def format_recipe(recipe: Recipe) -> str:
    """The sheet for the terminal: a table per experiment."""
    spec = recipe.spec
    names = [line.precursor for line in recipe.sheets[0].lines]
    lines = [f"Weighing sheet of campaign '{recipe.campaign}', {recipe.label} "
             f"({len(recipe.sheets)} experiment(s)): batch {spec.batch_mass_g:g} g of "
             f"product, balance {spec.balance_resolution_g:g} g, purity "
             f"{_purities(spec, names)}."]
    for s in recipe.sheets:
        table = pd.DataFrame({
            "precursor": [line.precursor for line in s.lines],
            "mole fraction asked": [f"{line.asked:.5f}" for line in s.lines],
            "grams to weigh": [_grams(line.grams, spec) for line in s.lines],
            "mole fraction as weighed": [f"{line.weighed:.5f}" for line in s.lines],
            "deviation": [f"{line.deviation:+.1e}" for line in s.lines]})
        if s.recorded:
            table["weighed (g)"] = [_grams(s.recorded[line.precursor], spec)
                                    for line in s.lines]
        lines += ["", f"{s.id} (round {s.round}, {s.status}): "
                  f"{_grams(s.total_g, spec)} g in all", table.to_string(index=False)]
    return "\n".join(lines)


_CSS = """
body { font-family: "Helvetica Neue", Arial, sans-serif; font-size: 11pt; color: #000;
       margin: 2em; }
h1 { font-size: 16pt; margin: 0 0 0.4em; }
h2 { font-size: 12pt; margin: 1.2em 0 0.3em; }
h2 span { font-weight: normal; color: #444; }
table { border-collapse: collapse; margin-bottom: 0.4em; }
th, td { border: 1px solid #444; padding: 0.3em 0.6em; }
th { background: #eee; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.blank { min-width: 7em; height: 1.6em; }
table.meta th { width: 10em; }
p.sign, p.note { margin: 0.3em 0 0; color: #222; }
section { break-inside: avoid; page-break-inside: avoid; }
@media print { body { margin: 0; } @page { margin: 15mm; } th { background: #ddd; } }
"""


def recipe_html(recipe: Recipe) -> str:
    """A printable, self-contained page (plain HTML and inline CSS)."""
    spec, e = recipe.spec, html.escape
    names = [line.precursor for line in recipe.sheets[0].lines]
    meta = [("Campaign", recipe.campaign), ("Experiments", ", ".join(recipe.ids)),
            ("Round", str(recipe.round)), ("Date", recipe.created),
            ("Batch mass", f"{spec.batch_mass_g:g} g of product (pure precursors)"),
            ("Balance resolution", f"{spec.balance_resolution_g:g} g"),
            ("Purity", _purities(spec, names))]
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>Weighing sheet: {e(recipe.campaign)} {e(recipe.label)}</title>",
           f"<style>{_CSS}</style>", "</head>", "<body>",
           f"<h1>Weighing sheet: {e(recipe.campaign)}, {e(recipe.label)}</h1>",
           '<table class="meta">',
           *(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in meta), "</table>"]
    head = ("Precursor", "M (g/mol)", "Purity", "Mole fraction asked", "Grams to weigh",
            "Mole fraction as weighed", "Deviation", "Weighed (g)")
    for s in recipe.sheets:
        out += ["<section>", f"<h2>{e(s.id)} <span>round {s.round}, {e(s.status)}</span>"
                "</h2>", "<table>", "<thead><tr>" + "".join(f"<th>{h}</th>" for h in head)
                + "</tr></thead>", "<tbody>"]
        for line in s.lines:
            weighed = s.recorded.get(line.precursor)
            cells = [f"<td>{e(line.precursor)}</td>",
                     f'<td class="num">{line.molar_mass:.4f}</td>',
                     f'<td class="num">{line.purity:g}</td>',
                     f'<td class="num">{line.asked:.5f}</td>',
                     f'<td class="num"><strong>{_grams(line.grams, spec)}</strong></td>',
                     f'<td class="num">{line.weighed:.5f}</td>',
                     f'<td class="num">{line.deviation:+.1e}</td>',
                     '<td class="blank"></td>' if weighed is None else
                     f'<td class="num">{_grams(weighed, spec)}</td>']
            out.append("<tr>" + "".join(cells) + "</tr>")
        out += ["</tbody>", f'<tfoot><tr><th colspan="4">Total</th><td class="num">'
                f"{_grams(s.total_g, spec)}</td><td></td><td></td>"
                '<td class="blank"></td></tr></tfoot>', "</table>",
                '<p class="sign">Weighed by: ____________ &nbsp; Date: ____________ '
                "&nbsp; Balance: ____________</p>", "</section>"]
    columns = ",".join(["id", *map(grams_column, names)])
    out += [f'<p class="note">Record what was weighed: a results file with columns '
            f"<code>{e(columns)}</code>, then <code>python -m optim campaign="
            f"{e(recipe.campaign)} record=weighed.csv</code>. The ledger keeps the grams "
            "and the mole fractions as weighed (the proposal's in the asked_ columns).</p>",
            "</body>", "</html>", ""]
    return "\n".join(out)


def write_recipe(recipe: Recipe, folder: Path) -> tuple[Path, Path]:
    """Write ``<folder>/<label>.csv`` and ``<label>.html``; returns both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    csv, page = folder / f"{recipe.label}.csv", folder / f"{recipe.label}.html"
    recipe_table(recipe).to_csv(csv, index=False)
    page.write_text(recipe_html(recipe), encoding="utf-8")
    return csv, page
