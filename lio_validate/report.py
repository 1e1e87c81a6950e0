"""Markdown report of a run (``report.md`` in the results folder).

The report gathers the data and model summary, the fit measures, reliability,
discriminant validity, standardized loadings, structural paths, R², the warnings
of the run and the figures, each table followed by a short plain-language reading.
This is the only place where numbers are rounded: three decimals, p-values below
.001 as "< .001". The files next to the report keep full precision.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from lio_validate.manifest import describe_warning

__all__ = ["render_report_markdown"]

HU_BENTLER_1999 = (
    "Hu, L., & Bentler, P. M. (1999). Cutoff criteria for fit indexes in covariance "
    "structure analysis: Conventional criteria versus new alternatives. *Structural "
    "Equation Modeling, 6*(1), 1-55. https://doi.org/10.1080/10705519909540118"
)
FORNELL_LARCKER_1981 = (
    "Fornell, C., & Larcker, D. F. (1981). Evaluating structural equation models "
    "with unobservable variables and measurement error. *Journal of Marketing "
    "Research, 18*(1), 39-50."
)
HENSELER_2015 = (
    "Henseler, J., Ringle, C. M., & Sarstedt, M. (2015). A new criterion for "
    "assessing discriminant validity in variance-based structural equation "
    "modeling. *Journal of the Academy of Marketing Science, 43*(1), 115-135. "
    "https://doi.org/10.1007/s11747-014-0403-8"
)
ROEMER_2021 = (
    "Roemer, E., Schuberth, F., & Henseler, J. (2021). HTMT2 - an improved "
    "criterion for assessing discriminant validity in structural equation "
    "modeling. *Industrial Management & Data Systems*. "
    "https://doi.org/10.1108/IMDS-02-2021-0082"
)

# Cut-offs for good fit from Hu and Bentler (1999), and the looser values that are
# commonly read as acceptable fit.
GOOD_CFI, GOOD_RMSEA, GOOD_SRMR = 0.95, 0.06, 0.08
ACCEPTABLE_CFI, ACCEPTABLE_RMSEA = 0.90, 0.08
MINIMUM_RELIABILITY = 0.70
MINIMUM_AVE = 0.50
MINIMUM_LOADING = 0.50

FIGURE_CAPTIONS = {
    "path_diagram": "Path diagram of the structural model with standardized estimates",
    "loadings": "Standardized loadings per factor",
    "standardized_loadings": "Standardized loadings per factor",
    "reliability": "Reliability per scale: Cronbach's alpha with its CI and omega",
    "group_paths": "Structural paths per group with their confidence intervals",
    "invariance_ladder": "Fit of each measurement invariance level and the change "
    "from the level before",
}

# Robust or scaled counterpart of each fit measure, best first.
_ROBUST_KEYS = {
    "chisq": ["chisq_scaled"],
    "df": ["df_scaled"],
    "pvalue": ["pvalue_scaled"],
    "cfi": ["cfi_robust", "cfi_scaled"],
    "tli": ["tli_robust", "tli_scaled"],
    "rmsea": ["rmsea_robust", "rmsea_scaled"],
}


# --------------------------------------------------------------------------------------
# Formatting


def _is_number(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _number(value: Any, decimals: int = 3) -> str:
    """Round a number for display. Missing and non-finite values become "NA"."""
    if not _is_number(value):
        return "NA"
    return f"{float(value):.{decimals}f}"


def _bounded(value: Any) -> str:
    """Format a value that cannot exceed 1 in APA style, without the leading zero."""
    text = _number(value)
    return text.replace("0.", ".", 1) if text.startswith(("0.", "-0.")) else text


def _cutoff(value: float) -> str:
    """Format a conventional cut-off as it is usually cited: 0.95 becomes ".95"."""
    return f"{value:.2f}".replace("0.", ".", 1)


def _pvalue(value: Any) -> str:
    if not _is_number(value):
        return "NA"
    if float(value) < 0.001:
        return "< .001"
    return _bounded(value)


def _integer_or_number(value: Any) -> str:
    if _is_number(value) and float(value).is_integer():
        return str(int(float(value)))
    return _number(value)


def _escape(text: Any) -> str:
    """Escape the characters that would break a Markdown table cell or emphasis."""
    value = "" if text is None else str(text)
    for character in ("\\", "|", "*", "`", "<", ">"):
        value = value.replace(character, "\\" + character)
    return value.replace("\n", " ")


def _table(header: list[str], rows: list[list[str]], numeric: list[bool]) -> str:
    """Return a Markdown table with the numeric columns right-aligned."""
    rule = ["---:" if is_numeric else "---" for is_numeric in numeric]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _section(heading: str, *parts: str) -> str:
    return "\n\n".join([f"## {heading}", *parts])


def _group_values(estimates: pd.DataFrame) -> pd.Series:
    if "group" not in estimates.columns:
        return pd.Series("", index=estimates.index)
    return estimates["group"].fillna("").astype(str)


def _list_names(names: list[str], limit: int = 8) -> str:
    """Join names as "a, b and c", naming at most ``limit`` of them."""
    if len(names) > limit:
        listed = [*names[:limit], f"{len(names) - limit} more"]
    else:
        listed = list(names)
    if len(listed) <= 1:
        return "".join(listed)
    return ", ".join(listed[:-1]) + " and " + listed[-1]


# --------------------------------------------------------------------------------------
# Sections


def _convergence_line(fit: Any) -> str:
    """Describe the optimiser's convergence when the fit result reports it."""
    converged = getattr(fit, "converged", None)
    if converged is None:
        return ""
    text = "- Optimiser: " + ("converged" if converged else "did NOT converge")
    iterations = getattr(fit, "iterations", None)
    if iterations is not None:
        text += f" after {int(iterations)} iterations"
    gradient = getattr(fit, "max_abs_gradient", None)
    if _is_number(gradient):
        text += f" (largest absolute gradient {float(gradient):.1e})"
    return text


