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

__version__ = "0.1.0"
