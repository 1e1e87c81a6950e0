"""Tests of the results folder: figures, report, manifest and atomic writing.

Every estimates table here is built by hand with lavaan's columns, so the tests need
neither R nor a fitted model.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import itertools
import json
import types
import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from lio_validate.exceptions import (
    DataError,
    LioInputError,
    ListwiseDeletionWarning,
)
from lio_validate.figures import (
    display_name,
    plot_group_forest,
    plot_invariance_ladder,
    plot_loadings,
    plot_path_diagram,
    plot_reliability,
    save_figure,
)
from lio_validate.manifest import (
    build_manifest,
    check_input_files,
    file_sha256,
    read_manifest,
    write_manifest,
)
from lio_validate.output import (
    ESTIMATES_COLUMNS,
    TableDifference,
    check_output_directory,
    compare_tables,
    estimates_to_csv,
    fit_measures_to_json,
    table_checksums,
    table_to_latex,
    write_results_folder,
)
from lio_validate.report import render_report_markdown

# --------------------------------------------------------------------------------------
# Hand-built estimates


def make_row(lhs, op, rhs, std_all, pvalue=0.0001, group="", est=None):
    est = std_all if est is None else est
    se = 0.05
    return {
        "lhs": lhs,
        "op": op,
        "rhs": rhs,
        "group": group,
        "label": "",
        "est": est,
        "se": se,
        "z": est / se,
        "pvalue": pvalue,
        "ci_lower": est - 1.96 * se,
        "ci_upper": est + 1.96 * se,
        "std_lv": std_all,
        "std_all": std_all,
    }


def make_estimates(factors, paths, items_per_factor=3, group=""):
    """Loadings for each factor, the given paths and the factor variances."""
    rows = []
    for index, factor in enumerate(factors):
        for item in range(items_per_factor):
            loading = 0.45 + 0.1 * ((index + item) % 5)
            rows.append(
                make_row(factor, "=~", f"{factor}_{item + 1}", loading, group=group)
            )
    for outcome, predictor, std_all, pvalue in paths:
        rows.append(make_row(outcome, "~", predictor, std_all, pvalue, group=group))
    endogenous = {outcome for outcome, *_ in paths}
    for factor in factors:
        residual = 0.6 if factor in endogenous else 1.0
        rows.append(make_row(factor, "~~", factor, residual, group=group))
    return pd.DataFrame(rows)


SMALL_FACTORS = ["autonomy", "supervisor_support", "informal_learning"]
SMALL_PATHS = [
    ("informal_learning", "autonomy", 0.41, 0.0004),
    ("informal_learning", "supervisor_support", 0.08, 0.31),
]

# 19 factors of the organisation model by level, outermost first.
LEVELS = {
    "external_orientation": 5,
    "flexible_workers": 5,
    "transparency": 4,
    "shared_vision": 4,
    "formal_training": 4,
    "supervisor_support": 3,
    "participative_leadership": 3,
    "psychological_safety": 3,
    "feedback_culture": 3,
    "varied_work": 2,
    "challenging_work": 2,
    "autonomy": 2,
    "workload_balance": 2,
    "learning_motivation": 1,
    "self_efficacy": 1,
    "reflection": 1,
    "initiative": 1,
    "informal_learning": "outcome",
    "innovative_behaviour": "outcome",
}

NESTED_PATHS = [
    ("transparency", "external_orientation"),
    ("shared_vision", "external_orientation"),
    ("formal_training", "flexible_workers"),
    ("supervisor_support", "transparency"),
    ("participative_leadership", "shared_vision"),
    ("psychological_safety", "shared_vision"),
    ("feedback_culture", "formal_training"),
    ("varied_work", "supervisor_support"),
    ("challenging_work", "participative_leadership"),
    ("autonomy", "participative_leadership"),
    ("autonomy", "psychological_safety"),
    ("workload_balance", "supervisor_support"),
    ("challenging_work", "varied_work"),
    ("learning_motivation", "challenging_work"),
    ("self_efficacy", "autonomy"),
    ("reflection", "feedback_culture"),
    ("initiative", "autonomy"),
    ("informal_learning", "learning_motivation"),
    ("informal_learning", "reflection"),
    ("informal_learning", "autonomy"),
    ("innovative_behaviour", "initiative"),
    ("innovative_behaviour", "self_efficacy"),
    ("innovative_behaviour", "transparency"),
    ("innovative_behaviour", "external_orientation"),
]


def nested_paths():
    """The nested paths with alternating signs and significance."""
    return [
        (outcome, predictor, (-1) ** i * (0.05 + 0.03 * (i % 9)), [0.001, 0.2][i % 2])
        for i, (outcome, predictor) in enumerate(NESTED_PATHS)
    ]


def direct_paths():
    """Every non-outcome factor predicting both outcomes directly (34 paths)."""
    predictors = [factor for factor, level in LEVELS.items() if level != "outcome"]
    paths = []
    for i, (predictor, outcome) in enumerate(
        itertools.product(predictors, ["informal_learning", "innovative_behaviour"])
    ):
        paths.append((outcome, predictor, 0.3 - 0.02 * (i % 17), [0.01, 0.4][i % 2]))
    return paths


@pytest.fixture(scope="module")
def small_estimates():
    return make_estimates(SMALL_FACTORS, SMALL_PATHS)


@pytest.fixture(scope="module")
def nested_estimates():
    return make_estimates(list(LEVELS), nested_paths())


@pytest.fixture(scope="module")
def direct_estimates():
    return make_estimates(list(LEVELS), direct_paths())


@pytest.fixture
def fit_measures():
    return {
        "npar": 40,
        "nobs": 1000,
        "chisq": 812.3456,
        "df": 120,
        "pvalue": 1e-30,
        "baseline_chisq": 9000.0,
        "baseline_df": 150,
        "cfi": 0.962,
        "tli": 0.951,
        "rmsea": 0.041,
        "rmsea_ci_lower": 0.036,
        "rmsea_ci_upper": 0.046,
        "rmsea_pvalue": 0.99,
        "srmr": 0.038,
        "logl": -12000.5,
        "aic": 24081.0,
        "bic": 24277.0,
    }


@pytest.fixture
def reliability():
    return pd.DataFrame(
        {
            "scale": ["autonomy", "supervisor_support", "informal_learning"],
            "n_items": [3, 3, 3],
            "nobs": [1000, 1000, 1000],
            "alpha": [0.81, 0.64, 0.77],
            "alpha_ci_lower": [0.79, 0.60, np.nan],
            "alpha_ci_upper": [0.83, 0.68, np.nan],
            "omega": [0.82, 0.66, 0.78],
            "composite_reliability": [0.82, 0.67, 0.78],
            "ave": [0.55, 0.41, 0.52],
        }
    )


def text_boxes(figure, gid):
    """Window extents, in pixels, of the texts with the given gid."""
    renderer = figure.canvas.get_renderer()
    return [
        text.get_window_extent(renderer)
        for ax in figure.axes
        for text in ax.texts
        if text.get_gid() == gid
    ]


def overlapping_pairs(boxes, others=None):
    """Pairs of boxes that share more than one square pixel."""
    pairs = (
        itertools.combinations(boxes, 2)
        if others is None
        else itertools.product(boxes, others)
    )
    found = []
    for a, b in pairs:
        width = min(a.x1, b.x1) - max(a.x0, b.x0)
        height = min(a.y1, b.y1) - max(a.y0, b.y0)
        if width > 1 and height > 1 and width * height > 1:
            found.append((a, b))
    return found


# --------------------------------------------------------------------------------------
# Path diagram


def test_path_diagram_small_model(small_estimates):
    figure = plot_path_diagram(small_estimates)

    assert isinstance(figure, Figure)
    labels = [t.get_text() for t in figure.axes[0].texts if t.get_gid() == "path-label"]
    assert sorted(labels) == ["0.08", "0.41"]
    names = [t.get_text() for t in figure.axes[0].texts if t.get_gid() == "node-name"]
    assert "autonomy" in names
    captions = [
        t.get_text() for t in figure.axes[0].texts if t.get_gid() == "node-caption"
    ]
    assert "3 items" in captions
    assert "R\u00b2 = .40" in captions


def test_path_diagram_line_styles(small_estimates):
    figure = plot_path_diagram(small_estimates)
    lines = figure.axes[0].lines
    solid = [line for line in lines if line.get_linestyle() == "-"]
    dashed = [line for line in lines if line.get_linestyle() == "--"]

    assert len(solid) == 1
    assert len(dashed) == 1
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert legend == ["p < .05", "p \u2265 .05"]


def test_path_diagram_19_factors_with_levels(nested_estimates):
    figure = plot_path_diagram(nested_estimates, levels=LEVELS)
    figure.canvas.draw()

    labels = text_boxes(figure, "path-label")
    assert len(labels) == len(NESTED_PATHS)
    assert overlapping_pairs(labels) == []
    assert overlapping_pairs(labels, text_boxes(figure, "node-name")) == []
    titles = [t.get_text() for t in figure.axes[0].texts if t.get_gid() == "band-title"]
    assert titles[0] == "5 Context"
    assert titles[-1] == "Outcomes"
    assert len(titles) == 6


@pytest.mark.parametrize("use_levels", [True, False])
def test_path_diagram_19_factors_direct_paths(direct_estimates, use_levels):
    levels = LEVELS if use_levels else None
    figure = plot_path_diagram(direct_estimates, levels=levels)
    figure.canvas.draw()

    labels = text_boxes(figure, "path-label")
    assert len(labels) == 34
    assert overlapping_pairs(labels) == []
    assert overlapping_pairs(labels, text_boxes(figure, "node-name")) == []
    width, height = figure.get_size_inches()
    assert width < 9.0
    assert height < 9.0


def test_path_diagram_missing_level(small_estimates):
    levels = {"autonomy": 2, "informal_learning": "outcome"}

    with pytest.raises(LioInputError, match="supervisor_support"):
        plot_path_diagram(small_estimates, levels=levels)


def test_path_diagram_numpy_levels(small_estimates):
    levels = {"autonomy": np.int64(2), "supervisor_support": 3}
    levels["informal_learning"] = "outcome"

    figure = plot_path_diagram(small_estimates, levels=levels)

    titles = [t.get_text() for t in figure.axes[0].texts if t.get_gid() == "band-title"]
    assert titles == ["3 Supervisor and\ncolleagues", "2 Task", "Outcomes"]


def test_path_diagram_invalid_level(small_estimates):
    levels = {"autonomy": 6, "supervisor_support": 3, "informal_learning": "outcome"}

    with pytest.raises(LioInputError, match="Level 6 of 'autonomy' is invalid"):
        plot_path_diagram(small_estimates, levels=levels)


def test_path_diagram_needs_group_for_several(small_estimates):
    two_groups = pd.concat(
        [small_estimates.assign(group="low"), small_estimates.assign(group="high")],
        ignore_index=True,
    )

    with pytest.raises(LioInputError, match="groups"):
        plot_path_diagram(two_groups)
    figure = plot_path_diagram(two_groups, group="high")
    assert isinstance(figure, Figure)
    with pytest.raises(LioInputError, match="'middle' is not in the estimates"):
        plot_path_diagram(two_groups, group="middle")


def test_path_diagram_missing_column(small_estimates):
    with pytest.raises(LioInputError, match="std_all"):
        plot_path_diagram(small_estimates.drop(columns="std_all"))


def test_path_diagram_nothing_to_draw():
    variances = pd.DataFrame([make_row("x1", "~~", "x1", 1.0)])

    with pytest.raises(LioInputError, match="no latent variable"):
        plot_path_diagram(variances)


def test_path_diagram_observed_and_higher_order():
    estimates = make_estimates(["autonomy", "varied_work", "informal_learning"], [])
    extra = [
        make_row("task", "=~", "autonomy", 0.7),
        make_row("task", "=~", "varied_work", 0.6),
        make_row("informal_learning", "~", "task", 0.5),
        make_row("informal_learning", "~", "age", -0.1, pvalue=0.3),
        make_row("informal_learning", "~", "autonomy", 0.2, pvalue=np.nan),
        make_row("autonomy", "~~", "varied_work", 0.3),
    ]
    estimates = pd.concat([estimates, pd.DataFrame(extra)], ignore_index=True)

    figure = plot_path_diagram(estimates, show_covariances=True)
    ax = figure.axes[0]
    boxes = [patch for patch in ax.patches if isinstance(patch, Rectangle)]
    assert len(boxes) == 1  # the observed predictor age
    labels = sorted(t.get_text() for t in ax.texts if t.get_gid() == "path-label")
    assert labels == ["0.20", "0.50", "0.60", "0.70", "\u22120.10"]
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "no p-value (fixed)" in legend


def test_path_diagram_feedback_loop_and_level_arc():
    estimates = make_estimates(
        ["autonomy", "varied_work", "informal_learning"],
        [
            ("varied_work", "autonomy", 0.3, 0.01),
            ("autonomy", "informal_learning", 0.2, 0.01),
            ("informal_learning", "varied_work", 0.4, 0.01),
            ("informal_learning", "autonomy", 0.1, 0.5),
        ],
    )

    for levels in (None, {"autonomy": 2, "varied_work": 2, "informal_learning": 1}):
        figure = plot_path_diagram(estimates, levels=levels)
        labels = [t for t in figure.axes[0].texts if t.get_gid() == "path-label"]
        assert len(labels) == 4


def test_path_diagram_into_given_axes(small_estimates):
    figure = Figure(figsize=(5, 3))
    ax = figure.add_subplot()

    returned = plot_path_diagram(small_estimates, ax=ax)

    assert returned is figure


# --------------------------------------------------------------------------------------
# Loadings and reliability


def test_loadings_one_panel(small_estimates):
    figure = plot_loadings(small_estimates)

    assert isinstance(figure, Figure)
    assert len(figure.axes) == 1
    assert len(figure.axes[0].patches) == 9
    ticks = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert ticks[:3] == ["autonomy_1", "autonomy_2", "autonomy_3"]


def test_loadings_19_factors_two_panels(nested_estimates):
    figure = plot_loadings(nested_estimates)

    assert len(figure.axes) == 2
    assert sum(len(ax.patches) for ax in figure.axes) == 19 * 3
    width, _ = figure.get_size_inches()
    assert width == pytest.approx(6.8)


def test_loadings_several_groups(small_estimates):
    two_groups = pd.concat(
        [small_estimates.assign(group="low"), small_estimates.assign(group="high")],
        ignore_index=True,
    )

    figure = plot_loadings(two_groups)

    assert len(figure.axes[0].patches) == 18
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["low", "high", "Reference 0.5"]


def test_loadings_without_loadings():
    regression = pd.DataFrame([make_row("y", "~", "x", 0.3)])

    with pytest.raises(LioInputError, match="no loadings"):
        plot_loadings(regression)


def test_reliability_plot(reliability):
    figure = plot_reliability(reliability)

    ax = figure.axes[0]
    ticks = [label.get_text() for label in ax.get_yticklabels()]
    assert ticks == ["autonomy", "supervisor support", "informal learning"]
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == [
        "Cronbach's \u03b1 (95% CI)",
        "McDonald's \u03c9",
        "Reference 0.7",
    ]


def test_reliability_missing_column(reliability):
    with pytest.raises(LioInputError, match="omega"):
        plot_reliability(reliability.drop(columns="omega"))


def test_save_figure_png_svg_pdf(tmp_path, small_estimates):
    figure = plot_loadings(small_estimates)

    png, svg, pdf = save_figure(figure, tmp_path / "figures", "loadings")

    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert b"<svg" in svg.read_bytes()
    assert pdf.read_bytes().startswith(b"%PDF")
    first = [path.read_bytes() for path in (png, svg, pdf)]
    save_figure(plot_loadings(small_estimates), tmp_path / "figures", "loadings")
    assert svg.read_bytes() == first[1]
    assert pdf.read_bytes() == first[2]
    assert png.read_bytes() == first[0]


def test_save_figure_one_format(tmp_path, small_estimates):
    paths = save_figure(plot_loadings(small_estimates), tmp_path, "x", formats=["pdf"])

    assert [path.name for path in paths] == ["x.pdf"]
    with pytest.raises(LioInputError, match="'eps'"):
        save_figure(plot_loadings(small_estimates), tmp_path, "x", formats=["eps"])


@pytest.mark.parametrize("stem", ["", ".hidden", "a/b", "a\\b"])
def test_save_figure_bad_stem(tmp_path, small_estimates, stem):
    figure = plot_loadings(small_estimates)

    with pytest.raises(LioInputError, match="is invalid"):
        save_figure(figure, tmp_path, stem)


def test_display_names_in_every_figure(nested_estimates, reliability):
    diagram = plot_path_diagram(nested_estimates, levels=LEVELS)
    loadings = plot_loadings(nested_estimates)
    reliability_figure = plot_reliability(reliability)

    names = [t.get_text() for t in diagram.axes[0].texts if t.get_gid() == "node-name"]
    assert "participative" in names
    assert "leadership" in names
    headers = [t.get_text() for ax in loadings.axes for t in ax.texts]
    assert "participative leadership" in headers
    ticks = [t.get_text() for t in reliability_figure.axes[0].get_yticklabels()]
    assert "supervisor support" in ticks
    for figure in (diagram, loadings, reliability_figure):
        texts = [t.get_text() for ax in figure.axes for t in ax.texts]
        assert not any("_" in text for text in texts if "std_all" not in text)
    assert display_name("innovative_work_behaviour") == "innovative work behaviour"


# --------------------------------------------------------------------------------------
# Group comparisons and the invariance ladder


@pytest.fixture(scope="module")
def three_groups():
    frames = []
    for shift, group in zip((0.0, 0.1, 0.2), ("low", "middle", "high")):
        paths = [(lhs, rhs, value + shift, p) for lhs, rhs, value, p in SMALL_PATHS]
        frames.append(make_estimates(SMALL_FACTORS, paths, group=group))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def invariance_table():
    return pd.DataFrame(
        {
            "level": ["configural", "metric", "scalar", "strict"],
            "chisq": [500.0, 520.0, 610.0, 640.0],
            "df": [300, 320, 340, 370],
            "cfi": [0.970, 0.968, 0.950, 0.947],
            "tli": [0.965, 0.964, 0.947, 0.946],
            "rmsea": [0.030, 0.031, 0.049, 0.050],
            "srmr": [0.040, 0.042, 0.045, 0.047],
            "delta_cfi": [np.nan, -0.002, -0.018, -0.003],
            "delta_rmsea": [np.nan, 0.001, 0.018, 0.001],
            "decision": ["", "holds", "rejected", "holds"],
        }
    )


def test_group_forest_points_and_intervals(three_groups):
    figure = plot_group_forest(three_groups)

    ax = figure.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [
        "autonomy \u2192\ninformal learning",
        "supervisor support \u2192\ninformal learning",
    ]
    points = [
        line for line in ax.lines if line.get_label() in ("low", "middle", "high")
    ]
    assert [line.get_label() for line in points] == ["low", "middle", "high"]
    assert [line.get_marker() for line in points] == ["o", "s", "D"]
    np.testing.assert_allclose(points[2].get_xdata(), [0.61, 0.28])
    intervals = ax.collections
    assert len(intervals) == 3
    segment = intervals[0].get_segments()[0]
    np.testing.assert_allclose(segment[:, 0], [0.41 - 0.098, 0.41 + 0.098])
    legend = [t.get_text() for t in figure.legends[0].get_texts()]
    assert legend == ["low", "middle", "high"]


def test_group_forest_selection_and_order(three_groups):
    figure = plot_group_forest(
        three_groups,
        parameters=["informal_learning  ~ supervisor_support"],
        groups=["high", "low"],
    )

    ax = figure.axes[0]
    assert len(ax.get_yticklabels()) == 1
    points = [line for line in ax.lines if line.get_label() in ("low", "high")]
    assert [line.get_label() for line in points] == ["high", "low"]


def test_group_forest_loadings_and_missing_interval(three_groups):
    table = three_groups.copy()
    table.loc[table["op"] == "=~", ["ci_lower", "ci_upper"]] = np.nan

    figure = plot_group_forest(table, ops=["=~"], groups=["low"])

    ax = figure.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "autonomy \u2192 autonomy 1"
    assert len(labels) == 9
    assert ax.collections[0].get_segments() == []
    assert figure.legends == []


def test_group_forest_errors(three_groups):
    with pytest.raises(LioInputError, match="'autonomy ~ age'.*informal_learning ~"):
        plot_group_forest(three_groups, parameters=["autonomy ~ age"])
    with pytest.raises(LioInputError, match="\\['phd'\\]"):
        plot_group_forest(three_groups, groups=["phd"])
    with pytest.raises(LioInputError, match="no rows with op"):
        plot_group_forest(three_groups, ops=[":="])
    with pytest.raises(LioInputError, match="ci_upper"):
        plot_group_forest(three_groups.drop(columns="ci_upper"))


def test_group_forest_into_given_axes(three_groups):
    figure = Figure(figsize=(4, 3))
    ax = figure.add_subplot()

    returned = plot_group_forest(three_groups, ax=ax, estimate="std_all")

    assert returned is figure
    assert ax.get_legend() is not None
    assert ax.get_xlabel() == "Estimate (std_all) with confidence interval"


def test_invariance_ladder(invariance_table):
    figure = plot_invariance_ladder(invariance_table)

    top, bottom = figure.axes
    ticks = [t.get_text() for t in bottom.get_xticklabels()]
    assert ticks[0].startswith("configural")
    assert ticks[2] == "scalar\n\u0394CFI \u2212.018\n\u0394RMSEA +.018\nrejected"
    filled = [line for line in top.lines if line.get_label() == "CFI"][0]
    np.testing.assert_allclose(filled.get_xdata(), [0, 1, 3])
    hollow = [
        line
        for line in top.lines
        if line.get_markerfacecolor() == "white" and len(line.get_xdata())
    ]
    np.testing.assert_allclose(hollow[0].get_xdata(), [2])
    references = [t.get_text() for t in bottom.texts]
    assert references == ["RMSEA .06", "SRMR .08"]
    legend = [t.get_text() for t in figure.legends[0].get_texts()]
    assert legend[-1] == "\u0394CFI < \u2212.01 or \u0394RMSEA > .015"


def test_invariance_ladder_given_axes_and_errors(invariance_table):
    figure = Figure()
    axes = figure.subplots(2, 1)

    assert plot_invariance_ladder(invariance_table, axes=axes) is figure
    with pytest.raises(LioInputError, match="two Axes"):
        plot_invariance_ladder(invariance_table, axes=[axes[0]])
    with pytest.raises(LioInputError, match="delta_rmsea"):
        plot_invariance_ladder(invariance_table.drop(columns="delta_rmsea"))
    with pytest.raises(LioInputError, match="no rows"):
        plot_invariance_ladder(invariance_table.iloc[:0])


# --------------------------------------------------------------------------------------
# Report


def test_report_sections_and_tables(small_estimates, fit_measures, reliability):
    estimates = small_estimates.copy()
    estimates.loc[0, "est"] = 0.123456
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn(
            "12 rows with missing values dropped", ListwiseDeletionWarning, stacklevel=2
        )

    report = render_report_markdown(
        estimates=estimates,
        fit_measures=fit_measures,
        reliability=reliability,
        r_squared=pd.Series({"informal_learning": 0.4}),
        data_path="survey.sav",
        rows_dropped=12,
        estimator="MLR",
        model_text="informal_learning ~ autonomy",
        warnings=list(caught),
        figures=["path_diagram", "loadings"],
    )

    assert report.startswith("# ")
    for heading in (
        "## Data and model",
        "## Model fit",
        "## Reliability",
        "## Standardized loadings",
        "## Structural paths",
        "## Explained variance (R\u00b2)",
        "## Warnings",
        "## Figures",
    ):
        assert heading in report
    assert "- Data file: survey.sav" in report
    assert "- Observations used: 1000" in report
    assert "- Rows dropped because of missing values: 12" in report
    assert "- Estimator: MLR" in report
    assert "| Chi-square (chisq) | 812.346 |" in report
    assert "| CFI | .962 |" in report
    assert "| RMSEA 90% CI | .036 to .046 |" in report
    assert "| autonomy | autonomy_1 | 0.123 | 0.050 | < .001 | 0.450 |" in report
    assert (
        "| informal_learning | supervisor_support | 0.080 | 0.050 | .310 | 0.080 |"
        in report
    )
    assert "| supervisor_support | 3 | 1000 | .640 | .600 to .680 |" in report
    assert "| informal_learning | 3 | 1000 | .770 | NA |" in report
    assert "| informal_learning | .400 |" in report
    assert "- ListwiseDeletionWarning: 12 rows with missing values dropped" in report
    assert "![Path diagram" in report
    assert "(figures/path_diagram.png)" in report
    assert "(figures/path_diagram.svg)" in report
    assert "(figures/loadings.png)" in report
    assert "Hu and Bentler (1999)" in report
    assert "the fit is good" in report
    assert "1 of 2 paths are significant at p < .05" in report
    assert "Not significant: supervisor_support \u2192 informal_learning" in report
    assert "Alpha is below .70 for supervisor_support (.640)" in report
    assert "AVE is below .50 for supervisor_support (.410)" in report


@pytest.mark.parametrize(
    ("cfi", "rmsea", "srmr", "verdict"),
    [
        (0.96, 0.05, 0.04, "the fit is good"),
        (0.93, 0.07, 0.05, "acceptable by the looser convention"),
        (0.85, 0.10, 0.09, "the fit is poor"),
        (0.97, 0.05, 0.11, "SRMR \u2264 .08 is not met"),
    ],
)
def test_report_fit_reading(small_estimates, fit_measures, cfi, rmsea, srmr, verdict):
    fit_measures.update(cfi=cfi, rmsea=rmsea, srmr=srmr)

    report = render_report_markdown(
        estimates=small_estimates, fit_measures=fit_measures
    )

    assert verdict in report


def test_report_prefers_robust_measures(small_estimates, fit_measures):
    fit_measures.update(
        cfi=0.88,
        rmsea=0.09,
        chisq_scaled=700.0,
        df_scaled=120,
        pvalue_scaled=1e-12,
        chisq_scaling_factor=1.16,
        cfi_robust=0.955,
        tli_robust=0.95,
        rmsea_robust=0.05,
    )

    report = render_report_markdown(
        estimates=small_estimates, fit_measures=fit_measures
    )

    assert "| Measure | Standard | Scaled / robust |" in report
    assert "| CFI | .880 | .955 |" in report
    assert "The robust CFI of .955" in report
    assert "the fit is good" in report


def test_report_saturated_model(small_estimates, fit_measures):
    fit_measures.update(chisq=0.0, df=0, pvalue=np.nan, cfi=1.0, rmsea=0.0)

    report = render_report_markdown(
        estimates=small_estimates, fit_measures=fit_measures
    )

    assert "The model is saturated (df = 0)" in report


def test_report_several_groups_and_escaping(small_estimates, fit_measures):
    two_groups = pd.concat(
        [small_estimates.assign(group="low"), small_estimates.assign(group="high")],
        ignore_index=True,
    )
    threshold = pd.DataFrame([make_row("x1", "|", "t1", 0.2)])
    defined = pd.DataFrame([make_row("indirect", ":=", "a*b", 0.12, group="low")])
    estimates = pd.concat([two_groups, threshold, defined], ignore_index=True)

    report = render_report_markdown(
        estimates=estimates,
        fit_measures=fit_measures,
        model_text="a ~ b\n# ``` inside",
    )

    assert "| Factor | Item | Group | Estimate | SE | p | std_all |" in report
    assert "| autonomy | autonomy_1 | high |" in report
    assert "- Groups: low, high" in report
    assert "| indirect | a\\*b | low |" in report
    assert "````\na ~ b\n# ``` inside\n````" in report


def test_report_from_fit_result(small_estimates, fit_measures, reliability):
    estimates = small_estimates.copy()
    estimates.loc[0, ["se", "pvalue"]] = [0.0, np.nan]
    r_squared = pd.Series(
        [0.4, 0.3, 0.2],
        index=pd.MultiIndex.from_tuples(
            [("", "informal_learning"), ("", "autonomy_1"), ("", "autonomy_2")]
        ),
    )
    fit = types.SimpleNamespace(
        estimates=estimates,
        fit_measures=fit_measures,
        r_squared=r_squared,
        nobs=998,
        nobs_dropped=2,
        estimator="ML",
        model_text="informal_learning ~ autonomy",
        converged=True,
        iterations=12,
        max_abs_gradient=3.2e-9,
    )
    reliability_result = types.SimpleNamespace(table=reliability)

    report = render_report_markdown(
        fit=fit, reliability=reliability_result, data_path="organisation.csv"
    )

    assert "- Observations used: 998" in report
    assert "- Rows dropped because of missing values: 2" in report
    assert "- Optimiser: converged after 12 iterations" in report
    assert "| autonomy | autonomy_1 | 0.450 | fixed |  | 0.450 |" in report
    assert "| Group | Variable | R\u00b2 |" in report
    assert "|  | informal_learning | .400 |" in report
    assert "autonomy_2 | .200" not in report
    assert "The R\u00b2 of the measurement items is left out" in report
    assert "## Reliability" in report


def test_report_needs_estimates():
    with pytest.raises(TypeError, match="needs fit="):
        render_report_markdown(fit_measures={"cfi": 0.9})


def test_report_no_warnings(small_estimates, fit_measures):
    report = render_report_markdown(
        estimates=small_estimates, fit_measures=fit_measures
    )

    assert "The run raised no warnings." in report
    assert "## Figures" not in report


# --------------------------------------------------------------------------------------
# Manifest


def test_manifest_keys_and_sha256(tmp_path):
    data = tmp_path / "survey.csv"
    data.write_bytes(b"a,b\n1,2\n")
    started = datetime.datetime(2024, 5, 1, 10, 0, 0, tzinfo=datetime.timezone.utc)
    finished = started + datetime.timedelta(seconds=12.5)

    manifest = build_manifest(
        command="run-sem",
        argv=["lio_validate", "run-sem", "--data", data, "--seed", "7"],
        options={"estimator": "MLR", "bootstrap": np.int64(0), "missing": None},
        input_files={"data": data},
        model_text="f =~ a + b",
        seed=7,
        started=started,
        finished=finished,
        warnings=[ListwiseDeletionWarning("3 rows dropped"), "plain"],
        convergence={"converged": True, "iterations": 41, "gradient_norm": np.nan},
    )

    expected_keys = {
        "format_version",
        "package",
        "python",
        "platform",
        "dependencies",
        "command",
        "argv",
        "command_line",
        "options",
        "input_files",
        "model",
        "seed",
        "started",
        "finished",
        "duration_seconds",
        "warnings",
        "convergence",
        "working_directory",
        "outputs",
    }
    assert set(manifest) == expected_keys
    assert manifest["package"]["name"] == "lio_validate"
    for name in ("numpy", "scipy", "pandas", "statsmodels", "matplotlib"):
        assert name in manifest["dependencies"]
    assert manifest["dependencies"]["numpy"] == np.__version__
    record = manifest["input_files"][0]
    assert record["role"] == "data"
    assert record["sha256"] == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert record["size_bytes"] == 8
    assert manifest["model"]["sha256"] == hashlib.sha256(b"f =~ a + b").hexdigest()
    assert manifest["started"] == "2024-05-01T10:00:00.000+00:00"
    assert manifest["finished"] == "2024-05-01T10:00:12.500+00:00"
    assert manifest["duration_seconds"] == 12.5
    assert manifest["options"]["bootstrap"] == 0
    assert manifest["convergence"]["gradient_norm"] is None
    assert manifest["warnings"][0] == {
        "category": "ListwiseDeletionWarning",
        "message": "3 rows dropped",
    }
    assert manifest["command_line"].endswith("--seed 7")

    path = write_manifest(tmp_path / "manifest.json", manifest)
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == manifest
    assert text.index('"argv"') < text.index('"command"') < text.index('"warnings"')
    assert "NaN" not in text


def test_file_sha256_large_file(tmp_path):
    content = np.random.default_rng(3).bytes(3 * (1 << 20) + 17)
    path = tmp_path / "large.bin"
    path.write_bytes(content)

    assert file_sha256(path) == hashlib.sha256(content).hexdigest()


def test_manifest_missing_input(tmp_path):
    now = datetime.datetime.now(datetime.timezone.utc)

    with pytest.raises(DataError, match="missing.csv"):
        build_manifest(
            command="run-sem",
            argv=[],
            options={},
            input_files=[tmp_path / "missing.csv"],
            model_text=None,
            seed=None,
            started=now,
            finished=now,
            warnings=[],
            convergence=None,
        )


def test_manifest_finished_before_started():
    now = datetime.datetime.now(datetime.timezone.utc)

    with pytest.raises(ValueError, match="before it started"):
        build_manifest(
            command="run-sem",
            argv=[],
            options={},
            input_files=[],
            model_text=None,
            seed=None,
            started=now,
            finished=now - datetime.timedelta(seconds=1),
            warnings=[],
            convergence=None,
        )


# --------------------------------------------------------------------------------------
# Results folder


class FailingFigure(Figure):
    """A figure whose saving fails, as a full disk would make it."""

    def savefig(self, *args, **kwargs):
        raise OSError("No space left on device")


def results_files(estimates, fit_measures):
    return {
        "estimates.csv": estimates_to_csv(estimates),
        "fit_measures.json": fit_measures_to_json(fit_measures),
        "report.md": "# Report\n",
        "tables/binary.bin": b"\x00\x01",
    }


def test_results_folder_complete(tmp_path, small_estimates, fit_measures):
    out_dir = tmp_path / "runs" / "first"
    figures = {"loadings": plot_loadings(small_estimates)}

    written = write_results_folder(
        out_dir, results_files(small_estimates, fit_measures), figures
    )

    assert written == out_dir
    for name in (
        "estimates.csv",
        "fit_measures.json",
        "report.md",
        "tables/binary.bin",
        "figures/loadings.png",
        "figures/loadings.svg",
        "figures/loadings.pdf",
    ):
        assert (out_dir / name).is_file(), name
    assert (out_dir / "tables/binary.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in out_dir.parent.iterdir()) == ["first"]


def test_results_folder_absent_after_failure(tmp_path, small_estimates, fit_measures):
    out_dir = tmp_path / "results"
    figures = {
        "loadings": plot_loadings(small_estimates),
        "broken": FailingFigure(),
    }

    with pytest.raises(OSError, match="No space left"):
        write_results_folder(
            out_dir, results_files(small_estimates, fit_measures), figures
        )

    assert not out_dir.exists()
    assert list(tmp_path.iterdir()) == []


def test_results_folder_empty_directory_replaced(
    tmp_path, small_estimates, fit_measures
):
    out_dir = tmp_path / "results"
    out_dir.mkdir()

    write_results_folder(out_dir, results_files(small_estimates, fit_measures), {})

    assert (out_dir / "estimates.csv").is_file()


def test_results_folder_rejects_non_empty(tmp_path, small_estimates, fit_measures):
    out_dir = tmp_path / "results"
    out_dir.mkdir()
    (out_dir / "old.txt").write_text("keep me")

    with pytest.raises(LioInputError, match="not empty.*--out"):
        write_results_folder(out_dir, results_files(small_estimates, fit_measures), {})

    assert sorted(p.name for p in out_dir.iterdir()) == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_check_output_directory(tmp_path):
    check_output_directory(tmp_path / "new")
    check_output_directory(tmp_path)
    (tmp_path / "old.txt").write_text("x")

    with pytest.raises(LioInputError, match="already exists and is not empty"):
        check_output_directory(tmp_path)


def test_results_folder_rejects_file_path(tmp_path):
    target = tmp_path / "results"
    target.write_text("a file")

    with pytest.raises(LioInputError, match="not a directory"):
        write_results_folder(target, {"a.txt": "x"}, {})


@pytest.mark.parametrize("name", ["../escape.txt", "/absolute.txt", ""])
def test_results_folder_rejects_bad_names(tmp_path, name):
    with pytest.raises(ValueError, match="is invalid in a results folder"):
        write_results_folder(tmp_path / "results", {name: "x"}, {})

    assert not (tmp_path / "results").exists()


def test_results_folder_rejects_clash(tmp_path, small_estimates):
    figures = {"loadings": plot_loadings(small_estimates)}

    with pytest.raises(ValueError, match="would overwrite"):
        write_results_folder(tmp_path / "out", {"figures/loadings.png": b""}, figures)


def test_estimates_csv_full_precision():
    estimates = pd.DataFrame(
        [
            make_row("f", "=~", "x1", 1 / 3),
            make_row("f", "~~", "f", 0.1),
            make_row("x1", "~1", "", np.nan),
        ]
    )
    estimates["est"] = [1 / 3, 2.0 / 7 * 1e5, 1e-300]
    shuffled = estimates[list(reversed(ESTIMATES_COLUMNS))]

    text = estimates_to_csv(shuffled)

    assert text.splitlines()[0] == ",".join(ESTIMATES_COLUMNS)
    back = pd.read_csv(io.StringIO(text))
    assert back["est"].tolist() == estimates["est"].tolist()
    assert back["std_all"].iloc[0] == 1 / 3
    assert np.isnan(back["std_all"].iloc[2])
    assert "\r" not in text


def test_fit_measures_json_writes_null():
    fit = {
        "chisq": np.float64(12.5),
        "df": np.int64(3),
        "srmr": np.nan,
        "rmsea": np.inf,
    }

    text = fit_measures_to_json(fit)

    assert "NaN" not in text
    assert "Infinity" not in text
    assert json.loads(text) == {"chisq": 12.5, "df": 3, "srmr": None, "rmsea": None}
    assert list(json.loads(text)) == ["chisq", "df", "srmr", "rmsea"]


# --------------------------------------------------------------------------------------
# LaTeX tables, table comparison and manifest checks


def test_table_to_latex_rounds_and_escapes():
    table = pd.DataFrame(
        {
            "scale": ["work_load & 50%", "autonomy"],
            "n": [3, 4],
            "alpha": [0.71234, np.nan],
            "p": ["< .001", ".020"],
        }
    )

    text = table_to_latex(
        table,
        caption="Scales",
        label="scales",
        columns={"scale": "Scale", "alpha": "a"},
    )

    assert "\\begin{tabular}{lr}" in text
    assert "\\caption{Scales}" in text
    assert "\\label{tab:scales}" in text
    assert "work\\_load \\& 50\\% & 0.712 \\\\" in text
    assert "autonomy & -- \\\\" in text
    assert text.endswith("\\end{table}\n")
    assert "$<$ .001" in table_to_latex(table, caption="c", label="l")
    with pytest.raises(ValueError, match="'beta'"):
        table_to_latex(table, caption="c", label="l", columns={"beta": "b"})


def test_table_checksums_and_comparison(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        (folder / "tables").mkdir(parents=True)
        (folder / "tables" / "paths.csv").write_text("x\n1\n")
        (folder / "fit_measures.json").write_text("{}\n")
        (folder / "manifest.json").write_text(str(folder))
        (folder / "report.md").write_text(str(folder))
    (second / "tables" / "paths.csv").write_text("x\n2\n")
    (second / "extra.tex").write_text("t")

    expected = table_checksums(first)

    assert sorted(expected) == ["fit_measures.json", "tables/paths.csv"]
    assert compare_tables(expected, table_checksums(first)) == []
    assert compare_tables(expected, table_checksums(second)) == [
        TableDifference("extra.tex", "extra"),
        TableDifference("tables/paths.csv", "differs"),
    ]
    assert compare_tables(expected, {}) == [
        TableDifference("fit_measures.json", "missing"),
        TableDifference("tables/paths.csv", "missing"),
    ]


def test_manifest_outputs_and_input_check(tmp_path):
    data = tmp_path / "survey.csv"
    data.write_bytes(b"a\n1\n")
    moment = datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc)
    manifest = build_manifest(
        command="run-sem",
        argv=["run-sem", "--data", "survey.csv"],
        options={},
        input_files={"data": data},
        model_text=None,
        seed=None,
        started=moment,
        finished=moment,
        warnings=[],
        convergence=None,
        outputs={"estimates.csv": "x\n", "report.md": "r", "manifest.json": "{}"},
    )

    assert manifest["outputs"] == {"estimates.csv": hashlib.sha256(b"x\n").hexdigest()}
    assert check_input_files(manifest, tmp_path) == []
    data.write_bytes(b"a\n2\n")
    changes = check_input_files(manifest, tmp_path)
    assert [change.path for change in changes] == [data]
    assert changes[0].current_sha256 == hashlib.sha256(b"a\n2\n").hexdigest()
    data.unlink()
    assert check_input_files(manifest, tmp_path)[0].current_sha256 is None


def test_read_manifest_errors(tmp_path):
    with pytest.raises(LioInputError, match="was not found"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"argv": []}')
    with pytest.raises(LioInputError, match="no 'argv' list"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"argv": ["run-sem"]}')
    assert read_manifest(tmp_path)["argv"] == ["run-sem"]


def test_report_caption_of_group_diagrams(small_estimates, fit_measures):
    report = render_report_markdown(
        estimates=small_estimates,
        fit_measures=fit_measures,
        figures=["path_diagram_low", "group_paths"],
    )

    assert "![Path diagram of group low with standardized estimates]" in report
    assert "*Structural paths per group with their confidence intervals.*" in report
