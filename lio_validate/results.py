"""The result of a fit: estimates, fit measures and a readable summary.

:class:`SEMResult` is immutable: its tables are copies marked read-only where
pandas allows it, and nothing a caller does to them changes the fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np
import pandas as pd

__all__ = ["SEMResult", "FitInternals", "ESTIMATE_COLUMNS", "FIT_MEASURE_NAMES"]

ESTIMATE_COLUMNS = (
    "lhs", "op", "rhs", "group", "label", "est", "se", "z", "pvalue",
    "ci_lower", "ci_upper", "std_lv", "std_all",
)
FIT_MEASURE_NAMES = (
    "npar", "nobs", "chisq", "df", "pvalue", "baseline_chisq", "baseline_df",
    "cfi", "tli", "rmsea", "rmsea_ci_lower", "rmsea_ci_upper", "rmsea_pvalue",
    "srmr", "logl", "aic", "bic",
)


@dataclass(frozen=True)
class FitInternals:
    """The fitted model's building blocks, for post-estimation tools.

    ``ram`` is the RamModel, ``stats`` the SampleStatistics (EM moments under
    FIML), ``x`` the estimated free parameters, ``objective`` the discrepancy
    function that was minimised, and ``data`` the complete cases per group
    (before FIML pattern sorting).
    """

    ram: object
    stats: object
    x: np.ndarray
    objective: object
    data: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class SEMResult:
    """A fitted CFA or SEM.

    Attributes
    ----------
    estimates : pandas.DataFrame
        One row per parameter with the columns of ``estimates.csv``
        (:data:`ESTIMATE_COLUMNS`).
    fit_measures : Mapping[str, float]
        lavaan's fit measures with snake_case names.
    standardized : pandas.DataFrame
        ``lhs, op, rhs, group, std_lv, se_std_lv, std_all, se_std_all``,
        computed on first access (the delta-method SEs need a Jacobian).
    r_squared : pandas.Series
        Explained variance of every endogenous variable (per group when
        there are several, as a MultiIndex ``(group, variable)``).
    """

    estimates: pd.DataFrame
    fit_measures: Mapping[str, float]
    standardized_factory: Callable[[], pd.DataFrame] = field(repr=False, compare=False)
    r_squared: pd.Series
    vcov: pd.DataFrame
    implied_cov: pd.DataFrame
    sample_cov: pd.DataFrame
    parameter_table: pd.DataFrame
    nobs: int
    ngroups: int
    group_names: tuple[str, ...]
    latent_variables: tuple[str, ...]
    observed_variables: tuple[str, ...]
    converged: bool
    iterations: int
    max_abs_gradient: float
    estimator: str
    information: str
    model_text: str
    options: Mapping[str, object]
    nobs_dropped: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)
    internals: "FitInternals | None" = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fit_measures", MappingProxyType(dict(self.fit_measures)))
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    @cached_property
    def standardized(self) -> pd.DataFrame:
        """Standardized solution with delta-method standard errors."""
        return self.standardized_factory()

    # ------------------------------------------------------------------
    # Convenience views
    # ------------------------------------------------------------------

    def loadings(self) -> pd.DataFrame:
        """Rows of the measurement model (``=~``)."""
        return self.estimates[self.estimates["op"] == "=~"].reset_index(drop=True)

    def regressions(self) -> pd.DataFrame:
        """Rows of the structural model (``~``)."""
        return self.estimates[self.estimates["op"] == "~"].reset_index(drop=True)

    def defined(self) -> pd.DataFrame:
        """Defined parameters (``:=``)."""
        return self.estimates[self.estimates["op"] == ":="].reset_index(drop=True)

    # ------------------------------------------------------------------
    # Text
    # ------------------------------------------------------------------

    def summary(self, *, standardized: bool = True) -> str:
        """Return a readable report in the layout of lavaan's ``summary()``."""
        fm = self.fit_measures
        lines = [
            f"lio_validate {self.options.get('version', '')}: {self.estimator} "
            f"estimation, {'converged' if self.converged else 'NOT converged'} after "
            f"{self.iterations} iterations (largest |gradient| "
            f"{self.max_abs_gradient:.1e})",
            "",
            f"  Number of observations{'':28s}{self.nobs:>10d}",
        ]
        if self.nobs_dropped:
            lines.append(f"  Rows dropped (listwise deletion){'':18s}"
                         f"{self.nobs_dropped:>10d}")
        if self.ngroups > 1:
            lines.append(f"  Groups{'':44s}{self.ngroups:>10d}")
        lines.append(f"  Number of model parameters{'':24s}{int(fm['npar']):>10d}")
        lines += ["", "Model test (user model):", ""]
        lines += _value_lines([
            ("Test statistic (chisq)", fm["chisq"]),
            ("Degrees of freedom", fm["df"]),
            ("P-value (Chi-square)", _pvalue_text(fm["pvalue"])),
        ])
        if "chisq_scaled" in fm:
            lines += _value_lines([
                ("Scaled test statistic (chisq_scaled)", fm["chisq_scaled"]),
                ("Scaling correction factor", fm.get("chisq_scaling_factor")),
                ("Shift parameter", fm.get("chisq_shift_parameter", np.nan)),
                ("P-value (scaled)", _pvalue_text(fm.get("pvalue_scaled"))),
            ])
        lines += ["", "Fit measures:", ""]
        lines += _value_lines([
            ("Comparative Fit Index (CFI)", fm["cfi"]),
            ("Tucker-Lewis Index (TLI)", fm["tli"]),
            ("RMSEA", fm["rmsea"]),
            ("  90 percent CI - lower", fm["rmsea_ci_lower"]),
            ("  90 percent CI - upper", fm["rmsea_ci_upper"]),
            ("  P-value H_0: RMSEA <= 0.050", _pvalue_text(fm["rmsea_pvalue"])),
            ("SRMR", fm["srmr"]),
            ("Loglikelihood (logl)", fm.get("logl", np.nan)),
            ("Akaike (AIC)", fm.get("aic", np.nan)),
            ("Bayesian (BIC)", fm.get("bic", np.nan)),
        ])
        robust = [(label, fm[name]) for name, label in (
            ("cfi_robust", "Robust CFI"), ("tli_robust", "Robust TLI"),
            ("rmsea_robust", "Robust RMSEA"),
        ) if name in fm]
        if robust:
            lines += _value_lines(robust)
        lines += ["", "Parameter estimates:", f"  Information: {self.information}", ""]
        lines += _estimate_lines(self.estimates, standardized)
        if len(self.r_squared):
            lines += ["", "R-square:", ""]
            for key, value in self.r_squared.items():
                name = " ".join(key) if isinstance(key, tuple) else str(key)
                lines.append(f"    {name:<30s}{value:>10.3f}")
        if self.warnings:
            lines += ["", "Warnings:"]
            lines += [f"  - {text}" for text in self.warnings]
        return "\n".join(lines)

    def __repr__(self) -> str:
        fm = self.fit_measures
        return (f"<SEMResult {self.estimator} nobs={self.nobs} npar={int(fm['npar'])} "
                f"chisq={fm['chisq']:.3f} df={int(fm['df'])} cfi={fm['cfi']:.3f} "
                f"rmsea={fm['rmsea']:.3f}>")


