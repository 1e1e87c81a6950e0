"""lio_validate: validate the organisation model of the learning and innovative
organisation with reliability analysis, CFA, SEM and invariance tests whose
numbers agree with lavaan 0.6.

>>> import lio_validate as lv
>>> fit = lv.cfa("visual =~ x1 + x2 + x3", data)      # doctest: +SKIP
>>> print(fit.summary())                               # doctest: +SKIP
"""

from lio_validate.exceptions import *  # noqa: F401,F403
from lio_validate.api import cfa, sem  # noqa: E402
from lio_validate.io import SurveyData, read_data  # noqa: E402
from lio_validate.reliability import ReliabilityResult, reliability  # noqa: E402
from lio_validate.results import SEMResult  # noqa: E402
from lio_validate.effects import indirect_effects  # noqa: E402
from lio_validate.bootstrap import bollen_stine, bootstrap  # noqa: E402
from lio_validate.importance import dominance_analysis  # noqa: E402
from lio_validate.modindices import modindices  # noqa: E402
from lio_validate.residuals import residuals  # noqa: E402
from lio_validate.efa import efa, parallel_analysis  # noqa: E402
from lio_validate.invariance import invariance  # noqa: E402
from lio_validate.partial_invariance import partial_invariance, score_tests  # noqa: E402
from lio_validate.effect_sizes import dmacs  # noqa: E402
from lio_validate.cross_check import CrossCheck, cross_check  # noqa: E402
from lio_validate.discriminant import (  # noqa: E402
    discriminant_validity,
    htmt,
    latent_correlations,
)
from lio_validate.comparisons import (  # noqa: E402
    compare_groups,
    compare_latent_means,
    compare_paths,
)

__version__ = "0.1.0"
