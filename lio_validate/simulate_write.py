"""Write a simulated NEA-style survey as the files a researcher receives.

:func:`write_survey` writes a :class:`~lio_validate.simulate_design.SimulatedSurvey`
as SPSS (.sav with value labels, variable labels and user-missing codes),
Parquet and CSV files. Beside them it writes the matching codebook
(``codebook.yaml``), the model in lavaan syntax (``model.lav``), the level of
each factor (``levels.json``) and the true parameters (``truth.json``).
:func:`write_nea_example` regenerates the bundled example in
``examples/nea_example``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pyreadstat

from lio_validate.codebook_yaml import dump_codebook
from lio_validate.exceptions import LioInputError
from lio_validate.simulate_design import (
    EDUCATION_LEVELS,
    MISSING_CODES,
    SECTORS,
    SimulatedSurvey,
    _EDUCATION_POPULATION,
    _EDUCATION_SAMPLE,
    answer_labels,
    nea_design,
    simulate_survey,
)

__all__ = [
    "FORMATS",
    "NEA_EXAMPLE_DIRECTORY",
    "NEA_EXAMPLE_NOBS",
    "NEA_EXAMPLE_SEED",
    "survey_codebook",
    "survey_truth",
    "write_nea_example",
    "write_survey",
]

FORMATS = ("sav", "parquet", "csv")

NEA_EXAMPLE_DIRECTORY = Path(__file__).resolve().parent / "examples" / "nea_example"
NEA_EXAMPLE_NOBS = 3000
NEA_EXAMPLE_SEED = 20261205

_ANSWER_SCALE_NAMES = {5: "agree_5", 4: "frequency_4", 3: "agree_3"}
_BACKGROUND_LABELS = {
    "respondent_id": "Respondent number",
    "org_id": "Organisation number",
    "sector": "Sector of the organisation",
    "education": "Highest completed education",
    "weight": "Survey weight, mean 1",
}


def write_survey(
    survey: SimulatedSurvey,
    directory: str | os.PathLike[str],
    *,
    formats: tuple[str, ...] = FORMATS,
    stem: str = "survey",
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write the survey's data files, codebook, model and true values.

    Parameters
    ----------
    survey : SimulatedSurvey
        From :func:`~lio_validate.simulate_design.simulate_survey`.
    directory : str or os.PathLike
        Created if missing.
    formats : tuple of str, default ("sav", "parquet", "csv")
        Data files to write, as ``<stem>.<format>``.
    stem : str, default "survey"
        File name of the data files without the suffix.
    overwrite : bool, default False
        Replace files that exist. Without it an existing file raises.

    Returns
    -------
    dict of {str: pathlib.Path}
        The files written, keyed by ``sav``, ``parquet``, ``csv``,
        ``codebook``, ``model``, ``levels`` and ``truth``.

    Raises
    ------
    LioInputError
        If a format is unknown or a file exists and ``overwrite`` is False.
    """
    unknown = [name for name in formats if name not in FORMATS]
    if unknown or not formats:
        raise LioInputError(
            f"Unknown data format(s) {unknown or list(formats)}. Choose from "
            f"{', '.join(FORMATS)}."
        )
    directory = Path(directory)
    targets = {name: directory / f"{stem}.{name}" for name in formats}
    targets.update(
        codebook=directory / "codebook.yaml",
        model=directory / "model.lav",
        levels=directory / "levels.json",
        truth=directory / "truth.json",
    )
    existing = [str(path) for path in targets.values() if path.exists()]
    if existing and not overwrite:
        raise LioInputError(
            f"{existing[0]} already exists. Choose another folder, or pass "
            "overwrite=True (--force on the command line) to replace the files."
        )
    directory.mkdir(parents=True, exist_ok=True)

    writers = {"sav": _write_sav, "parquet": _write_parquet, "csv": _write_csv}
    for name in formats:
        writers[name](survey, targets[name])

    document, comments = survey_codebook(survey, data_file=f"{stem}.{formats[0]}")
    header = [
        f"Codebook of the simulated survey {stem}.* (synthetic data, no real "
        "respondents).",
        "It applies to every format: the .sav file also declares 8 and 9 missing,",
        "the .csv and .parquet files rely on this codebook for that.",
    ]
    texts = {
        "codebook": dump_codebook(document, header=header, comments=comments),
        "model": survey.design.model.to_lavaan(),
        "levels": json.dumps(survey.design.model.levels(), indent=2) + "\n",
        "truth": _format_truth(survey_truth(survey)),
    }
    for name, text in texts.items():
        targets[name].write_text(text, encoding="utf-8", newline="\n")
    return targets


