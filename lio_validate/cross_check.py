"""Fit one model with lio_validate and with semopy and compare the two fits.

semopy is a second, independently written SEM package for Python. For a
single-group maximum likelihood fit of continuous items on complete data it
minimises the same discrepancy function as lavaan, so its estimates, standard
errors and chi-square should agree with lio_validate's up to the precision of
its optimiser. :func:`cross_check` runs both and returns a
:class:`CrossCheck` with the differences.

semopy does not receive the model text as the user wrote it. It receives
lio_validate's parameter table restated in semopy syntax: every free
parameter is named (rows that share a lavaan label share the name, which is
how semopy writes equality), and every fixed parameter is written with its
value. So both packages estimate the same parameters, and a difference points
to the estimation, not to different default parameters.

References
----------
Igolkina, A. A., & Meshcheryakov, G. (2020). semopy: A Python package for
structural equation modeling. Structural Equation Modeling: A
Multidisciplinary Journal, 27(6), 952-963.

Rosseel, Y. (2012). lavaan: An R package for structural equation modeling.
Journal of Statistical Software, 48(2), 1-36.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from lio_validate import api
from lio_validate.data_prep import prepare_data
from lio_validate.exceptions import ConvergenceWarning, LioInputError, LioWarning
from lio_validate.syntax import ParsedModel, parse_model

if TYPE_CHECKING:
    from lio_validate.io import SurveyData

__all__ = ["SOLVER_OPTIONS", "CrossCheck", "ParameterComparison", "cross_check"]

# scipy's SLSQP stops when the objective changes by less than ftol. semopy's
# default ftol of 1e-6 left estimates of the Holzinger-Swineford CFA up to
# 1.2e-3 x max(1, |est|) away from lio_validate's. With 1e-12 the largest
# difference over the models in tests/test_cross_check.py was 2.2e-6 (semopy
# 2.3.11, scipy 1.17.1).
SOLVER_OPTIONS: Mapping[str, float] = MappingProxyType({"ftol": 1e-12})

# Prefix of the semopy parameter names; free parameter k is named f"{prefix}{k}".
# It differs from semopy's own automatic names (_b1, _c1, ...).
_NAME_PREFIX = "lio_p"

_TEST_SUITE = (
    "lio_validate's own results for it are compared with lavaan 0.6.14 in the "
    "package's test suite"
)

_TABLE_COLUMNS = (
    "lhs", "op", "rhs", "label", "est_lio", "est_semopy", "abs_difference",
    "se_lio", "se_semopy",
)


class ParameterComparison(NamedTuple):
    """One parameter as estimated by lio_validate and by semopy.

    ``se_semopy`` is NaN for defined parameters (``:=``), because semopy
    computes no delta-method standard errors.
    """

    lhs: str
    op: str
    rhs: str
    label: str
    est_lio: float
    est_semopy: float
    abs_difference: float
    se_lio: float
    se_semopy: float


@dataclass(frozen=True)
class CrossCheck:
    """A model fitted by lio_validate and by semopy, parameter by parameter.

    Attributes
    ----------
    rows : tuple of ParameterComparison
        Every free parameter and every defined parameter (``:=``), in the
        order of ``SEMResult.estimates``. Fixed parameters have the same value
        in both fits and are left out.
    chisq_lio, chisq_semopy : float
        The likelihood-ratio chi-square of each fit (N times the ML
        discrepancy at the minimum, in both packages).
    df : int
        Degrees of freedom of lio_validate's test, as in lavaan.
    nobs : int
        Rows used by both fits after listwise deletion.
    information : str
        Information matrix behind both sets of standard errors.
    semopy_version : str
        ``semopy.__version__`` of the package that ran.
    semopy_converged : bool
        Whether semopy's optimiser reported success.
    semopy_message : str
        The optimiser's closing message.
    semopy_iterations : int
        SLSQP iterations used by semopy (-1 when scipy did not report them).
    solver_options : Mapping[str, float]
        Options passed to scipy's SLSQP through ``semopy.Model.fit``.
    semopy_model : str
        The model text semopy received.
    notes : tuple of str
        Parts of the model left out of the comparison, messages semopy
        logged, and other facts needed to read the differences.
    """

    rows: tuple[ParameterComparison, ...]
    chisq_lio: float
    chisq_semopy: float
    df: int
    nobs: int
    information: str
    semopy_version: str
    semopy_converged: bool
    semopy_message: str
    semopy_iterations: int
    solver_options: Mapping[str, float]
    semopy_model: str = field(repr=False)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "solver_options", MappingProxyType(dict(self.solver_options))
        )

    @property
    def table(self) -> pd.DataFrame:
        """A new DataFrame of :attr:`rows`, one row per parameter."""
        return pd.DataFrame(list(self.rows), columns=list(_TABLE_COLUMNS))

    @property
    def max_abs_difference(self) -> float:
        """Largest absolute difference between the two estimates of a parameter."""
        return _max_finite(row.abs_difference for row in self.rows)

    @property
    def max_relative_difference(self) -> float:
        """Largest difference scaled as in the test suite: |d| / max(1, |est|)."""
        return _max_finite(
            row.abs_difference / max(1.0, abs(row.est_lio)) for row in self.rows
        )

    @property
    def max_se_abs_difference(self) -> float:
        """Largest absolute difference between the two standard errors."""
        return _max_finite(abs(row.se_lio - row.se_semopy) for row in self.rows)

    @property
    def max_difference_parameter(self) -> str:
        """The parameter with the largest estimate difference, as 'lhs op rhs'."""
        finite = [row for row in self.rows if math.isfinite(row.abs_difference)]
        if not finite:
            return ""
        row = max(finite, key=lambda r: r.abs_difference)
        return f"{row.lhs} {row.op} {row.rhs}"

    @property
    def chisq_abs_difference(self) -> float:
        """Absolute difference between the two chi-squares."""
        return abs(self.chisq_lio - self.chisq_semopy)

    def summary(self) -> str:
        """Return the comparison as text: the chi-squares, the largest
        differences, the parameter table and the notes."""
        status = "converged" if self.semopy_converged else "NOT converged"
        options = ", ".join(f"{k} {v:g}" for k, v in self.solver_options.items())

        title = (
            f"Cross-check of lio_validate against semopy {self.semopy_version} "
            f"(ML, N = {self.nobs}, {self.information} information)"
        )
        optimiser = (
            f"  semopy: objective MLW, SLSQP ({options}), {status} after "
            f"{self.semopy_iterations} iterations: {self.semopy_message}"
        )
        chisq = (
            f"  chisq  lio_validate {self.chisq_lio:.6f}  semopy "
            f"{self.chisq_semopy:.6f}  |difference| "
            f"{self.chisq_abs_difference:.2e}  (df {self.df})"
        )
        largest = (
            f"  largest |estimate difference| {self.max_abs_difference:.2e} "
            f"({self.max_difference_parameter}); scaled by max(1, |est|) "
            f"{self.max_relative_difference:.2e}"
        )
        header = (
            f"  {'parameter':<28}{'est_lio':>12}{'est_semopy':>12}{'|diff|':>10}"
            f"{'se_lio':>10}{'se_semopy':>10}"
        )

        lines = [
            title, optimiser, chisq, largest,
            f"  largest |SE difference| {self.max_se_abs_difference:.2e}",
            "", header,
        ]

        for row in self.rows:
            name = f"{row.lhs} {row.op} {row.rhs}"
            lines.append(
                f"  {name:<28}{row.est_lio:>12.6f}{row.est_semopy:>12.6f}"
                f"{row.abs_difference:>10.1e}{row.se_lio:>10.6f}"
                f"{row.se_semopy:>10.6f}"
            )
        if self.notes:
            lines += ["", "Notes:"]
            lines += [f"  - {note}" for note in self.notes]
        return "\n".join(lines)


def _max_finite(values) -> float:
    finite = [value for value in values if math.isfinite(value)]
    return max(finite) if finite else float("nan")


def cross_check(
    model: str,
    data: pd.DataFrame | SurveyData,
    *,
    solver_options: Mapping[str, float] | None = None,
    **options,
) -> CrossCheck:
    """Fit a model with :func:`lio_validate.sem` and with semopy and compare them.

    Parameters
    ----------
    model : str
        lavaan model syntax, as for :func:`lio_validate.sem`.
    data : pandas.DataFrame or SurveyData
        One row per respondent. Rows with a missing value on a model variable
        are dropped from both fits (listwise deletion).
    solver_options : Mapping[str, float], optional
        Options for scipy's SLSQP in semopy, merged over
        :data:`SOLVER_OPTIONS` (``{"ftol": 1e-12}``); for example
        ``{"maxiter": 50}``.
    **options
        Options of :func:`lio_validate.sem` that semopy can reproduce:
        ``std_lv``, ``meanstructure``, ``fixed_x``, ``information``,
        ``estimator="ML"``, ``likelihood="normal"`` and
        ``missing="listwise"``.

    Returns
    -------
    CrossCheck
        Estimates, standard errors and chi-squares of both fits.

    Raises
    ------
    LioInputError
        For an option or a model line semopy cannot fit: groups, estimators
        other than ML, sampling weights, clusters, FIML, ordinal items, the
        Wishart likelihood or a mean structure that is not saturated. Also
        when semopy is not installed and when semopy raises an exception.
        lio_validate's own errors (ModelSyntaxError, DataError, ...) pass
        through unchanged.

    Warns
    -----
    ConvergenceWarning
        When semopy's optimiser reports no success; the result is still
        returned, with ``semopy_converged`` False.
    LioWarning
        When a variance is estimated negative by lio_validate, because semopy
        keeps every variance at 0 or above and so cannot reach that solution.

    Notes
    -----
    semopy minimises its MLW objective, tr(S Sigma^-1) - p + log|Sigma| -
    log|S| with S the sample covariance matrix divided by N, and reports N
    times its minimum as chi-square (semopy 2.3.11, ``Model.obj_mlw`` and
    ``stats.calc_chi2``). That is lavaan's ML discrepancy for complete data,
    so the two chi-squares agree up to optimiser precision. semopy's standard
    errors invert (N/2) times the information matrix, the expected one or a
    numerical Hessian of the objective for the observed one
    (``stats.calc_se``).

    With a saturated mean structure (``meanstructure=True`` or ``~ 1`` lines
    that only free the intercepts of observed variables), the intercepts are
    left out: semopy's ``Model`` fits covariances only, and a saturated mean
    structure does not change the other ML estimates.

    References
    ----------
    Igolkina, A. A., & Meshcheryakov, G. (2020). semopy: A Python package
    for structural equation modeling. Structural Equation Modeling: A
    Multidisciplinary Journal, 27(6), 952-963.

    SciPy documentation, ``scipy.optimize.minimize(method="SLSQP")``: the
    ``ftol`` option is the precision goal for the objective in the stopping
    criterion.

    Examples
    --------
    >>> check = cross_check("visual =~ x1 + x2 + x3", hs)     # doctest: +SKIP
    >>> print(check.summary())                                 # doctest: +SKIP
    """
    _check_options(options)
    parsed = parse_model(model)
    _check_model_lines(parsed)
    semopy = _import_semopy()

    fit = api.sem(model, data, **options)
    table = fit.parameter_table.reset_index(drop=True)
    estimates = fit.estimates.reset_index(drop=True)
    notes: list[str] = []
    skipped_means = _check_mean_structure(table, parsed)
    if skipped_means:
        notes.append(
            f"{len(skipped_means)} rows of the mean structure (~1: intercepts and "
            "latent means) are not compared: semopy's Model fits covariances "
            "only, and this mean structure is saturated, so it does not change "
            "the other estimates"
        )
    if not fit.converged:
        notes.append(
            "lio_validate's optimiser did not converge, so differences may come "
            "from its side"
        )
    _note_negative_variances(table, estimates, notes)

    prepared, _ = prepare_data(parsed, data, listwise=True)
    frame = prepared.frames[0][1][list(fit.observed_variables)].astype(float)
    text, starts = _semopy_syntax(table, estimates, frame, skipped_means)

    merged_options = dict(SOLVER_OPTIONS)
    merged_options.update(solver_options or {})
    outcome = _fit_semopy(semopy, text, frame, starts, merged_options,
                          fit.information)
    notes += [f"semopy logged: {message}" for message in outcome.log_messages]

    compared = table.drop(index=skipped_means)
    npar = compared.loc[compared["free"] > 0, "free"].nunique()
    if outcome.npar != npar:
        raise LioInputError(
            f"semopy built a model with {outcome.npar} free parameters, but "
            f"lio_validate's has {npar}, not counting intercepts; semopy added or "
            "merged parameters, so the two fits are not comparable. The text "
            "semopy received was:\n" + text
        )
    if not outcome.converged:
        message = (
            f"semopy's optimiser did not converge ({outcome.message}); its "
            "estimates are reported as they are, so differences may come from "
            "semopy's side. Raise 'maxiter' or loosen 'ftol' in solver_options"
        )
        warnings.warn(message, ConvergenceWarning, stacklevel=2)
        notes.append(message)

    rows = _compare_free(table, estimates, outcome.estimates, skipped_means)
    rows += _compare_defined(parsed, table, estimates, outcome.estimates,
                             skipped_means, notes)
    return CrossCheck(
        rows=tuple(rows),
        chisq_lio=float(fit.fit_measures["chisq"]),
        chisq_semopy=outcome.chisq,
        df=int(fit.fit_measures["df"]),
        nobs=int(fit.nobs),
        information=fit.information,
        semopy_version=str(semopy.__version__),
        semopy_converged=outcome.converged,
        semopy_message=outcome.message,
        semopy_iterations=outcome.iterations,
        solver_options=merged_options,
        semopy_model=text,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------
# What semopy can fit
# --------------------------------------------------------------------------


def _unsupported(feature: str, reason: str, fix: str) -> LioInputError:
    return LioInputError(
        f"semopy cannot fit {feature}: {reason}. {_TEST_SUITE}; {fix}"
    )


def _check_options(options: dict) -> None:
    """Reject the options of :func:`lio_validate.sem` that semopy cannot reproduce."""
    accepted = [
        name for name in inspect.signature(api.sem).parameters
        if name not in ("model", "data")
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise LioInputError(
            f"cross_check got unknown option(s) {', '.join(map(repr, unknown))}; "
            f"it accepts solver_options and the options of lio_validate.sem: "
            f"{', '.join(accepted)}"
        )

    if options.get("group") is not None:
        raise _unsupported(
            f"group={options['group']!r}", "its Model fits one group",
            "leave out group= to cross-check the model in the pooled sample",
        )
    if options.get("group_equal") or options.get("group_partial"):
        raise _unsupported(
            "group_equal or group_partial",
            "these constrain parameters across groups and semopy fits one group",
            "leave them out",
        )
    estimator = options.get("estimator")
    if estimator is not None and str(estimator).upper() != "ML":
        raise _unsupported(
            f"estimator={estimator!r}",
            "semopy has no robust (MLR, MLM) or categorical (WLSMV, DWLS, ULS) "
            "estimator with lavaan's standard errors and test corrections",
            "use estimator='ML' (the default) to cross-check the point estimates",
        )
    for name, design in (("weights", "sampling weights"), ("cluster", "clusters")):
        if options.get(name) is not None:
            raise _unsupported(
                f"{name}={options[name]!r}", f"semopy's Model has no {design}",
                f"leave out {name}= to cross-check the unweighted single-level fit",
            )
    missing = str(options.get("missing", "listwise")).lower()
    if missing in ("fiml", "ml"):
        raise _unsupported(
            f"missing={options['missing']!r}",
            "the cross-check uses semopy's complete-data ML objective",
            "use missing='listwise' (the default)",
        )
    if options.get("ordered"):
        raise _unsupported(
            "ordered items as lavaan does",
            "semopy fits them by ML on polychoric correlations, without "
            "thresholds, WLSMV weights or test corrections",
            "leave out ordered= to treat the items as continuous",
        )
    if options.get("likelihood", "normal") == "wishart":
        raise _unsupported(
            "likelihood='wishart'",
            "its ML objective uses the sample covariance matrix divided by N",
            "use likelihood='normal' (the default)",
        )


def _check_model_lines(parsed: ParsedModel) -> None:
    for term in parsed.terms:
        if term.op == "|":
            raise _unsupported(
                f"the thresholds on line {term.line} ('{term.text}')",
                "thresholds belong to ordinal items",
                "remove the '|' lines to treat the items as continuous",
            )


def _check_mean_structure(table: pd.DataFrame, parsed: ParsedModel) -> list[int]:
    """Return the intercept rows to leave out, or raise if they are not saturated.

    The mean structure is saturated when every observed variable has its own
    free intercept (or one fixed at the sample mean under fixed.x) and every
    latent mean is fixed at 0. Then the model reproduces the sample means
    exactly, and the covariance part is estimated as without intercepts.
    """
    means = table.index[table["op"] == "~1"].tolist()
    latent = set(table.loc[table["op"] == "=~", "lhs"])
    shared = table.loc[table["free"] > 0, "free"].value_counts()
    lines = parsed.text.splitlines()
    for row in means:
        variable = table.at[row, "lhs"]
        free = int(table.at[row, "free"])
        if variable in latent:
            saturated = free == 0 and table.at[row, "value"] == 0
        else:
            saturated = (free > 0 and shared[free] == 1) or table.at[row, "exo"] == 1
        if saturated:
            continue
        line = int(table.at[row, "line"])
        where = (
            f"line {line} ('{lines[line - 1].strip()}')"
            if 0 < line <= len(lines) else f"the intercept '{variable} ~1'"
        )
        raise _unsupported(
            where,
            f"it fixes, frees or equates the mean of {variable!r}, so the mean "
            "structure is not saturated and changes the other estimates, while "
            "semopy's Model fits covariances only",
            "remove the line (and meanstructure=True) to cross-check the "
            "covariance structure",
        )
    return means


def _note_negative_variances(table, estimates, notes: list[str]) -> None:
    variance = (
        (table["op"] == "~~") & (table["lhs"] == table["rhs"]) & (table["free"] > 0)
    )
    negative = variance & (estimates["est"] < 0)
    if not negative.any():
        return
    names = ", ".join(
        f"{table.at[row, 'lhs']} ~~ {table.at[row, 'rhs']}"
        for row in table.index[negative]
    )
    message = (
        f"lio_validate estimates the variance(s) {names} below 0. semopy 2.3.11 "
        "bounds every variance at 0 or above (Model.effect_covariance), so it "
        "cannot reach this solution and the differences in this fit come from "
        "that bound"
    )
    warnings.warn(message, LioWarning, stacklevel=3)
    notes.append(message)


# --------------------------------------------------------------------------
# The model in semopy syntax
# --------------------------------------------------------------------------


def _format_number(value: float) -> str:
    # Positional notation, because semopy splits a formula on '+' and would cut
    # an exponent such as 1e+20 in two.
    return np.format_float_positional(float(value), unique=True, trim="-")


def _semopy_syntax(
    table: pd.DataFrame, estimates: pd.DataFrame, frame: pd.DataFrame,
    skipped: list[int],
) -> tuple[str, dict[str, float]]:
    """Write the parameter table as semopy model text.

    Returns the text and the start values that semopy must get from outside.
    semopy 2.3.11 fixes the first loading of a factor at 1 unless the text
    fixes another one, so every free loading is named: a named loading is never
    fixed. The same version loops forever when it computes the start value of
    a loading on a factor without a fixed loading, because
    ``startingvalues.start_lambda`` follows ``first_manifs``, a defaultdict,
    past its end. Those loadings get their start value here instead:
    sqrt(var(item) / 2), the loading under which a unit-variance factor
    explains half the item's variance.
    """
    lines = []
    for row in table.index:
        if row in skipped:
            continue
        free = int(table.at[row, "free"])
        multiplier = (
            f"{_NAME_PREFIX}{free}" if free > 0
            else _format_number(estimates.at[row, "est"])
        )
        lines.append(
            f"{table.at[row, 'lhs']} {table.at[row, 'op']} "
            f"{multiplier}*{table.at[row, 'rhs']}"
        )

    loadings = table[table["op"] == "=~"]
    starts: dict[str, float] = {}
    for factor, rows in loadings.groupby("lhs", sort=False):
        if (rows["free"] == 0).any():
            continue
        for row in rows.index:
            item = table.at[row, "rhs"]
            name = f"{_NAME_PREFIX}{int(table.at[row, 'free'])}"
            if item in frame.columns:
                starts[name] = math.sqrt(frame[item].var(ddof=0) / 2.0)
            else:
                # An indicator that is itself latent (a second-order factor).
                starts[name] = 1.0
        # semopy puts the regression of an observed outcome on this factor in
        # the loading matrix, so it meets the same loop. Start all of these
        # regressions at 0, the value semopy gives other regressions.
        regressions = table[(table["op"] == "~") & (table["rhs"] == factor)
                            & (table["free"] > 0)]
        for row in regressions.index:
            starts[f"{_NAME_PREFIX}{int(table.at[row, 'free'])}"] = 0.0
    return "\n".join(lines), starts


# --------------------------------------------------------------------------
# Running semopy
# --------------------------------------------------------------------------


class _SemopyOutcome(NamedTuple):
    estimates: pd.DataFrame
    chisq: float
    npar: int
    converged: bool
    message: str
    iterations: int
    log_messages: tuple[str, ...]


class _LogCollector(logging.Filter):
    """A root-logger filter that keeps warning messages and drops every record."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            self.messages.append(record.getMessage())
        return False


