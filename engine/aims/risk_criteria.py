"""The risk criteria an organisation starts with (DOMAIN.md 6): a 5 x 5 likelihood x impact matrix, the
levels its scores fall in, the appetite (the highest score accepted without a formal acceptance), who
may accept what, and how long acceptances last and how often risks are reviewed. ``aimsflow init`` and
the set-up page store a copy on the organisation, as a draft until someone confirms them.

The organisation page edits the scales (each value's name and description), the levels' upper scores, the
appetite and who accepts a residual score above it (``authority_for``: the approver and top management each
up to a highest score, the CEO above) as a flat form (``form_values``, ``apply_form``: field names such as
``likelihood.3.name``, ``levels.medium``, ``appetite``, ``authority.approver``)."""

from __future__ import annotations

import copy
from typing import Any

from engine.core.errors import FieldError

#: the highest possible score (likelihood 5 x impact 5)
MAX_SCORE = 25
#: the scales a score multiplies, as forms name them (``"x-scale"``)
SCALES = ("likelihood", "impact")
#: the values of each scale
VALUES = ("1", "2", "3", "4", "5")
#: the levels a score falls in, lowest first; each but the last ends at an upper score the organisation sets
LEVELS = ("low", "medium", "high", "critical")
#: who accepts a residual score above the appetite, in order, each up to the highest score it has in
#: ``authority_upper``; above the last, the CEO (a time-boxed exception)
AUTHORITIES = ("approver", "top_management")
AUTHORITY_WORDS = {"approver": "the approver", "top_management": "top management"}
MAX_NAME = 40
MAX_DESCRIPTION = 300