# --------------------------------------------------------------------------
# Data files
# --------------------------------------------------------------------------


def _write_sav(survey: SimulatedSurvey, path: Path) -> None:
    design = survey.design
    frame = survey.frame
    value_labels: dict[str, dict[int, str]] = {
        "education": dict(enumerate(EDUCATION_LEVELS, start=1)),
        "sector": dict(enumerate(SECTORS, start=1)),
    }
    missing_ranges: dict[str, list[int]] = {}
    measure = {
        "respondent_id": "nominal",
        "org_id": "nominal",
        "sector": "nominal",
        "education": "ordinal",
        "weight": "scale",
    }
    for item in design.items:
        measure[item] = "ordinal"
        # SPSS limits user-missing text values to 8 bytes, so "don't know" in
        # a text item cannot be declared missing in the file itself.
        if item in design.text_items:
            continue
        value_labels[item] = answer_labels(design.categories[item])
        missing_ranges[item] = sorted(MISSING_CODES)

    pyreadstat.write_sav(
        frame,
        path,
        file_label="Simulated NEA-style survey (synthetic data)",
        column_labels=_column_labels(survey),
        variable_value_labels=value_labels,
        missing_ranges=missing_ranges,
        variable_measure=measure,
        row_compress=True,
    )


def _write_parquet(survey: SimulatedSurvey, path: Path) -> None:
    table = pa.Table.from_pandas(survey.frame, preserve_index=False)
    pq.write_table(table, path)


def _write_csv(survey: SimulatedSurvey, path: Path) -> None:
    table = pa.Table.from_pandas(survey.frame, preserve_index=False)
    options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
    pacsv.write_csv(table, path, write_options=options)


def _column_labels(survey: SimulatedSurvey) -> dict[str, str]:
    design = survey.design
    labels = dict(_BACKGROUND_LABELS)
    for factor in design.model.factors:
        for number, item in enumerate(factor.items, start=1):
            labels[item] = f"{factor.label}, statement {number} of {len(factor.items)}"
    return labels


# --------------------------------------------------------------------------
# Codebook and truth
# --------------------------------------------------------------------------


def survey_codebook(
    survey: SimulatedSurvey, *, data_file: str
) -> tuple[dict[str, Any], dict[tuple[str, ...], list[str]]]:
    """Return the codebook of a simulated survey and its comments.

    The result feeds :func:`lio_validate.codebook_yaml.dump_codebook`, and
    :func:`lio_validate.codebook_load.parse_codebook` reads it.
    """
    design = survey.design
    used = sorted(set(design.categories.values()), reverse=True)
    answer_scales = {
        _ANSWER_SCALE_NAMES[k]: {
            "values": answer_labels(k),
            "missing": sorted(MISSING_CODES),
        }
        for k in used
    }
    scales = {}
    for factor in design.model.factors:
        entry: dict[str, Any] = {
            "label": factor.label,
            "items": list(factor.items),
        }
        reverse = [item for item in factor.items if item in design.reverse_keyed]
        if reverse:
            entry["reverse"] = reverse
        entry["answers"] = _ANSWER_SCALE_NAMES[design.categories[factor.items[0]]]
        scales[factor.name] = entry
    for factor in design.model.factors:
        if len({design.categories[item] for item in factor.items}) != 1:
            raise LioInputError(
                f"The items of factor {factor.name!r} have different numbers of "
                "categories, so the scale cannot share one answer scale."
            )

    variables: dict[str, Any] = {
        name: {"label": label} for name, label in _BACKGROUND_LABELS.items()
    }
    variables["education"]["values"] = dict(enumerate(EDUCATION_LEVELS, start=1))
    variables["sector"]["values"] = dict(enumerate(SECTORS, start=1))
    variables.update(
        {
            item: {"label": text}
            for item, text in _column_labels(survey).items()
            if item in design.items
        }
    )

    document = {
        "codebook_version": 1,
        "data": data_file,
        "group": "education",
        "weight": "weight",
        "cluster": "org_id",
        "ordered": "all",
        "checks": {"min_group_size": 100, "max_item_correlation": 0.95},
        "answer_scales": answer_scales,
        "scales": scales,
        "variables": variables,
    }
    comments = {
        ("answer_scales",): [
            "Codes 8 and 9 are non-answers. The text item stores them as the",
            'labels "don\'t know" and "no answer", which map to 8 and 9 here.',
        ],
        ("scales",): [
            "Reverse-keyed items are stored reversed. Reversing them as",
            "low + high - x over the answer scale restores the model's orientation.",
        ],
    }
    return document, comments