def _data_section(
    fit_measures: Mapping[str, Any],
    data_path: str | None,
    nobs: int | None,
    rows_dropped: int | None,
    estimator: str | None,
    convergence: str,
    groups: list[str],
    model_text: str | None,
) -> str:
    used = nobs if nobs is not None else fit_measures.get("nobs")
    lines = [
        "## Data and model",
        "",
        f"- Data file: {_escape(data_path) if data_path else 'not recorded'}",
        f"- Observations used: {_integer_or_number(used)}",
    ]
    if rows_dropped is not None:
        lines.append(f"- Rows dropped because of missing values: {int(rows_dropped)}")
    lines.append(f"- Estimator: {_escape(estimator) if estimator else 'not recorded'}")
    if convergence:
        lines.append(convergence)
    if len(groups) > 1:
        lines.append(f"- Groups: {_escape(', '.join(groups))}")
    if "npar" in fit_measures:
        lines.append(f"- Free parameters: {_integer_or_number(fit_measures['npar'])}")

    if model_text:
        # A fence longer than any backtick run in the text keeps the block intact.
        longest_run = max((len(run) for run in re.findall("`+", model_text)), default=0)
        fence = "`" * max(3, longest_run + 1)
        lines += ["", "Model:", "", fence, model_text.rstrip("\n"), fence]
    return "\n".join(lines)


def _robust_value(fit_measures: Mapping[str, Any], key: str) -> Any:
    for robust_key in _ROBUST_KEYS.get(key, []):
        if _is_number(fit_measures.get(robust_key)):
            return fit_measures[robust_key]
    return None


def _fit_table(fit_measures: Mapping[str, Any]) -> str:
    has_robust = any(
        _robust_value(fit_measures, key) is not None for key in _ROBUST_KEYS
    )
    rmsea_interval = "NA"
    lower = fit_measures.get("rmsea_ci_lower")
    upper = fit_measures.get("rmsea_ci_upper")
    if _is_number(lower) and _is_number(upper):
        rmsea_interval = f"{_bounded(lower)} to {_bounded(upper)}"

    rows = [
        ("Chi-square (chisq)", _number(fit_measures.get("chisq")), "chisq", _number),
        (
            "Degrees of freedom (df)",
            _integer_or_number(fit_measures.get("df")),
            "df",
            _integer_or_number,
        ),
        (
            "p-value of chi-square",
            _pvalue(fit_measures.get("pvalue")),
            "pvalue",
            _pvalue,
        ),
        ("CFI", _bounded(fit_measures.get("cfi")), "cfi", _bounded),
        ("TLI", _bounded(fit_measures.get("tli")), "tli", _bounded),
        ("RMSEA", _bounded(fit_measures.get("rmsea")), "rmsea", _bounded),
        ("RMSEA 90% CI", rmsea_interval, None, None),
        ("SRMR", _bounded(fit_measures.get("srmr")), None, None),
        ("Log-likelihood (logl)", _number(fit_measures.get("logl")), None, None),
        ("AIC", _number(fit_measures.get("aic")), None, None),
        ("BIC", _number(fit_measures.get("bic")), None, None),
    ]
    if has_robust and _is_number(fit_measures.get("chisq_scaling_factor")):
        rows.insert(3, ("Scaling factor", "", "chisq_scaling_factor", _number))

    table_rows = []
    for label, value, key, formatter in rows:
        row = [label, value]
        if has_robust:
            robust = None
            if key == "chisq_scaling_factor":
                robust = fit_measures.get(key)
            elif key is not None:
                robust = _robust_value(fit_measures, key)
            row.append(formatter(robust) if robust is not None else "")
        table_rows.append(row)

    header = ["Measure", "Standard"] + (["Scaled / robust"] if has_robust else [])
    return _table(header, table_rows, [False] + [True] * (len(header) - 1))