DEFAULT: dict[str, Any] = {
    "version": "RC-v1.0",
    "status": "draft",
    "likelihood_scale": {"1": "Rare", "2": "Unlikely", "3": "Possible", "4": "Likely", "5": "Almost certain"},
    "impact_scale": {"1": "Negligible", "2": "Minor", "3": "Moderate", "4": "Major", "5": "Severe"},
    # DOMAIN.md 6.1 and 6.2: what each value means, for whoever picks one
    "likelihood_descriptions": {
        "1": "Not expected within 5 years (under 5 % in 12 months).",
        "2": "Could happen once in 2 to 5 years (5 to 20 %).",
        "3": "Could happen once in 1 to 2 years (20 to 50 %).",
        "4": "Expected several times a year (50 to 80 %).",
        "5": "Monthly or more often (over 80 %)."},
    "impact_descriptions": {
        "1": "Negligible inconvenience; under 10k EUR; no legal or reputational effect; under an hour's outage.",
        "2": "Minor harm to few people, easily reversed; 10k to 100k EUR; local complaints; under a day's outage.",
        "3": "Moderate harm or an unfair outcome for a group, reversible with effort; 100k to 1m EUR; a "
             "reportable breach or regulator inquiry; 1 to 3 days' outage.",
        "4": "Serious harm to many, or irreversible for some; 1m to 10m EUR; enforcement action or a fine; "
             "sustained national coverage.",
        "5": "Severe or irreversible harm to safety or fundamental rights; over 10m EUR; a major fine or "
             "licence at risk; a critical service lost."},
    "impact_dimensions": ["individuals_groups", "society", "financial", "legal_regulatory", "reputational",
                          "operational"],
    "levels": {"low": [1, 4], "medium": [5, 9], "high": [10, 16], "critical": [20, 25]},
    "appetite_max_score": 6,
    "acceptance_authority": {"le_6": "risk_owner", "8_9": "approver", "10_16": "top_management",
                             "20_25": "ceo_time_boxed_exception"},
    "authority_upper": {"approver": 9, "top_management": 16},
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


def descriptions(criteria: dict[str, Any], name: str) -> dict[str, str]:
    """What each value of scale ``name`` means by value; the defaults' for criteria stored without them,
    nothing for an unknown scale."""
    if name not in SCALES:
        return {}
    stored = criteria.get(f"{name}_descriptions")
    chosen = stored if isinstance(stored, dict) else DEFAULT.get(f"{name}_descriptions") or {}
    return {str(k): str(v) for k, v in chosen.items()}


def upper_scores(criteria: dict[str, Any]) -> dict[str, int]:
    """The highest score of each level but the last (``{"low": 4, "medium": 9, "high": 16}``)."""
    levels = criteria.get("levels")
    if not isinstance(levels, dict):
        levels = DEFAULT["levels"]
    return {level: int((levels.get(level) or DEFAULT["levels"][level])[1]) for level in LEVELS[:-1]}


def authority_uppers(criteria: dict[str, Any]) -> dict[str, int]:
    """The highest residual score each authority accepts (``{"approver": 9, "top_management": 16}``)."""
    stored = criteria.get("authority_upper")
    stored = stored if isinstance(stored, dict) else {}
    return {who: int(stored.get(who) or DEFAULT["authority_upper"][who]) for who in AUTHORITIES}


def authority_for(score: int, criteria: dict[str, Any]) -> str:
    """Who may accept a residual ``score`` (DOMAIN.md 6.3): the risk owner within the appetite, then the
    approver and top management up to their highest scores, then the CEO."""
    if score <= int(criteria.get("appetite_max_score", DEFAULT["appetite_max_score"])):
        return "risk_owner"
    for who, upper in authority_uppers(criteria).items():
        if score <= upper:
            return who
    return "ceo"


def level_of(score: int, criteria: dict[str, Any]) -> str:
    """The level ``score`` falls in under ``criteria``."""
    for level, upper in upper_scores(criteria).items():
        if score <= upper:
            return level
    return LEVELS[-1]


def form_values(criteria: dict[str, Any]) -> dict[str, str]:
    """The editable criteria as the organisation page's form fields, by field name."""
    values: dict[str, str] = {}
    for scale in SCALES:
        words = scale_words(criteria, scale) or scale_words(DEFAULT, scale)
        meaning = descriptions(criteria, scale)
        for value in VALUES:
            values[f"{scale}.{value}.name"] = words.get(value, "")
            values[f"{scale}.{value}.description"] = meaning.get(value, "")
    values.update({f"levels.{level}": str(upper) for level, upper in upper_scores(criteria).items()})
    values["appetite"] = str(criteria.get("appetite_max_score", DEFAULT["appetite_max_score"]))
    values.update({f"authority.{who}": str(upper) for who, upper in authority_uppers(criteria).items()})
    values["confirmed"] = "1" if criteria.get("status") == "published" else ""
    return values


def _whole(raw: str) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 4 else None


def apply_form(current: dict[str, Any], values: dict[str, str]) -> tuple[dict[str, Any], list[FieldError]]:
    """``current`` criteria changed by the form ``values`` (every field of ``form_values``; a missing one
    keeps its value, ``confirmed`` is a checkbox), and every problem by field name in words. The
    returned criteria are a new dict; ``status`` and ``version`` are left to the caller."""
    before = form_values(current)
    typed = {k: str(values.get(k, before[k] if k != "confirmed" else "")).replace("\r\n", "\n").strip()
             for k in before}
    problems: list[FieldError] = []
    criteria = copy.deepcopy(current)
    for scale in SCALES:
        names: dict[str, str] = {}
        for value in VALUES:
            key = f"{scale}.{value}.name"
            name = typed[key]
            if not name:
                problems.append(FieldError(key, f"{scale.capitalize()} {value} needs a name, e.g. "
                                                f"{scale_words(DEFAULT, scale)[value]}"))
            elif len(name) > MAX_NAME:
                problems.append(FieldError(key, f"{scale.capitalize()} {value}: a name of at most {MAX_NAME} "
                                                f"characters ({len(name)} now)"))
            elif name.casefold() in names:
                problems.append(FieldError(key, f"{scale.capitalize()} {value}: “{name}” is already the name of "
                                                f"{scale} {names[name.casefold()]}; each value needs its own name"))
            names.setdefault(name.casefold(), value)
            key = f"{scale}.{value}.description"
            if len(typed[key]) > MAX_DESCRIPTION:
                problems.append(FieldError(key, f"{scale.capitalize()} {value}: a description of at most "
                                                f"{MAX_DESCRIPTION} characters ({len(typed[key])} now)"))
        criteria[f"{scale}_scale"] = {v: typed[f"{scale}.{v}.name"] for v in VALUES}
        criteria[f"{scale}_descriptions"] = {v: typed[f"{scale}.{v}.description"] for v in VALUES}
    uppers: dict[str, int] = {}
    below = 0
    for n, level in enumerate(LEVELS[:-1]):
        key = f"levels.{level}"
        upper = _whole(typed[key])
        highest = MAX_SCORE - len(LEVELS) + n + 1  # room left for one score in each level above
        if upper is None or not 1 <= upper <= highest:
            problems.append(FieldError(key, f"The highest {level} score must be a whole number from 1 to {highest}"))
        elif upper <= below:
            problems.append(FieldError(key, f"The highest {level} score must be above the highest "
                                            f"{LEVELS[n - 1]} score ({below})"))
        else:
            uppers[level] = upper
        below = upper if upper is not None else below
    if len(uppers) == len(LEVELS) - 1 and uppers != upper_scores(current):
        bounds, low = {}, 1
        for level in LEVELS[:-1]:
            bounds[level], low = [low, uppers[level]], uppers[level] + 1
        bounds[LEVELS[-1]] = [low, MAX_SCORE]
        criteria["levels"] = bounds
    appetite = _whole(typed["appetite"])
    wrong = appetite_problem(appetite)
    if wrong or appetite is None:
        problems.append(FieldError("appetite", f"The risk appetite {wrong}"))
    else:
        criteria["appetite_max_score"] = appetite
    _apply_authorities(current, criteria, typed, problems)
    return criteria, problems


def _apply_authorities(current: dict[str, Any], criteria: dict[str, Any], typed: dict[str, str],
                       problems: list[FieldError]) -> None:
    uppers: dict[str, int] = {}
    below, below_who = 0, ""
    for n, who in enumerate(AUTHORITIES):
        key = f"authority.{who}"
        upper = _whole(typed[key])
        highest = MAX_SCORE - len(AUTHORITIES) + n  # the CEO keeps at least the highest score
        words = AUTHORITY_WORDS[who]
        if upper is None or not 1 <= upper <= highest:
            problems.append(FieldError(key, f"The highest score {words} accepts must be a whole number from 1 to "
                                            f"{highest}"))
        elif upper <= below:
            problems.append(FieldError(key, f"The highest score {words} accepts must be above the highest score "
                                            f"{below_who} accepts ({below})"))
        else:
            uppers[who] = upper
        below, below_who = (upper, words) if upper is not None else (below, below_who)
    if len(uppers) == len(AUTHORITIES) and uppers != authority_uppers(current):
        criteria["authority_upper"] = uppers


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[str]]:
    """The form fields that differ between two criteria: {field: [before, after]} (``confirmed`` left out)."""
    old, new = form_values(before), form_values(after)
    return {k: [old[k], new[k]] for k in old if k != "confirmed" and old[k] != new[k]}
