"""The words of the domain's codes said otherwise than in lower case: ``soa`` reads "SoA", ``ca``
"corrective action" wherever a code is shown without a title (``engine.core.words.humanize``). The domain
hands them to the core (``Domain.words``); the register specs, built at import, word their choices with
them before any domain is installed."""

WORDS = {
    "aims": "AIMS", "aiia": "AIIA", "soa": "SoA", "ceo": "CEO", "nc": "NC", "ca": "corrective action",
    "cb": "certification body", "capa": "CAPA", "dpia": "DPIA", "42001": "ISO/IEC 42001",
    "stage1": "stage 1", "stage2": "stage 2",
}

