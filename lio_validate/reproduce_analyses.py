"""The analyses of a paper configuration: each turns data into tables and figures.

Every runner takes the analysis spec, the data frame and the levels of the
organisation model, and returns an :class:`AnalysisOutput`: CSV tables with full
precision, LaTeX tables rounded for the manuscript, figures, captions and the
optimiser's convergence report. Nothing here writes files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lio_validate import figures
from lio_validate.figures import display_name
from lio_validate.api import cfa, sem
from lio_validate.exceptions import LioInputError
from lio_validate.output import estimates_to_csv, table_to_latex
from lio_validate.reliability import reliability
from lio_validate.syntax import parse_model

__all__ = ["AnalysisOutput", "run_analysis"]

FIT_TABLE_COLUMNS = {
    "chisq": "Chi-square",
    "df": "df",
    "pvalue": "p",
    "cfi": "CFI",
    "tli": "TLI",
    "rmsea": "RMSEA",
    "rmsea_ci_lower": "RMSEA 90% CI lower",
    "rmsea_ci_upper": "RMSEA 90% CI upper",
    "srmr": "SRMR",
}
# Columns of variable names, shown with spaces in LaTeX tables.
_NAME_COLUMNS = {"lhs", "rhs", "scale", "variable"}
PARAMETER_COLUMNS = {
    "lhs": "Outcome",
    "rhs": "Predictor",
    "est": "Estimate",
    "se": "SE",
    "pvalue": "p",
    "std_all": "Std. estimate",
}


@dataclass(frozen=True)
class AnalysisOutput:
    """Tables, figures and diagnostics of one analysis.

    Attributes
    ----------
    tables : dict of str to str
        File name under ``tables/`` (``.csv`` or ``.tex``) to its text.
    figures : dict of str to matplotlib.figure.Figure
        File stem under ``figures/`` to the figure.
    captions : dict of str to str
        Caption of each table and figure, by file name or stem.
    convergence : dict
        ``converged``, ``iterations`` and ``max_abs_gradient`` of each fitted
        model, keyed by the model's role (``"model"``), or empty.
    """

    tables: dict[str, str] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)
    captions: dict[str, str] = field(default_factory=dict)
    convergence: dict[str, Any] = field(default_factory=dict)


def _for_manuscript(table: pd.DataFrame) -> pd.DataFrame:
    """Show names with spaces for underscores and p-values as journals print them."""
    table = table.copy()
    for column in _NAME_COLUMNS & set(table.columns):
        table[column] = [display_name(value) for value in table[column].astype(str)]
    if "pvalue" in table.columns:
        table["pvalue"] = [_format_pvalue(value) for value in table["pvalue"]]
    return table


def _format_pvalue(value: float) -> str:
    if not np.isfinite(value):
        return "--"
    if value < 0.001:
        return "< .001"
    return f"{value:.3f}".replace("0.", ".", 1)


def _add_table(
    result: AnalysisOutput,
    stem: str,
    table: pd.DataFrame,
    caption: str,
    latex_columns: Mapping[str, str] | None = None,
) -> None:
    """Add a table as CSV and, if ``latex_columns`` is given, as LaTeX."""
    result.tables[f"{stem}.csv"] = estimates_to_csv(table)
    result.captions[f"{stem}.csv"] = caption
    if latex_columns is not None:
        result.tables[f"{stem}.tex"] = table_to_latex(
            _for_manuscript(table), caption=caption, label=stem, columns=latex_columns
        )
        result.captions[f"{stem}.tex"] = caption + " (LaTeX, rounded)"


def _add_figure(result: AnalysisOutput, stem: str, figure: Figure, caption: str):
    result.figures[stem] = figure
    result.captions[stem] = caption


def _fit_table(fit) -> pd.DataFrame:
    """Return the fit measures as one row, with lavaan's names as columns."""
    return pd.DataFrame([dict(fit.fit_measures)])


def _convergence(fit) -> dict[str, Any]:
    return {
        "converged": fit.converged,
        "iterations": fit.iterations,
        "max_abs_gradient": fit.max_abs_gradient,
        "nobs": fit.nobs,
        "nobs_dropped": fit.nobs_dropped,
    }


def measurement_model(model_text: str) -> str:
    """Return the measurement part of a model: its ``=~`` statements, in order.

    The statements are copied as written, with their modifiers. The CFA that
    ``cfa()`` fits to them lets every pair of factors covary, as lavaan's does.
    """
    statements = []
    for term in parse_model(model_text).terms:
        if term.op == "=~" and term.text not in statements:
            statements.append(term.text)
    if not statements:
        raise LioInputError(
            "The model has no measurement part (=~ lines), so there is no CFA to fit. "
            "Give the analysis a model with latent variables."
        )
    return "\n".join(statements) + "\n"


def scales_of(model_text: str, columns) -> dict[str, list[str]]:
    """Return one scale per factor whose indicators are all data columns."""
    scales: dict[str, list[str]] = {}
    for term in parse_model(model_text).terms:
        if term.op == "=~":
            scales.setdefault(term.lhs, []).append(term.rhs)
    known = set(columns)
    return {
        name: items
        for name, items in scales.items()
        if len(items) >= 2 and all(item in known for item in items)
    }


# --------------------------------------------------------------------------------------
# Runners