@contextlib.contextmanager
def _collect_root_log() -> Iterator[list[str]]:
    """Collect what semopy logs to the root logger during the block.

    semopy 2.3.11 logs through the module-level functions of ``logging``,
    which write to the root logger, and importing it left a stderr handler on
    the root logger here. A filter on the root logger keeps those records from
    every handler while semopy runs, so its warnings appear once, in the
    result's notes. The NullHandler stops ``logging.warning`` from calling
    ``basicConfig`` when the root logger has no handler.
    """
    root = logging.getLogger()
    collector = _LogCollector()
    placeholder = logging.NullHandler()
    root.addFilter(collector)
    root.addHandler(placeholder)
    try:
        yield collector.messages
    finally:
        root.removeHandler(placeholder)
        root.removeFilter(collector)


def _import_semopy():
    try:
        import semopy
        from semopy import inspector, stats  # noqa: F401
    except ImportError as error:
        raise LioInputError(
            f"cross_check needs semopy, which could not be imported ({error}); "
            "install it with 'pip install semopy'"
        ) from None
    return semopy


def _fit_semopy(semopy, text: str, frame: pd.DataFrame, starts: dict[str, float],
                solver_options: dict, information: str) -> _SemopyOutcome:
    """Build, fit and inspect the semopy model, turning its exceptions into
    LioInputError."""
    with _collect_root_log() as log_messages:
        try:
            model = semopy.Model(text, cov_diag=True)
            for name, value in starts.items():
                model.parameters[name].start = value
            result = model.fit(frame, obj="MLW", solver="SLSQP",
                               options=dict(solver_options))
            chisq = float(semopy.stats.calc_chi2(model)[0])
            estimates = semopy.inspector.inspect_list(
                model, information=information, index_names=True
            )
        # semopy documents no exception types: 2.3.11 raises SyntaxError,
        # KeyError, numpy's LinAlgError and plain Exception, among others.
        except Exception as error:  # noqa: BLE001
            raise LioInputError(
                f"semopy {semopy.__version__} failed on this model: "
                f"{type(error).__name__}: {error}. lio_validate.sem fitted the model, "
                f"and {_TEST_SUITE}. The text semopy received was:\n{text}"
            ) from None

    # Known and harmless: the text names every free loading (see _semopy_syntax).
    messages = tuple(
        message for message in log_messages
        if not message.startswith("No fixed loadings for")
    )
    # semopy stores NaN when scipy reports no iteration count.
    n_it = float(result.n_it)
    iterations = int(n_it) if math.isfinite(n_it) else -1
    return _SemopyOutcome(
        estimates=estimates,
        chisq=chisq,
        npar=len(model.param_vals),
        converged=bool(result.success),
        message=str(result.message),
        iterations=iterations,
        log_messages=messages,
    )