def survey_truth(survey: SimulatedSurvey) -> dict[str, Any]:
    """Return the true parameters and the design of a simulated survey as JSON data."""
    design = survey.design
    model = design.model
    thresholds = [
        {"lhs": item, "op": "|", "rhs": f"t{k}", "std_all": value}
        for item in design.items
        for k, value in enumerate(design.thresholds[item], start=1)
    ]
    differences = []
    base = {(p.lhs, p.rhs): p.std_all for p in model.regressions}
    for difference in design.path_differences:
        differences.append(
            {
                "education": difference.education,
                "lhs": difference.lhs,
                "op": "~",
                "rhs": difference.rhs,
                "std_all": difference.std_all,
                "std_all_other_groups": base[(difference.lhs, difference.rhs)],
            }
        )
    group_parameters = {}
    for level in EDUCATION_LEVELS:
        table = design.group_model(level).truth()
        table = table[
            table["op"].isin(["~", "r2"])
            & table["lhs"].isin([p.lhs for p in model.regressions])
        ]
        group_parameters[level] = table.to_dict("records")

    return {
        "description": (
            "True values behind the simulated NEA-style survey. Loadings, paths, "
            "correlations and R-squared are standardized values of the continuous "
            "responses in the model's orientation, before the answers were cut "
            "into codes, reverse-keyed items were stored reversed and missing "
            "codes were inserted. Thresholds (op '|') are in the model's "
            "orientation too. 'attenuation' gives the loadings that a normal-"
            "theory ML fit to the codes approaches."
        ),
        "model": model.name,
        "nobs": survey.nobs,
        "seed": survey.seed,
        "design": {
            "icc": design.icc,
            "mean_organisation_size": design.mean_organisation_size,
            "n_organisations": int(survey.frame["org_id"].max()),
            "mcar_rate": design.mcar_rate,
            "mar_rate": design.mar_rate,
            "mar_items": list(design.mar_items),
            "missing_codes": {
                str(code): label for code, label in MISSING_CODES.items()
            },
            "reverse_keyed": list(design.reverse_keyed),
            "text_items": list(design.text_items),
            "categories": dict(design.categories),
            "education_population_shares": dict(
                zip(EDUCATION_LEVELS, _EDUCATION_POPULATION)
            ),
            "education_sample_shares": dict(zip(EDUCATION_LEVELS, _EDUCATION_SAMPLE)),
        },
        "parameters": model.truth().to_dict("records") + thresholds,
        "path_differences": differences,
        "intercept_shifts": [
            {"variable": s.variable, "value": s.value, "item": s.item, "shift": s.shift}
            for s in design.intercept_shifts
        ],
        "group_parameters": {"education": group_parameters},
        "attenuation": design.attenuation().to_dict("records"),
        "missing_counts": survey.missing_counts().to_dict("records"),
    }


def _format_truth(truth: dict[str, Any]) -> str:
    """Indented JSON with one record per line, so that diffs stay readable."""

    def encode(value: Any, indent: int) -> str:
        pad = " " * indent
        if isinstance(value, dict) and value and not _is_record(value):
            inner = ",\n".join(
                f"{pad}  {json.dumps(key)}: {encode(item, indent + 2)}"
                for key, item in value.items()
            )
            return "{\n" + inner + f"\n{pad}}}"
        if isinstance(value, list) and value and isinstance(value[0], dict):
            inner = ",\n".join(f"{pad}  {json.dumps(_plain(item))}" for item in value)
            return "[\n" + inner + f"\n{pad}]"
        return json.dumps(_plain(value))

    return encode(truth, 0) + "\n"


def _is_record(value: dict[str, Any]) -> bool:
    return (
        all(not isinstance(item, dict | list) for item in value.values())
        and len(value) <= 6
    )


def _plain(value: Any) -> Any:
    """Convert numpy scalars so that json can write them."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


# --------------------------------------------------------------------------
# Bundled example
# --------------------------------------------------------------------------


def write_nea_example(directory: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the bundled NEA-style example to ``directory``.

    The data are ``simulate_survey(nea_design("example"), 3000,
    seed=20261205)`` as ``survey.sav``, with ``codebook.yaml``,
    ``model.lav``, ``levels.json`` and ``truth.json``. Existing files are
    replaced.
    """
    survey = simulate_survey(
        nea_design("example"), NEA_EXAMPLE_NOBS, seed=NEA_EXAMPLE_SEED
    )
    return write_survey(survey, directory, formats=("sav",), overwrite=True)
