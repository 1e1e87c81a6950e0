"""Error and warning classes shared by every module of the package.

Errors derive from :class:`LioInputError` when the user can fix them (a bad
file, column, group or model line); the command line maps those to exit
status 2. Warnings derive from :class:`LioWarning`, so one filter silences or
escalates all of them::

    warnings.simplefilter("error", lio_validate.LioWarning)
"""

from __future__ import annotations

__all__ = [
    "LioInputError",
    "ModelSyntaxError",
    "ModelSpecificationError",
    "DataError",
    "IdentificationError",
    "LioWarning",
    "ConvergenceWarning",
    "HeywoodWarning",
    "NonPositiveDefiniteWarning",
    "ListwiseDeletionWarning",
    "ReliabilityWarning",
    "DataWarning",
]


class LioInputError(ValueError):
    """Invalid input that the user can correct: file, column, group or model."""


class ModelSyntaxError(LioInputError):
    """A model text that cannot be parsed; the message names the line."""


class ModelSpecificationError(LioInputError):
    """A parseable model that cannot be estimated as written."""


class IdentificationError(ModelSpecificationError):
    """A model that is not identified (negative df or a singular information)."""


class DataError(LioInputError):
    """Data that cannot be used as given: missing columns, wrong types, ..."""


class LioWarning(UserWarning):
    """Base class of every warning the package emits."""


class ConvergenceWarning(LioWarning):
    """The optimiser stopped without reaching a stationary point."""


class HeywoodWarning(LioWarning):
    """A variance estimate is negative (a Heywood case); it is reported as is."""


class NonPositiveDefiniteWarning(LioWarning):
    """A covariance matrix of the model or the data is not positive definite."""


class ListwiseDeletionWarning(LioWarning):
    """Rows with missing values were dropped before estimation."""


class ReliabilityWarning(LioWarning):
    """A scale whose reliability statistics are doubtful (negative loadings, ...)."""


class DataWarning(LioWarning):
    """Data that can be used but looks suspicious (constant items, ...)."""