def _fit_reading(fit_measures: Mapping[str, Any]) -> str:
    """Explain in one paragraph what the fit measures mean."""
    # Robust estimators (MLR, MLM, WLSMV) are read by their robust measures.
    use_robust = _robust_value(fit_measures, "cfi") is not None
    measures = {}
    for key in ("chisq", "df", "pvalue", "cfi", "rmsea"):
        robust = _robust_value(fit_measures, key) if use_robust else None
        measures[key] = robust if robust is not None else fit_measures.get(key)
    chisq, df, pvalue = measures["chisq"], measures["df"], measures["pvalue"]
    cfi, rmsea = measures["cfi"], measures["rmsea"]
    srmr = fit_measures.get("srmr")
    kind = "robust " if use_robust else ""

    if _is_number(df) and float(df) == 0:
        return (
            "The model is saturated (df = 0): it reproduces the observed covariances "
            "exactly, so the fit measures say nothing about misfit."
        )

    sentences = []
    if _is_number(chisq) and _is_number(pvalue):
        statistic = f"chi-square({_integer_or_number(df)}) = {_number(chisq)}"
        test = f"{statistic}, p {_p_phrase(pvalue)}"
        if float(pvalue) < 0.05:
            sentences.append(
                f"The {kind}chi-square test rejects exact fit ({test}): the model "
                "reproduces the observed covariances less closely than sampling error "
                "alone would explain. In large samples this test also rejects small, "
                "unimportant misfit, so the approximate indices below weigh more."
            )
        else:
            sentences.append(
                f"The {kind}chi-square test does not reject exact fit ({test})."
            )

    if not (_is_number(cfi) and _is_number(rmsea)):
        sentences.append("CFI or RMSEA is not available, so fit is not rated here.")
        return " ".join(sentences)

    sentences.append(
        f"The {kind}CFI of {_bounded(cfi)} compares the model with a baseline in which "
        "all observed variables are uncorrelated (1 is the largest improvement), and "
        f"the {kind}RMSEA of {_bounded(rmsea)} is the misfit per degree of freedom "
        "(0 is exact fit)."
    )
    if _is_number(srmr):
        sentences.append(
            f"The SRMR of {_bounded(srmr)} is the average difference between observed "
            "and model-implied correlations."
        )

    checks = {
        f"CFI \u2265 {_cutoff(GOOD_CFI)}": float(cfi) >= GOOD_CFI,
        f"RMSEA \u2264 {_cutoff(GOOD_RMSEA)}": float(rmsea) <= GOOD_RMSEA,
    }
    if _is_number(srmr):
        checks[f"SRMR \u2264 {_cutoff(GOOD_SRMR)}"] = float(srmr) <= GOOD_SRMR
    failed = [rule for rule, passed in checks.items() if not passed]
    unmet = f"{_list_names(failed)} {'is' if len(failed) == 1 else 'are'} not met"
    looser = (
        f"CFI \u2265 {_cutoff(ACCEPTABLE_CFI)} and "
        f"RMSEA \u2264 {_cutoff(ACCEPTABLE_RMSEA)}"
    )
    if not failed:
        verdict = "the fit is good"
    elif float(cfi) >= ACCEPTABLE_CFI and float(rmsea) <= ACCEPTABLE_RMSEA:
        verdict = (
            f"the fit is not good because {unmet}, but it is acceptable by the "
            f"looser convention of {looser}"
        )
    else:
        verdict = f"the fit is poor: {unmet}, nor is the looser {looser}"
    sentences.append(
        f"By the cut-offs of Hu and Bentler (1999), {_list_names(list(checks))}, "
        f"{verdict}. These cut-offs are conventions from simulations, not tests."
    )
    return " ".join(sentences)


def _p_phrase(pvalue: Any) -> str:
    text = _pvalue(pvalue)
    return text if text.startswith("<") or text == "NA" else f"= {text}"


