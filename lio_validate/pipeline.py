"""The ``run-sem`` job: data file and model in, complete results folder out.

Stages: resolve the inputs (the bundled example when none are given), read
the data, fit the model, compute the reliability of every scale and the
discriminant validity of the factors, draw the figures, write the report and
the manifest, and move the whole folder into place at once. A failure at any stage leaves no results folder behind.
"""

from __future__ import annotations

import json
import secrets
import sys
import warnings
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

import pandas as pd
import yaml

from lio_validate.api import sem
from lio_validate.exceptions import DataError, LioInputError, LioWarning
from lio_validate.codebook import codebook_path_for, prepare_survey
from lio_validate.syntax import parse_model

__all__ = ["JobSpec", "EXAMPLE_DIRECTORY", "example_spec", "load_spec", "run_sem_job"]

EXAMPLE_DIRECTORY = Path(__file__).resolve().parent / "examples" / "nea_example"


@dataclass(frozen=True)
class JobSpec:
    """Everything a run needs: inputs, options and where the results go."""

    data_path: Path
    model_path: Path | None
    model_text: str
    out_dir: Path
    estimator: str | None = None
    group: str | None = None
    ordered: bool | tuple[str, ...] | None = None
    missing: str = "listwise"
    weights: str | None = None
    cluster: str | None = None
    group_equal: tuple[str, ...] = ()
    bootstrap: int | None = None
    codebook_path: Path | None = None
    jobs: int = -1
    scheduler: str | None = None
    reverse: tuple[str, ...] = ()
    scales: Mapping[str, tuple[str, ...]] | None = None
    levels: Mapping[str, object] | None = None
    seed: int | None = None
    spec_path: Path | None = None
    options: Mapping[str, object] = field(default_factory=dict)


def _spec_ordered(value):
    """Read a spec's ``ordered``: ``all`` (any case), a comma list or a YAML list."""
    if isinstance(value, str):
        if value.strip().lower() == "all":
            return True
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, (list, tuple)):
        return tuple(str(item) for item in value)
    return value


def _read_text(path: Path, what: str) -> str:
    if not path.is_file():
        raise LioInputError(f"the {what} file {str(path)!r} does not exist; check the path")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise LioInputError(
            f"the {what} file {str(path)!r} is not UTF-8 text ({error.reason}); save "
            "it as UTF-8"
        ) from None


def example_spec(out_dir: Path) -> JobSpec:
    """Describe the bundled NEA-style example: an SPSS file with its codebook.

    The data are synthetic (see the README in the example folder): weights,
    organisations as clusters, user-missing codes and reverse-keyed items.
    """
    model_path = EXAMPLE_DIRECTORY / "model.lav"
    levels = json.loads((EXAMPLE_DIRECTORY / "levels.json").read_text(encoding="utf-8"))
    return JobSpec(
        data_path=EXAMPLE_DIRECTORY / "survey.sav",
        model_path=model_path,
        model_text=_read_text(model_path, "model"),
        out_dir=out_dir,
        levels=levels,
        codebook_path=EXAMPLE_DIRECTORY / "codebook.yaml",
    )


