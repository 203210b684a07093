"""The risk criteria an organisation starts with (DOMAIN.md 6): a 5 x 5 likelihood x impact matrix, the
levels its scores fall in, the appetite (the highest score accepted without a formal acceptance), who
may accept what, and how long acceptances last and how often risks are reviewed. ``aimsflow init`` and
the set-up page store a copy on the organisation, as a draft until someone confirms them."""

from __future__ import annotations

import copy
from typing import Any

#: the highest possible score (likelihood 5 x impact 5)
MAX_SCORE = 25
#: the scales a score multiplies, as forms name them (``"x-scale"``)
SCALES = ("likelihood", "impact")

DEFAULT: dict[str, Any] = {
    "version": "RC-v1.0",
    "status": "draft",
    "likelihood_scale": {"1": "Rare", "2": "Unlikely", "3": "Possible", "4": "Likely", "5": "Almost certain"},
    "impact_scale": {"1": "Negligible", "2": "Minor", "3": "Moderate", "4": "Major", "5": "Severe"},
    "impact_dimensions": ["individuals_groups", "society", "financial", "legal_regulatory", "reputational",
                          "operational"],
    "levels": {"low": [1, 4], "medium": [5, 9], "high": [10, 16], "critical": [20, 25]},
    "appetite_max_score": 6,
    "acceptance_authority": {"le_6": "risk_owner", "8_9": "approver", "10_16": "top_management",
                             "20_25": "ceo_time_boxed_exception"},
    "acceptance_validity": {"low": "P12M", "medium": "P12M", "high": "P6M", "critical": "P3M"},
    "review_frequency": {"low": "P12M", "medium": "P12M", "high": "P6M", "critical": "P3M"},
}


def starting(appetite: int | None = None) -> dict[str, Any]:
    """A fresh copy of the default criteria, with ``appetite`` as the appetite when given."""
    criteria = copy.deepcopy(DEFAULT)
    if appetite is not None:
        criteria["appetite_max_score"] = appetite
    return criteria


def appetite_problem(appetite: Any) -> str | None:
    """What is wrong with ``appetite`` as a risk appetite, in words; None when it is a score of 1 to 25."""
    if isinstance(appetite, bool) or not isinstance(appetite, int) or not 1 <= appetite <= MAX_SCORE:
        return f"must be a whole score from 1 to {MAX_SCORE} (likelihood x impact), e.g. 6"
    return None


def scale_words(criteria: dict[str, Any], name: str) -> dict[str, str]:
    """The words of scale ``name`` (likelihood, impact) in ``criteria`` by value ({"3": "Possible"})."""
    scale = criteria.get(f"{name}_scale") if name in SCALES else None
    return {str(k): str(v) for k, v in scale.items()} if isinstance(scale, dict) else {}