def _reliability_section(reliability: pd.DataFrame) -> str:
    rows = []
    for _, row in reliability.iterrows():
        interval = "NA"
        if _is_number(row.get("alpha_ci_lower")) and _is_number(
            row.get("alpha_ci_upper")
        ):
            lower = _bounded(row["alpha_ci_lower"])
            interval = f"{lower} to {_bounded(row['alpha_ci_upper'])}"
        rows.append(
            [
                _escape(row.get("scale")),
                _integer_or_number(row.get("n_items")),
                _integer_or_number(row.get("nobs")),
                _bounded(row.get("alpha")),
                interval,
                _bounded(row.get("omega")),
                _bounded(row.get("composite_reliability")),
                _bounded(row.get("ave")),
            ]
        )
    header = ["Scale", "Items", "n", "Alpha", "Alpha CI", "Omega", "CR", "AVE"]
    table = _table(header, rows, [False] + [True] * 7)
    return _section("Reliability", table, _reliability_reading(reliability))


def _below(table: pd.DataFrame, column: str, minimum: float) -> list[str]:
    if column not in table.columns:
        return []
    values = pd.to_numeric(table[column], errors="coerce")
    low = table[values < minimum]
    return [
        f"{_escape(scale)} ({_bounded(value)})"
        for scale, value in zip(low["scale"], values[values < minimum])
    ]


def _reliability_reading(reliability: pd.DataFrame) -> str:
    count = len(reliability)
    low_alpha = _below(reliability, "alpha", MINIMUM_RELIABILITY)
    low_omega = _below(reliability, "omega", MINIMUM_RELIABILITY)
    low_ave = _below(reliability, "ave", MINIMUM_AVE)
    level = _cutoff(MINIMUM_RELIABILITY)

    meaning = (
        "Alpha and omega estimate the share of a scale score's variance that is not "
        f"measurement error, and {level} is a common minimum for research use."
    )
    sentences = [meaning]
    if not low_alpha and not low_omega:
        sentences.append(f"All {count} scales reach {level} on both.")
    else:
        if low_alpha:
            sentences.append(f"Alpha is below {level} for {_list_names(low_alpha)}.")
        if low_omega:
            sentences.append(f"Omega is below {level} for {_list_names(low_omega)}.")
    if "ave" in reliability.columns:
        if low_ave:
            sentences.append(
                f"AVE is below {_cutoff(MINIMUM_AVE)} for {_list_names(low_ave)}: "
                "those factors explain less than half of their items' variance on "
                "average."
            )
        else:
            sentences.append(
                f"AVE is at least {_cutoff(MINIMUM_AVE)} for every scale with a "
                "value: each factor explains at least half of its items' variance "
                "on average."
            )
    return " ".join(sentences)


def _largest_by_factor(pairs: pd.DataFrame, column: str) -> dict:
    """Map (group, factor) to the (value, other factor) of largest |column|."""
    largest: dict = {}
    for row in pairs.itertuples(index=False):
        value = getattr(row, column)
        if not _is_number(value):
            continue
        pairs_both_ways = ((row.factor_1, row.factor_2), (row.factor_2, row.factor_1))
        for factor, other in pairs_both_ways:
            key = (row.group, factor)
            if key not in largest or abs(value) > abs(largest[key][0]):
                largest[key] = (value, other)
    return largest


def _value_with_factor(entry: tuple | None) -> str:
    if entry is None:
        return "NA"
    return f"{_bounded(entry[0])} ({_escape(entry[1])})"


def _discriminant_section(result: Any) -> str:
    from lio_validate.discriminant import HTMT_LIBERAL, HTMT_STRICT

    several_groups = set(result.htmt["group"]) != {""}
    method = "HTMT2" if result.htmt_method == "htmt2" else "HTMT"
    highest_htmt = _largest_by_factor(result.htmt, "htmt")
    rows = []
    for row in result.fornell_larcker.itertuples(index=False):
        verdict = "NA" if pd.isna(row.criterion_met) else \
            ("met" if row.criterion_met else "not met")
        correlation = None if not row.most_correlated_factor else \
            (row.max_abs_correlation, row.most_correlated_factor)
        rows.append(
            [_escape(row.factor)] + ([_escape(row.group)] if several_groups else [])
            + [_bounded(row.ave), _bounded(row.sqrt_ave),
               _value_with_factor(correlation), verdict,
               _value_with_factor(highest_htmt.get((row.group, row.factor)))]
        )
    header = ["Factor"] + (["Group"] if several_groups else []) + [
        "AVE", "\u221aAVE", "Highest |r|", "Fornell-Larcker", f"Highest {method}"]
    header = [_escape(cell) for cell in header]
    numeric = [False] * (2 if several_groups else 1) + [True, True, True, False, True]
    table = _table(header, rows, numeric)
    return _section("Discriminant validity", table,
                    _discriminant_reading(result, method, HTMT_STRICT, HTMT_LIBERAL))