# --------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------


def _semopy_value(semopy_estimates: pd.DataFrame, free: int, column: str) -> float:
    # A name shared by several rows (an equality) appears once per row.
    values = semopy_estimates.loc[[f"{_NAME_PREFIX}{free}"], column]
    return float(pd.to_numeric(values.iloc[0], errors="coerce"))


def _compare_free(
    table, estimates, semopy_estimates, skipped
) -> list[ParameterComparison]:
    rows = []
    for row in table.index[table["free"] > 0]:
        if row in skipped:
            continue
        free = int(table.at[row, "free"])
        est_lio = float(estimates.at[row, "est"])
        est_semopy = _semopy_value(semopy_estimates, free, "Estimate")
        rows.append(ParameterComparison(
            lhs=str(table.at[row, "lhs"]), op=str(table.at[row, "op"]),
            rhs=str(table.at[row, "rhs"]), label=str(table.at[row, "label"]),
            est_lio=est_lio, est_semopy=est_semopy,
            abs_difference=abs(est_lio - est_semopy),
            se_lio=float(estimates.at[row, "se"]),
            se_semopy=_semopy_value(semopy_estimates, free, "Std. Err"),
        ))
    return rows


def _compare_defined(parsed, table, estimates, semopy_estimates, skipped,
                     notes: list[str]) -> list[ParameterComparison]:
    """Evaluate each ``:=`` expression at semopy's estimates."""
    if not parsed.definitions:
        return []
    values: dict[str, float] = {}
    for row in table.index[table["label"] != ""]:
        if row in skipped:
            continue
        free = int(table.at[row, "free"])
        values[table.at[row, "label"]] = (
            _semopy_value(semopy_estimates, free, "Estimate") if free > 0
            else float(estimates.at[row, "est"])
        )

    defined = estimates[estimates["op"] == ":="].set_index("lhs")
    rows, unavailable = [], []
    for definition in parsed.definitions:
        try:
            est_semopy = float(np.real(definition.expression.evaluate(values)))
        except KeyError:
            # The expression uses a skipped intercept.
            est_semopy = float("nan")
            unavailable.append(definition.name)
        values[definition.name] = est_semopy
        est_lio = float(defined.at[definition.name, "est"])
        rows.append(ParameterComparison(
            lhs=definition.name, op=":=", rhs=str(defined.at[definition.name, "rhs"]),
            label=definition.name, est_lio=est_lio, est_semopy=est_semopy,
            abs_difference=abs(est_lio - est_semopy),
            se_lio=float(defined.at[definition.name, "se"]), se_semopy=float("nan"),
        ))
    notes.append(
        "defined parameters (:=) are evaluated at semopy's estimates by "
        "lio_validate's expression reader; semopy has no delta-method standard "
        "errors, so se_semopy is NaN for them"
    )
    if unavailable:
        notes.append(
            f"{', '.join(unavailable)} use(s) an intercept, which is not compared, "
            "so est_semopy is NaN"
        )
    return rows