def load_spec(path: Path, out_dir: Path | None) -> JobSpec:
    """Read a YAML job specification.

    Keys: ``data`` (file), ``model`` (lavaan text) or ``model_file``,
    ``estimator``, ``group``, ``reverse`` (reverse-keyed items), ``scales``
    ({scale: [items]}), ``levels`` ({factor: level}), ``seed``, ``out``.
    Relative paths are taken relative to the YAML file.
    """
    text = _read_text(path, "spec")
    try:
        spec = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise LioInputError(f"the spec file {str(path)!r} is not valid YAML: {error}") \
            from None
    if not isinstance(spec, dict):
        raise LioInputError(f"the spec file {str(path)!r} must be a YAML mapping")
    known = {"data", "model", "model_file", "estimator", "group", "reverse", "scales",
             "levels", "seed", "out", "missing", "weights", "cluster", "group_equal",
             "bootstrap", "ordered", "codebook"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise LioInputError(
            f"the spec file {str(path)!r} has unknown key(s) {unknown}; known keys: "
            f"{sorted(known)}"
        )
    base = path.parent
    if "data" not in spec:
        raise LioInputError(f"the spec file {str(path)!r} has no 'data' entry")
    if "model" in spec:
        model_path, model_text = None, str(spec["model"])
    elif "model_file" in spec:
        model_path = base / spec["model_file"]
        model_text = _read_text(model_path, "model")
    else:
        raise LioInputError(
            f"the spec file {str(path)!r} needs 'model' (text) or 'model_file'"
        )
    out = out_dir or (base / spec["out"] if "out" in spec else None)
    if out is None:
        raise LioInputError("give --out DIR or an 'out' entry in the spec file")
    scales = spec.get("scales")
    return JobSpec(
        data_path=base / spec["data"],
        model_path=model_path,
        model_text=model_text,
        out_dir=Path(out),
        estimator=spec.get("estimator"),
        ordered=_spec_ordered(spec.get("ordered")),
        group=spec.get("group"),
        missing=str(spec.get("missing", "listwise")),
        weights=spec.get("weights"),
        cluster=spec.get("cluster"),
        group_equal=tuple(spec.get("group_equal") or ()),
        bootstrap=spec.get("bootstrap"),
        codebook_path=base / spec["codebook"] if spec.get("codebook") else None,
        reverse=tuple(spec.get("reverse") or ()),
        scales={k: tuple(v) for k, v in scales.items()} if scales else None,
        levels=spec.get("levels"),
        seed=spec.get("seed"),
        spec_path=path,
    )


def scales_from_model(model_text: str, columns) -> dict[str, tuple[str, ...]]:
    """One scale per latent variable whose indicators are all data columns."""
    parsed = parse_model(model_text)
    scales: dict[str, list[str]] = {}
    for term in parsed.terms:
        if term.op == "=~":
            scales.setdefault(term.lhs, []).append(term.rhs)
    columns = set(columns)
    return {name: tuple(items) for name, items in scales.items()
            if len(items) >= 2 and all(item in columns for item in items)}


def _apply_reverse(frame: pd.DataFrame, reverse: tuple[str, ...], source: str):
    """Recode reverse-keyed items as min + max - x over the observed range."""
    if not reverse:
        return frame, {}
    missing = [item for item in reverse if item not in frame.columns]
    if missing:
        raise DataError(
            f"reverse-keyed item(s) {missing} are not columns of {source}; check the "
            "'reverse' list"
        )
    frame = frame.copy()
    record = {}
    for item in reverse:
        values = pd.to_numeric(frame[item], errors="coerce")
        low, high = float(values.min()), float(values.max())
        frame[item] = low + high - values
        record[item] = {"min": low, "max": high}
    return frame, record


def _file_stem(name: str) -> str:
    """A group value made safe for a file name ("Grant-White" stays as is)."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(name))
    return safe or "group"


def _check_double_reverse(reverse: tuple[str, ...], survey) -> None:
    """Reject --reverse items that the codebook already reverses."""
    if not reverse:
        return
    audit = survey.audit
    already = set(audit.loc[audit["reversed"] > 0, "variable"]) \
        if "variable" in audit.columns else set()
    twice = [item for item in reverse if item in already]
    if twice:
        raise DataError(
            f"item(s) {twice} are reversed by the codebook and by --reverse; reversing "
            "twice restores the original coding, so list each item in one place only"
        )


def codebook_ordered(ordered, estimator: str | None, survey):
    """Return the ordinal items of the fit: the command's, else the codebook's.

    The codebook's ``ordered`` items are used when the estimator is one for
    ordinal items. With the default or a continuous estimator they are
    fitted as continuous, which a warning states, because the estimator is
    the analyst's choice and ML with robust corrections is common for
    five-point items.
    """
    if ordered is not None or not survey.ordered:
        return ordered
    estimator = (estimator or "ML").upper()
    if estimator in ("WLSMV", "DWLS", "ULSMV", "ULS"):
        return list(survey.ordered)
    warnings.warn(
        f"the codebook declares {len(survey.ordered)} item(s) ordinal (ordered:), "
        f"but estimator {estimator} fits them as continuous. Pass --ordered all or "
        "--estimator WLSMV to fit them as ordinal",
        LioWarning, stacklevel=3)
    return None


def run_sem_job(spec: JobSpec, argv: list[str]) -> Path:
    """Run the whole job and write the results folder; return its path."""
    from lio_validate import figures, manifest, output, report
    from lio_validate.reliability import reliability

    started = datetime.now(timezone.utc)
    output.check_output_directory(spec.out_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LioWarning)

        # Data: the file through its codebook (missing codes, text answers,
        # reverse-keyed items), then the --reverse items, then the model.
        codebook_path = spec.codebook_path or codebook_path_for(spec.data_path)
        # The model's columns are checked by sem(), whose message names the
        # model line, so only the codebook's items are checked here.
        survey = prepare_survey(spec.data_path, codebook_path,
                                weight=spec.weights, cluster=spec.cluster)
        _check_double_reverse(spec.reverse, survey)
        frame, reversed_record = _apply_reverse(survey.frame, spec.reverse,
                                                str(spec.data_path))
        # Weights and clusters describe the sampling design, so the codebook's
        # are used unless the command line names others; a codebook's group is
        # only a default for comparisons, not a reason to fit groups here.
        weights = spec.weights or survey.weight
        cluster = spec.cluster or survey.cluster
        ordered = codebook_ordered(spec.ordered, spec.estimator, survey)
        fit = sem(spec.model_text, frame, estimator=spec.estimator, group=spec.group,
                  ordered=ordered,
                  missing=spec.missing, weights=weights, cluster=cluster,
                  group_equal=spec.group_equal)

        # Bootstrap intervals, seeded so that a rerun gives the same numbers.
        boot = None
        if spec.bootstrap:
            from lio_validate.bootstrap import bootstrap

            seed = spec.seed if spec.seed is not None else secrets.randbits(31)
            spec = replace(spec, seed=seed)
            boot = bootstrap(fit, frame, nboot=spec.bootstrap, seed=seed,
                             cluster=cluster, n_jobs=spec.jobs,
                             scheduler=spec.scheduler)
            boot_tables = []
            for method in ("percentile", "bca"):
                table = boot.parameter_table(method=method)
                table.insert(0, "method", method)
                boot_tables.append(table)

        # Reliability of each scale.
        scales = spec.scales or dict(survey.scales) \
            or scales_from_model(spec.model_text, frame.columns)
        reliability_result = reliability(frame, {k: list(v) for k, v in scales.items()}) \
            if scales else None
        if reliability_result is not None and ordered:
            # NOTE: ordinal reliability (polychoric alpha, categorical omega of
            # Green & Yang 2009) is not computed; the table says so.
            warnings.warn(
                "reliability.csv treats the scale items as continuous (alpha from "
                "covariances, omega, CR and AVE from a one-factor ML CFA per scale), "
                "while the model was fitted to them as ordinal; the AVE of the "
                "ordinal fit is in discriminant_validity.csv",
                LioWarning, stacklevel=2)

        # Discriminant validity (HTMT and Fornell-Larcker) compares the factors
        # whose 2 or more indicators are data columns, so it needs two of them.
        discriminant_result = None
        if len(scales_from_model(spec.model_text, frame.columns)) >= 2:
            from lio_validate.discriminant import discriminant_validity

            discriminant_result = discriminant_validity(fit, frame)

        # Figures.
        estimates = fit.estimates
        drawn = {}
        if (estimates["op"] == "=~").any():
            drawn["standardized_loadings"] = figures.plot_loadings(estimates)
        if (estimates["op"] == "~").any() and fit.ngroups == 1:
            drawn = {"path_diagram": figures.plot_path_diagram(
                estimates, levels=spec.levels), **drawn}
        elif (estimates["op"] == "~").any():
            # One diagram per group: the coefficients differ between groups.
            diagrams = {
                f"path_diagram_{_file_stem(name)}": figures.plot_path_diagram(
                    estimates, group=name, levels=spec.levels)
                for name in fit.group_names
            }
            drawn = {**diagrams, **drawn}
            drawn["group_paths"] = figures.plot_group_forest(
                estimates, groups=list(fit.group_names))
        if reliability_result is not None:
            drawn["reliability"] = figures.plot_reliability(reliability_result.table)

    run_warnings = [str(w.message) for w in caught if issubclass(w.category, LioWarning)]
    for text in run_warnings:
        print(f"warning: {text}", file=sys.stderr)
    finished = datetime.now(timezone.utc)

    files = {
        "audit.csv": output.estimates_to_csv(survey.audit),
        "estimates.csv": output.estimates_to_csv(estimates),
        "fit_measures.json": output.fit_measures_to_json(dict(fit.fit_measures)),
        "reliability.csv": output.estimates_to_csv(reliability_result.table)
        if reliability_result is not None else "",
        "r_squared.csv": output.estimates_to_csv(
            fit.r_squared.rename("r_squared").reset_index()),
    }
    if discriminant_result is not None:
        # Written directly, because estimates_to_csv would move the group and
        # se columns to the front.
        files["discriminant_validity.csv"] = discriminant_result.long_table().to_csv(
            index=False, lineterminator="\n")
    if boot is not None:
        files["bootstrap.csv"] = output.estimates_to_csv(
            pd.concat(boot_tables, ignore_index=True))
    files["report.md"] = report.render_report_markdown(
        fit=fit, reliability=reliability_result, figures=list(drawn),
        data_path=str(spec.data_path), warnings=run_warnings,
        discriminant=discriminant_result,
    )
    from lio_validate import report_html

    files["report.html"] = report_html.render_report_html(files["report.md"],
                                                          figures=drawn)
    inputs = [spec.data_path] + ([spec.model_path] if spec.model_path else []) \
        + ([spec.spec_path] if spec.spec_path else []) \
        + ([Path(codebook_path)] if codebook_path else [])
    record = manifest.build_manifest(
        command="run-sem", argv=argv,
        # weights and cluster are the columns used, from the command line or
        # the codebook; the estimator is ML with robust inference when set.
        options={"estimator": fit.estimator, "group": spec.group,
                 "ordered": ordered, "missing": spec.missing,
                 "weights": weights, "cluster": cluster,
                 "codebook": None if codebook_path is None else str(codebook_path),
                 "group_equal": list(spec.group_equal),
                 "bootstrap": spec.bootstrap,
                 "bootstrap_failures": None if boot is None else boot.nfailed,
                 "reverse": list(spec.reverse), "reverse_recoding": reversed_record,
                 "scales": {k: list(v) for k, v in scales.items()},
                 "out": str(spec.out_dir), **dict(spec.options)},
        input_files=inputs, model_text=spec.model_text, seed=spec.seed,
        started=started, finished=finished, warnings=run_warnings,
        convergence={"converged": fit.converged, "iterations": fit.iterations,
                     "max_abs_gradient": fit.max_abs_gradient},
        outputs=files,
    )
    files["manifest.json"] = json.dumps(record, indent=2, sort_keys=True, default=str) \
        + "\n"
    output.write_results_folder(spec.out_dir, files, drawn)
    return spec.out_dir