def _discriminant_reading(result: Any, method: str, strict: float,
                          liberal: float) -> str:
    def pair_name(row) -> str:
        text = f"{_escape(row.factor_1)} and {_escape(row.factor_2)}"
        return text + (f" in group {_escape(row.group)}" if row.group else "")

    kind = result.correlation_type.replace("pearson", "Pearson")
    mean = "geometric" if result.htmt_method == "htmt2" else "arithmetic"
    source = "Roemer et al., 2021" if result.htmt_method == "htmt2" else \
        "Henseler et al., 2015"
    sentences = [
        f"{method} ({source}) divides the {mean} mean of the absolute {kind} "
        "correlations between the items of two factors by that within each factor; "
        f"a value of {_cutoff(strict)} or more (strict) or {_cutoff(liberal)} or more "
        "(liberal) means that the items do not tell the two factors apart "
        "(Henseler et al., 2015)."
    ]
    values = pd.to_numeric(result.htmt["htmt"], errors="coerce")
    high = result.htmt[values >= strict]
    if high.empty:
        sentences.append(
            f"All {len(values)} HTMT values are below {_cutoff(strict)}.")
    else:
        listed = [f"{pair_name(row)} ({_bounded(row.htmt)})"
                  for row in high.itertuples(index=False)]
        above_liberal = int((values >= liberal).sum())
        sentences.append(
            f"{len(high)} of {len(values)} HTMT values reach {_cutoff(strict)}: "
            f"{_list_names(listed)}; {above_liberal} of them reach {_cutoff(liberal)}."
        )
    sentences.append(
        "The Fornell-Larcker criterion (Fornell & Larcker, 1981) asks that the "
        "square root of a factor's AVE exceed its absolute correlation with every "
        "other factor."
    )
    table = result.fornell_larcker
    failed = table[table["criterion_met"].eq(False).fillna(False).to_numpy(bool)]
    undefined = table[table["criterion_met"].isna().to_numpy(bool)]
    if failed.empty:
        evaluated = "every factor with an AVE" if len(undefined) else "every factor"
        in_groups = ", in every group" if set(table["group"]) != {""} else ""
        sentences.append(f"It holds for {evaluated}{in_groups}.")
    else:
        listed = [
            f"{_escape(row.factor)}"
            + (f" in group {_escape(row.group)}" if row.group else "")
            + f" (\u221aAVE {_bounded(row.sqrt_ave)} against "
            f"|r| = {_bounded(row.max_abs_correlation)} with "
            f"{_escape(row.most_correlated_factor)})"
            for row in failed.itertuples(index=False)
        ]
        sentences.append(f"It fails for {_list_names(listed)}.")
    if not undefined.empty:
        names = [_escape(name) for name in dict.fromkeys(undefined["factor"])]
        sentences.append(
            f"It is not evaluated for {_list_names(names)}, whose AVE is undefined "
            "(as in semTools, a factor with an item that also loads on another "
            "factor gets none)."
        )
    for note in result.notes:
        sentences.append(_escape(note[0].upper() + note[1:]) + ".")
    sentences.append(
        "discriminant_validity.csv holds every HTMT value, the latent correlations "
        "with their standard errors and both criteria."
    )
    return " ".join(sentences)


def _parameter_rows(
    rows: pd.DataFrame, several_groups: bool, first: str, second: str
) -> list[list[str]]:
    table = []
    for _, row in rows.iterrows():
        cells = [_escape(row[first]), _escape(row[second])]
        if several_groups:
            cells.append(_escape(row["group"]))
        # lavaan reports a fixed parameter (a marker loading) with SE 0 and no test.
        fixed = row.get("se") == 0 and not _is_number(row.get("pvalue"))
        cells += [
            _number(row.get("est")),
            "fixed" if fixed else _number(row.get("se")),
            "" if fixed else _pvalue(row.get("pvalue")),
            _number(row.get("std_all")),
        ]
        table.append(cells)
    return table


