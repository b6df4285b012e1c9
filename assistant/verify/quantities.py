"""Numbers in text: find them and normalise them with the unit and words they attach to.

``quantities("Malaysia holds 16.1 million tonnes of REE worth RM800 billion")`` finds two
:class:`Quantity` records: ``16_100_000 t`` and ``800_000_000_000 MYR``. Normalisation makes
``3,000 tonnes`` = ``3000 t`` = ``3,000-tonne``, ``US$600 million`` = ``$600M`` = ``USD 600m``,
``45%`` = ``45 per cent``, ``410ppm`` = ``410 ppm``, ``A$20 million`` = ``20 million Australian
dollars``; four-digit integers 1800-2100 without a unit are years; month names with a year
are dates. A rate keeps its period (``3,000 tpa`` = ``3,000 tonnes per annum``). Each
quantity records its precision (last written digit), hedge (``about``), bound (``more
than``) and nearby content words (:func:`content_words`); comparing them is
:mod:`.numbers`.

Compromises: written-out numbers (``twelve``) are ignored; "Q3", "G7", "COVID-19" and other
letter+digit tokens are not numbers, nor are days of a date or small numbers glued to a
name ("Falcon 9"); units are a fixed table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Quantity", "content_words", "quantities"]

_SCALES = {
    "thousand": 1e3, "k": 1e3,
    "million": 1e6, "mln": 1e6, "m": 1e6, "mn": 1e6, "mil": 1e6,
    "billion": 1e9, "bn": 1e9, "b": 1e9, "bln": 1e9,
    "trillion": 1e12, "tn": 1e12, "trn": 1e12,
}
_CURRENCY_PREFIX = {
    "us$": "USD", "usd": "USD", "$": "USD", "a$": "AUD", "aud": "AUD", "au$": "AUD",
    "s$": "SGD", "c$": "CAD", "rm": "MYR", "myr": "MYR", "€": "EUR", "eur": "EUR",
    "£": "GBP", "gbp": "GBP", "¥": "CNY", "rmb": "CNY", "cny": "CNY", "yuan": "CNY",
    "rs": "INR", "₹": "INR", "krw": "KRW", "₩": "KRW",
}
_UNITS = {
    # mass
    "tonnes": "t", "tonne": "t", "tons": "t", "ton": "t", "t": "t", "mt": "t", "tpa": "t",
    "tpd": "t", "metric tons": "t", "metric tonnes": "t",
    "kg": "kg", "kilograms": "kg", "kilogram": "kg", "kilos": "kg",
    "grams": "g", "gram": "g", "g": "g", "ounces": "oz", "oz": "oz",
    "pounds": "lb", "lbs": "lb", "lb": "lb", "mlbs": "Mlb",
    # percent and concentrations
    "%": "%", "percent": "%", "per cent": "%", "pct": "%", "percentage points": "pp",
    "ppm": "ppm", "parts per million": "ppm", "ppb": "ppb", "g/t": "g/t", "gpt": "g/t",
    "grams per tonne": "g/t", "mg/l": "mg/L", "milligrams per liter": "mg/L",
    "milligrams per litre": "mg/L", "µg/l": "ug/L", "ug/l": "ug/L",
    "micrograms per liter": "ug/L", "micrograms per litre": "ug/L",
    # energy, length, area, time
    "mw": "MW", "gw": "GW", "kw": "kW", "mwh": "MWh", "gwh": "GWh",
    "km": "km", "kilometres": "km", "kilometers": "km", "miles": "mi", "mi": "mi",
    "metres": "m", "meters": "m", "metre": "m", "meter": "m", "feet": "ft", "ft": "ft",
    "hectares": "ha", "ha": "ha", "acres": "acre", "square kilometres": "km2",
    "square kilometers": "km2", "km2": "km2", "sq km": "km2",
    "years": "yr", "year": "yr", "months": "month", "month": "month", "days": "day",
    "day": "day", "weeks": "week", "week": "week", "hours": "h", "hour": "h",
    "people": "people", "employees": "people", "workers": "people", "jobs": "jobs",
    "cases": "cases", "deaths": "deaths", "patients": "patients",
    "dollars": "USD", "ringgit": "MYR", "euros": "EUR", "yuan": "CNY",
    "us dollars": "USD", "u.s. dollars": "USD", "australian dollars": "AUD",
    "canadian dollars": "CAD", "singapore dollars": "SGD",
}
#: what a unit measures: two figures of one dimension in different units (acres vs
#: hectares, milligrams vs micrograms per litre, US$ vs A$) state different quantities
_DIMENSION = {
    **{u: "mass" for u in ("t", "kg", "g", "oz", "lb", "Mlb")},
    **{u: "concentration" for u in ("ppm", "ppb", "g/t", "mg/L", "ug/L")},
    **{u: "length" for u in ("km", "mi", "m", "ft")},
    **{u: "area" for u in ("ha", "acre", "km2")},
    **{u: "power" for u in ("MW", "GW", "kW")},
    **{u: "energy" for u in ("MWh", "GWh")},
    **{u: "duration" for u in ("yr", "month", "day", "week", "h")},
    **{u: "money" for u in ("USD", "AUD", "CAD", "SGD", "MYR", "EUR", "GBP", "CNY", "INR",
                            "KRW")},
}
#: "8,000 tonnes per month" vs "per year": the period a rate is given for
_PER = re.compile(
    r"\s*(?:per|a|an|each|every|/)\s*(?P<per>annum|year|yr|month|day|week|hour|quarter)\b"
    r"|\s+(?P<adv>annually|monthly|daily|weekly|hourly|quarterly)\b",
    re.IGNORECASE,
)
_PER_NORM = {"annum": "yr", "year": "yr", "yr": "yr", "annually": "yr", "month": "month",
             "monthly": "month", "day": "day", "daily": "day", "week": "week",
             "weekly": "week", "hour": "h", "hourly": "h", "quarter": "quarter",
             "quarterly": "quarter"}
_UNIT_PERIOD = {"tpa": "yr", "tpd": "day"}
_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
         ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
         ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
         ("december", "dec")]
    )
    for m in names
}
_HEDGES = frozenset(
    "about around approximately approx roughly nearly almost some estimated est circa "
    "close".split()
)
_LOWER_BOUND = ("more than", "over", "at least", "above", "exceeding", "exceeds", "upwards of",
                "in excess of", "greater than", "surpassed", "exceeded", "topped",
                "higher than", "larger than", "bigger than", "no less than",
                "not less than", "no fewer than", "after", "later than")
_UPPER_BOUND = ("less than", "under", "fewer than", "below", "at most", "up to", "lower than",
                "smaller than", "no more than", "not more than", "before", "prior to",
                "earlier than")
_BOUND_SIGN = {b: ">" for b in _LOWER_BOUND} | {b: "<" for b in _UPPER_BOUND}
#: the bound phrase that ends the text before a number; longest first, so that "no more
#: than" (<) wins over "more than" (>)
_BOUND_RE = re.compile(
    r"\b(" + "|".join(re.escape(b) for b in sorted(_BOUND_SIGN, key=len, reverse=True)) + r")$"
)
_STOP = frozenset(
    """
    a an the of in on at to for from by with and or but as is are was were be been being has
    have had it its this that these those than then there their they he she his her we our
    you your i me my not no nor so such into over under about around nearly almost some more
    less most least per each which who whom whose what when where while will would shall
    should can could may might must do does did also just only very up down out off new
    said says say according estimated estimate around roughly approximately total worth
    thousand million billion trillion mln bln bn mn tn
    """.split()
)

_CURR_RE = r"(?P<cur>US\$|USD|A\$|AU\$|AUD|S\$|C\$|RM|MYR|EUR|GBP|RMB|CNY|KRW|Rs\.?|[$€£¥₹₩])"
_NUM_RE = r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
_SCALE_RE = r"(?P<scale>thousand|million|billion|trillion|mln|bln|bn|mn|trn|tn|mil|[kKmMbB])\b"
_QTY = re.compile(
    rf"(?<![\w./])(?:{_CURR_RE}\s?)?{_NUM_RE}(?:\s?-?\s?{_SCALE_RE})?",
)
_UNIT_AFTER = re.compile(
    r"\s*-?\s*(?P<unit>per cent|percentage points|parts per million|grams per tonne|"
    r"milligrams per lit(?:er|re)|micrograms per lit(?:er|re)|square kilomet(?:re|er)s|"
    r"(?:us|u\.s\.|australian|canadian|singapore) dollars|metric tonnes|metric tons|%|"
    r"percent|pct|ppm|ppb|g/t|gpt|mg/l|[µu]g/l|tonnes|tonne|tons|ton|tpa|tpd|mt|t|"
    r"kilograms|kilogram|kilos|kg|grams|gram|g|ounces|oz|pounds|mlbs|lbs|lb|"
    r"mwh|gwh|mw|gw|kw|kilometres|kilometers|km2|sq km|km|miles|mi|metres|meters|metre|"
    r"meter|feet|ft|hectares|ha|acres|years|year|"
    r"months|month|days|day|weeks|week|hours|hour|people|employees|workers|jobs|cases|"
    r"deaths|patients|dollars|ringgit|euros|yuan)(?![\w/])",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z][A-Za-z\-']*")
#: the month (and day) written before a year: "March 26, 2024", "26 March 2024", "Mar. 2024"
_DATE_BEFORE = re.compile(
    r"(?:\b(?P<mon>[a-z]+)\.?\s*(?:(?P<day>\d{1,2})(?:st|nd|rd|th)?)?,?\s*"
    r"|\b(?P<day2>\d{1,2})(?:st|nd|rd|th)?\s+(?P<mon2>[a-z]+)\.?,?\s*)$"
)


@dataclass(frozen=True)
class Quantity:
    """A number with what it attaches to: ``Quantity(16.1e6, "t", ...)``.

    ``kind`` is ``"year"``, ``"date"`` (month + year, value = year), ``"money"``, ``"percent"``
    or ``"count"`` (a plain number, possibly with a unit). ``bound`` is ``">"``, ``"<"`` or
    ``""``; ``precision`` the size of the claim's last written digit (``16.1 million`` -> 1e5).
    """

    value: float
    unit: str
    kind: str
    start: int
    end: int
    text: str
    precision: float = 1.0
    hedged: bool = False
    bound: str = ""
    context: frozenset[str] = field(default_factory=frozenset)
    per: str = ""  # the period of a rate: "yr" for "3,000 tonnes per annum" / "tpa"
    month: int = 0  # a date's month and day when written ("March 26, 2024": 3, 26)
    day: int = 0

    @property
    def dimension(self) -> str:
        return _DIMENSION.get(self.unit, "")


def content_words(text: str) -> set[str]:
    """Lower-cased content words: ``content_words("The Pahang plant") -> {"pahang", "plant"}``."""
    out = set()
    for w in _WORD.findall(text):
        lw = w.lower().strip("'-")
        if len(lw) > 1 and lw not in _STOP:
            out.add(_stem(lw))
    return out


def _stem(w: str) -> str:
    for suf in ("'s", "ies", "es", "s", "ing", "ed"):
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            return w[: -len(suf)] + ("y" if suf == "ies" else "")
    return w


def _precision(num: str, scale: float) -> float:
    digits = num.replace(",", "")
    if "." in digits:
        return 10 ** -len(digits.split(".")[1]) * scale
    stripped = digits.rstrip("0")
    zeros = len(digits) - len(stripped) if stripped else 0
    return 10**zeros * scale


def quantities(text: str) -> list[Quantity]:
    """Every number in ``text`` with its unit, kind and nearby words.

    ``[(q.value, q.unit) for q in quantities("a 3,000-tonne plant and US$600 million")]
    -> [(3000.0, "t"), (600000000.0, "USD")]``
    """
    out: list[Quantity] = []
    for m in _QTY.finditer(text):
        num = m.group("num")
        s, e = m.start(), m.end()
        # letter+digit tokens ("Q3", "G7", "COVID-19", "NdFeB2") are names, not numbers
        if s > 0 and (text[s - 1].isalpha() or text[s - 1] == "-") and not m.group("cur"):
            continue
        # "24/7", "3/4/2020": ratios, dates and identifiers, not one quantity
        if text[e : e + 1] == "/" and text[e + 1 : e + 2].isdigit():
            continue
        # "5-HT", "3-D": a number hyphened to a capitalised word is part of a name
        if re.match(r"-[A-Z]", text[e : e + 2]) and not m.group("scale"):
            continue
        if e < len(text) and text[e].isalpha() and not m.group("scale"):
            # "3rd", "10x", "5G": only accept when it is a unit handled below
            if not _UNIT_AFTER.match(text, e):
                continue
        try:
            value = float(num.replace(",", ""))
        except ValueError:
            continue
        scale_word = (m.group("scale") or "").lower()
        scale = 1.0
        if scale_word:
            # single letters only count as scales right after the number or with a currency
            if len(scale_word) == 1 and not m.group("cur") and " " in text[m.start("num"):e]:
                scale_word = ""
                e = m.end("num")
            else:
                scale = _SCALES.get(scale_word, 1.0)
        unit = ""
        per = ""
        cur = (m.group("cur") or "").lower().rstrip(".")
        if cur:
            unit = _CURRENCY_PREFIX.get(cur, cur.upper())
        um = _UNIT_AFTER.match(text, e)
        if um:
            word = um.group("unit").lower()
            u = _UNITS.get(word, "")
            if word == "pounds" and text[max(0, s - 1):s] == "£":
                u = ""
            # a lone "t", "g", "m", "mi" must be glued or followed by a space and end
            if u and (len(um.group("unit")) > 2 or um.group("unit") in ("%",) or not cur):
                if not unit:
                    unit = u
                    per = _UNIT_PERIOD.get(word, "")
                    e = um.end()
        if unit and unit not in ("%", "pp") and _DIMENSION.get(unit) != "duration":
            pm = _PER.match(text, e)
            if pm:
                per = _PER_NORM[(pm.group("per") or pm.group("adv")).lower()]
                e = pm.end()
        value *= scale
        raw = text[s:e]
        kind = "count"
        month = day = 0
        if unit in ("%", "pp"):
            kind = "percent"
        elif unit in {v for v in _CURRENCY_PREFIX.values()} or unit in ("USD", "MYR"):
            kind = "money"
        elif (
            not unit and not scale_word and "," not in num and "." not in num
            and len(num) == 4 and 1800 <= value <= 2100
        ):
            kind = "year"
            unit = "year"
            before = text[max(0, s - 24):s].lower()
            dm = _DATE_BEFORE.search(before)
            if dm and (dm.group("mon") or dm.group("mon2")) in _MONTHS:
                kind = "date"
                month = _MONTHS[dm.group("mon") or dm.group("mon2")]
                day = int(dm.group("day") or dm.group("day2") or 0)
        if kind == "count" and not unit and not scale_word and "," not in num:
            prev = re.search(r"([A-Za-z]+)\.?\s*$", text[max(0, s - 20):s])
            nxt = re.match(r"\s*,?\s*([A-Za-z]+)", text[e:e + 20])
            prev_w = prev.group(1) if prev else ""
            # a day of a date ("June 3, 2019", "10 December 2018") is part of the date
            if value <= 31 and (
                prev_w.lower() in _MONTHS or (nxt and nxt.group(1).lower() in _MONTHS)
            ):
                continue
            # a small number glued to a name is part of the name ("Falcon 9", "Phase 2")
            if (
                value < 100 and "." not in num and prev_w[:1].isupper()
                and s - len(prev_w) - 1 > 0 and prev_w.lower() not in _MONTHS
            ):
                continue
        before_words = text[max(0, s - 40):s].lower()
        hedged = any(re.search(rf"\b{h}\b", before_words[-25:]) for h in _HEDGES)
        tail = before_words[-20:].strip()
        bm = _BOUND_RE.search(tail)
        bound = _BOUND_SIGN[bm.group(1)] if bm else ""
        ctx = _context(text, s, m.end("num"))  # the unit word is context too ("cases")
        out.append(
            Quantity(
                value=value, unit=unit, kind=kind, start=s, end=e, text=raw,
                precision=_precision(num, scale), hedged=hedged, bound=bound, context=ctx,
                per=per, month=month, day=day,
            )
        )
    return out


def _context(text: str, s: int, e: int, width: int = 5) -> frozenset[str]:
    left = _WORD.findall(text[max(0, s - 60):s])[-width:]
    right = _WORD.findall(text[e:e + 60])[:width]
    return frozenset(content_words(" ".join(left + right)))