def _pvalue_text(value) -> str | float:
    """Show a p-value to three decimals, and a tiny one as '< .001'."""
    if value is None or not np.isfinite(value):
        return "NA"
    return "< .001" if value < 0.001 else f"{value:.3f}"


def _format(value) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "NA"
    if float(value).is_integer() and abs(value) < 1e9:
        return f"{int(value)}"
    return f"{value:.3f}"


def _value_lines(pairs) -> list[str]:
    return [f"  {name:<48s}{_format(value):>12s}" for name, value in pairs]


_SECTIONS = (
    ("=~", "Latent variables"),
    ("~", "Regressions"),
    ("~~", "Covariances and variances"),
    ("~1", "Intercepts"),
    (":=", "Defined parameters"),
)


def _estimate_lines(estimates: pd.DataFrame, standardized: bool) -> list[str]:
    header = f"  {'':<26s}{'Estimate':>10s}{'Std.Err':>10s}{'z-value':>10s}{'P(>|z|)':>10s}"
    if standardized:
        header += f"{'Std.lv':>10s}{'Std.all':>10s}"
    lines = []
    for group, block in estimates.groupby("group", sort=False):
        if group != "":
            lines += [f"Group [{group}]:", ""]
        for op, title in _SECTIONS:
            rows = block[block["op"] == op]
            if rows.empty:
                continue
            lines += [f"{title}:", header]
            for row in rows.itertuples(index=False):
                name = _row_name(row)
                cells = [_cell(row.est), _cell(row.se if row.se != 0 else np.nan),
                         _cell(row.z), _cell(row.pvalue)]
                if standardized:
                    cells += [_cell(row.std_lv), _cell(row.std_all)]
                lines.append(f"    {name:<24s}" + "".join(f"{c:>10s}" for c in cells))
            lines.append("")
    return lines


def _row_name(row) -> str:
    label = f" ({row.label})" if row.label else ""
    if row.op == "=~":
        return f"{row.lhs} =~ {row.rhs}{label}"
    if row.op == "~":
        return f"{row.lhs} ~ {row.rhs}{label}"
    if row.op == "~~":
        return f"{row.lhs} ~~ {row.rhs}{label}"
    if row.op == "~1":
        return f"{row.lhs}{label}"
    return f"{row.lhs} := {row.rhs}"


def _cell(value: float) -> str:
    if value is None or not np.isfinite(value):
        return ""
    return f"{value:.3f}"