def _loadings_section(estimates: pd.DataFrame, several_groups: bool) -> str:
    loadings = estimates[estimates["op"] == "=~"]
    header = ["Factor", "Item"] + (["Group"] if several_groups else [])
    header += ["Estimate", "SE", "p", "std_all"]
    rows = _parameter_rows(loadings, several_groups, "lhs", "rhs")
    table = _table(header, rows, [False] * (3 if several_groups else 2) + [True] * 4)

    values = pd.to_numeric(loadings["std_all"], errors="coerce")
    weak = loadings[values.abs() < MINIMUM_LOADING]
    if weak.empty:
        reading = (
            f"All {len(loadings)} standardized loadings are at least "
            f"{_cutoff(MINIMUM_LOADING)} in absolute value."
        )
    else:
        names = [
            f"{_escape(item)} on {_escape(factor)} ({_number(value)})"
            for item, factor, value in zip(weak["rhs"], weak["lhs"], values[weak.index])
        ]
        reading = (
            f"{len(weak)} of {len(loadings)} standardized loadings are below "
            f"{_cutoff(MINIMUM_LOADING)} in absolute value: {_list_names(names)}. "
            "Such an item shares less than a quarter of its variance with its factor."
        )
    return _section("Standardized loadings", table, reading)


def _paths_section(
    estimates: pd.DataFrame, several_groups: bool, significance_level: float
) -> str:
    paths = estimates[estimates["op"] == "~"]
    header = ["Outcome", "Predictor"] + (["Group"] if several_groups else [])
    header += ["Estimate", "SE", "p", "std_all"]
    rows = _parameter_rows(paths, several_groups, "lhs", "rhs")
    table = _table(header, rows, [False] * (3 if several_groups else 2) + [True] * 4)
    reading = _paths_reading(paths, several_groups, significance_level)
    return _section("Structural paths", table, reading)


def _paths_reading(
    paths: pd.DataFrame, several_groups: bool, significance_level: float
) -> str:
    def name(row) -> str:
        text = f"{_escape(row['rhs'])} \u2192 {_escape(row['lhs'])}"
        if several_groups:
            text += f" in group {_escape(row['group'])}"
        return text

    level = _cutoff(significance_level)
    pvalues = pd.to_numeric(paths["pvalue"], errors="coerce")
    significant = paths[pvalues < significance_level]
    others = paths[~(pvalues < significance_level)]
    strength = pd.to_numeric(significant["std_all"], errors="coerce").abs()
    strongest = significant.loc[strength.sort_values(ascending=False).index[:3]]

    sentences = [
        f"{len(significant)} of {len(paths)} paths are significant at p < {level}."
    ]
    if not strongest.empty:
        listed = [
            f"{name(row)} (std_all = {_number(row['std_all'])}, "
            f"p {_p_phrase(row['pvalue'])})"
            for _, row in strongest.iterrows()
        ]
        sentences.append(f"The strongest are {_list_names(listed)}.")
    if not others.empty:
        listed = [name(row) for _, row in others.iterrows()]
        sentences.append(f"Not significant: {_list_names(listed)}.")
    sentences.append(
        "std_all is the change in the outcome, in standard deviations, when the "
        "predictor is one standard deviation higher and the other predictors of that "
        "outcome stay the same."
    )
    return " ".join(sentences)


def _defined_section(estimates: pd.DataFrame, several_groups: bool) -> str:
    defined = estimates[estimates["op"] == ":="]
    header = ["Name", "Definition"] + (["Group"] if several_groups else [])
    header += ["Estimate", "SE", "p", "std_all"]
    rows = _parameter_rows(defined, several_groups, "lhs", "rhs")
    table = _table(header, rows, [False] * (3 if several_groups else 2) + [True] * 4)
    reading = (
        "Defined parameters are functions of the model's parameters, such as an "
        "indirect effect that multiplies two paths."
    )
    return _section("Defined parameters", table, reading)


def _structural_r_squared(r_squared: pd.Series, estimates: pd.DataFrame) -> pd.Series:
    """Keep the R² of regression outcomes and of factors of a higher-order factor.

    lavaan also reports R² for every measurement item. Those repeat the loadings
    table, so they are kept only when the model has no structural outcome.
    """
    ops = estimates["op"].astype(str)
    latent = set(estimates.loc[ops == "=~", "lhs"].astype(str))
    structural = set(estimates.loc[ops == "~", "lhs"].astype(str))
    structural |= set(estimates.loc[ops == "=~", "rhs"].astype(str)) & latent
    names = r_squared.index.get_level_values(-1).astype(str)
    outcomes = r_squared[names.isin(structural)]
    return outcomes if len(outcomes) else r_squared


def _r_squared_label(key: Any, by_group: bool) -> str:
    return f"{key[-1]} in group {key[0]}" if by_group else str(key)