def _run_reliability(spec, frame: pd.DataFrame, levels) -> AnalysisOutput:
    if spec.scales:
        scales = {name: list(items) for name, items in spec.scales.items()}
    else:
        scales = scales_of(spec.model_text, frame.columns)
    result = reliability(frame, scales)

    output = AnalysisOutput()
    columns = {
        "scale": "Scale",
        "n_items": "Items",
        "nobs": "n",
        "alpha": "Alpha",
        "alpha_ci_lower": "Alpha 95% CI lower",
        "alpha_ci_upper": "Alpha 95% CI upper",
        "omega": "Omega",
        "composite_reliability": "CR",
        "ave": "AVE",
    }
    _add_table(output, spec.name, result.table, spec.title, columns)
    _add_table(
        output, f"{spec.name}_items", result.items, f"{spec.title}: item statistics"
    )
    _add_figure(
        output,
        spec.name,
        figures.plot_reliability(result.table),
        f"{spec.title}: Cronbach's alpha with its 95% CI and omega per scale",
    )
    return output


def _run_cfa(spec, frame: pd.DataFrame, levels) -> AnalysisOutput:
    fit = cfa(measurement_model(spec.model_text), frame)
    output = AnalysisOutput(convergence={"model": _convergence(fit)})
    _add_table(
        output, f"{spec.name}_estimates", fit.estimates, f"{spec.title}: estimates"
    )
    _add_table(
        output,
        f"{spec.name}_fit_measures",
        _fit_table(fit),
        f"{spec.title}: fit measures",
        FIT_TABLE_COLUMNS,
    )
    loadings = fit.estimates[fit.estimates["op"] == "=~"]
    _add_table(
        output,
        f"{spec.name}_loadings",
        loadings,
        f"{spec.title}: loadings",
        {**PARAMETER_COLUMNS, "lhs": "Factor", "rhs": "Item"},
    )
    _add_figure(
        output,
        f"{spec.name}_loadings",
        figures.plot_loadings(fit.estimates),
        f"{spec.title}: standardized loadings per factor",
    )
    return output


def _run_sem(spec, frame: pd.DataFrame, levels) -> AnalysisOutput:
    fit = sem(spec.model_text, frame)
    output = AnalysisOutput(convergence={"model": _convergence(fit)})
    estimates = fit.estimates
    _add_table(output, f"{spec.name}_estimates", estimates, f"{spec.title}: estimates")
    _add_table(
        output,
        f"{spec.name}_fit_measures",
        _fit_table(fit),
        f"{spec.title}: fit measures",
        FIT_TABLE_COLUMNS,
    )
    paths = estimates[estimates["op"] == "~"]
    _add_table(
        output,
        f"{spec.name}_paths",
        paths,
        f"{spec.title}: structural paths",
        PARAMETER_COLUMNS,
    )
    r_squared = fit.r_squared.rename("r_squared").rename_axis("variable").reset_index()
    _add_table(
        output,
        f"{spec.name}_r_squared",
        r_squared,
        f"{spec.title}: explained variance",
        {"variable": "Variable", "r_squared": "R\u00b2"},
    )
    if len(paths):
        _add_figure(
            output,
            f"{spec.name}_path_diagram",
            figures.plot_path_diagram(estimates, levels=levels),
            f"{spec.title}: path diagram with standardized estimates",
        )
    return output


def _file_part(value: str) -> str:
    """Turn a group value into a safe part of a file name."""
    return re.sub(r"[^A-Za-z0-9]+", "_", value).strip("_").lower() or "group"


def _run_groups(spec, frame: pd.DataFrame, levels) -> AnalysisOutput:
    fit = sem(spec.model_text, frame, group=spec.group)
    output = AnalysisOutput(convergence={"model": _convergence(fit)})
    estimates = fit.estimates
    groups = list(spec.groups) if spec.groups else list(fit.group_names)
    unknown = [group for group in groups if group not in fit.group_names]
    if unknown:
        raise LioInputError(
            f"analysis {spec.name!r}: group(s) {unknown} are not values of "
            f"{spec.group!r}; its values are {list(fit.group_names)}"
        )

    _add_table(output, f"{spec.name}_estimates", estimates, f"{spec.title}: estimates")
    _add_table(
        output,
        f"{spec.name}_fit_measures",
        _fit_table(fit),
        f"{spec.title}: fit measures of the multi-group model",
        FIT_TABLE_COLUMNS,
    )
    paths = estimates[estimates["op"] == "~"].copy()
    paths["group"] = pd.Categorical(paths["group"], categories=groups)
    paths = paths.dropna(subset=["group"]).sort_values(
        ["lhs", "rhs", "group"], kind="stable"
    )
    paths["group"] = paths["group"].astype(str)
    _add_table(
        output,
        f"{spec.name}_paths",
        paths,
        f"{spec.title}: structural paths per group ({spec.group})",
        {
            "lhs": "Outcome",
            "rhs": "Predictor",
            "group": "Group",
            "est": "Estimate",
            "ci_lower": "95% CI lower",
            "ci_upper": "95% CI upper",
            "std_all": "Std. estimate",
        },
    )

    parameters = list(spec.parameters) if spec.parameters else None
    _add_figure(
        output,
        f"{spec.name}_paths",
        figures.plot_group_forest(
            estimates,
            parameters=parameters,
            groups=groups,
            xlabel="Unstandardized path (est) with 95% CI",
        ),
        f"{spec.title}: structural paths per group with 95% confidence intervals",
    )
    for group in groups:
        _add_figure(
            output,
            f"{spec.name}_path_diagram_{_file_part(group)}",
            figures.plot_path_diagram(estimates, levels=levels, group=group),
            f"{spec.title}: path diagram of group {group}",
        )
    return output


_RUNNERS = {
    "reliability": _run_reliability,
    "cfa": _run_cfa,
    "sem": _run_sem,
    "groups": _run_groups,
}


def run_analysis(spec, frame: pd.DataFrame, levels) -> AnalysisOutput:
    """Run one analysis of a configuration on the data."""
    return _RUNNERS[spec.kind](spec, frame, levels)