def _r_squared_section(r_squared: pd.Series, estimates: pd.DataFrame) -> str:
    values = pd.to_numeric(r_squared, errors="coerce")
    reported = _structural_r_squared(values, estimates)
    by_group = isinstance(reported.index, pd.MultiIndex)
    rows = []
    for key, value in reported.items():
        names = [str(part) for part in key] if by_group else [str(key)]
        rows.append([_escape(name) for name in names] + [_bounded(value)])
    header = (["Group", "Variable"] if by_group else ["Variable"]) + ["R\u00b2"]
    table = _table(header, rows, [False] * (len(header) - 1) + [True])

    reading = (
        "R\u00b2 is the share of an endogenous variable's variance that its "
        "predictors explain."
    )
    finite = reported[np.isfinite(reported)]
    if not finite.empty:
        highest, lowest = finite.idxmax(), finite.idxmin()
        reading += (
            f" It ranges from {_bounded(finite[lowest])} "
            f"({_escape(_r_squared_label(lowest, by_group))}) to "
            f"{_bounded(finite[highest])} "
            f"({_escape(_r_squared_label(highest, by_group))})."
        )
    if len(reported) < len(values):
        reading += (
            " The R\u00b2 of the measurement items is left out: for an item that "
            "loads on one factor it is the square of its standardized loading."
        )
    return _section("Explained variance (R\u00b2)", table, reading)


def _warnings_section(warnings: Sequence[Any]) -> str:
    if not warnings:
        return "## Warnings\n\nThe run raised no warnings."
    lines = ["## Warnings", ""]
    for warning in warnings:
        record = describe_warning(warning)
        prefix = f"{record['category']}: " if record["category"] else ""
        lines.append(f"- {prefix}{_escape(record['message'])}")
    return "\n".join(lines)


def _default_caption(stem: str) -> str:
    """Caption a figure by its stem; ``path_diagram_<group>`` names its group."""
    if stem in FIGURE_CAPTIONS:
        return FIGURE_CAPTIONS[stem]
    if stem.startswith("path_diagram_"):
        group = stem[len("path_diagram_") :]
        return f"Path diagram of group {group} with standardized estimates"
    return stem.replace("_", " ").capitalize()


def _figures_section(figures: Sequence[str] | Mapping[str, str]) -> str:
    lines = ["## Figures"]
    captions = figures if isinstance(figures, Mapping) else {}
    for stem in figures:
        caption = captions.get(stem) or _default_caption(stem)
        svg_link = f"[figures/{stem}.svg](figures/{stem}.svg)"
        lines += [
            "",
            f"![{_escape(caption)}](figures/{stem}.png)",
            "",
            f"*{_escape(caption)}.* Vector version: {svg_link}",
        ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Report


def _from_fit(fit: Any, name: str, value: Any) -> Any:
    """Return ``value``, or the attribute ``name`` of the fit result when None."""
    if value is not None or fit is None:
        return value
    return getattr(fit, name, None)


def render_report_markdown(
    *,
    fit: Any = None,
    estimates: pd.DataFrame | None = None,
    fit_measures: Mapping[str, Any] | None = None,
    reliability: Any = None,
    r_squared: pd.Series | None = None,
    data_path: str | None = None,
    nobs: int | None = None,
    rows_dropped: int | None = None,
    estimator: str | None = None,
    model_text: str | None = None,
    warnings: Sequence[Any] = (),
    figures: Sequence[str] | Mapping[str, str] = (),
    title: str = "Structural equation model results",
    significance_level: float = 0.05,
    discriminant: Any = None,
) -> str:
    """Render the report of a run as Markdown.

    Sections: data and model, model fit, reliability (if given), discriminant
    validity (if given), standardized loadings, structural paths, defined
    parameters (if any), R² (if given), warnings, figures and references. Each
    table is followed by a short reading.
    Numbers are rounded to three decimals, and p-values below .001 are shown as
    "< .001". Values bounded by 1 (fit indices, reliability, R², p) are written
    without the leading zero, as APA style does.

    Parameters
    ----------
    fit : SEMResult, optional
        Fitted model. Its ``estimates``, ``fit_measures``, ``r_squared``, ``nobs``,
        ``nobs_dropped``, ``estimator``, ``model_text`` and convergence report fill
        every argument below that is not given.
    estimates : pandas.DataFrame
        Parameter table with lavaan's columns ``lhs, op, rhs, group, est, se,
        pvalue, std_all`` (``group`` may be missing for one group). Required
        without ``fit``.
    fit_measures : mapping
        Fit measures with lavaan's names (``chisq, df, pvalue, cfi, tli, rmsea,
        rmsea_ci_lower, rmsea_ci_upper, srmr, logl, aic, bic, npar, nobs`` and, for
        robust estimators, the ``_scaled`` and ``_robust`` variants). Required
        without ``fit``.
    reliability : pandas.DataFrame or ReliabilityResult, optional
        One row per scale with ``scale, n_items, nobs, alpha, alpha_ci_lower,
        alpha_ci_upper, omega, composite_reliability, ave``, or a result whose
        ``table`` is that frame.
    r_squared : pandas.Series, optional
        R² by variable name, or by ``(group, variable)`` for several groups.
    data_path, estimator, model_text : str, optional
        Shown in the data and model section.
    nobs : int, optional
        Observations used. Defaults to ``fit_measures["nobs"]``.
    rows_dropped : int, optional
        Rows removed before estimation because of missing values.
    warnings : sequence, optional
        Warnings of the run: ``warnings.WarningMessage`` records, Warning instances
        or strings.
    figures : sequence of str, or mapping of str to str, optional
        Stems of the figures in ``figures/`` (such as ``"path_diagram"``), or stems
        with their captions. Each is embedded as ``figures/<stem>.png`` with a link
        to ``figures/<stem>.svg``.
    title : str, optional
        First-level heading of the report.
    significance_level : float, default 0.05
        Level at which the reading calls a path significant.
    discriminant : DiscriminantValidityResult, optional
        HTMT and Fornell-Larcker results
        (:func:`lio_validate.discriminant.discriminant_validity`), reported
        after reliability with their references.

    Returns
    -------
    str
        The report, ending with a newline.

    Raises
    ------
    TypeError
        If neither ``fit`` nor both ``estimates`` and ``fit_measures`` are given.
    """
    estimates = _from_fit(fit, "estimates", estimates)
    fit_measures = _from_fit(fit, "fit_measures", fit_measures)
    if estimates is None or fit_measures is None:
        raise TypeError(
            "render_report_markdown needs fit=, or both estimates= and fit_measures=."
        )
    r_squared = _from_fit(fit, "r_squared", r_squared)
    nobs = _from_fit(fit, "nobs", nobs)
    rows_dropped = _from_fit(fit, "nobs_dropped", rows_dropped)
    estimator = _from_fit(fit, "estimator", estimator)
    options = getattr(fit, "options", None) or {}
    design = [f"sampling weights {options['weights']!r}" if options.get("weights")
              else "", f"clusters {options['cluster']!r}" if options.get("cluster")
              else "", "FIML for missing values" if options.get("missing") == "fiml"
              else ""]
    design = [part for part in design if part]
    if estimator and design:
        # Weights and clusters change the standard errors and the test, so the
        # reader sees them next to the estimator's name.
        estimator = (f"{estimator} with {', '.join(design)} (robust standard errors "
                     "and scaled test)")
    model_text = _from_fit(fit, "model_text", model_text)
    if reliability is not None and not isinstance(reliability, pd.DataFrame):
        reliability = reliability.table

    groups = list(dict.fromkeys(_group_values(estimates)))
    several_groups = len(groups) > 1
    table = estimates.reset_index(drop=True)
    table["group"] = _group_values(table)
    ops = table["op"].astype(str)

    summary = _data_section(
        fit_measures,
        data_path,
        nobs,
        rows_dropped,
        estimator,
        _convergence_line(fit),
        groups,
        model_text,
    )
    sections = [
        f"# {_escape(title)}",
        summary,
        _section("Model fit", _fit_table(fit_measures), _fit_reading(fit_measures)),
    ]
    if reliability is not None and not reliability.empty:
        sections.append(_reliability_section(reliability))
    if discriminant is not None and not discriminant.htmt.empty:
        sections.append(_discriminant_section(discriminant))
    if (ops == "=~").any():
        sections.append(_loadings_section(table, several_groups))
    if (ops == "~").any():
        sections.append(_paths_section(table, several_groups, significance_level))
    if (ops == ":=").any():
        sections.append(_defined_section(table, several_groups))
    if r_squared is not None and len(r_squared):
        sections.append(_r_squared_section(r_squared, table))
    sections.append(_warnings_section(warnings))
    if figures:
        sections.append(_figures_section(figures))
    references = [HU_BENTLER_1999]
    if discriminant is not None and not discriminant.htmt.empty:
        references += [FORNELL_LARCKER_1981, HENSELER_2015]
        if discriminant.htmt_method == "htmt2":
            references.append(ROEMER_2021)
    sections.append(_section("References", *references))
    return "\n\n".join(sections) + "\n"
