"""Labelled claim pairs generated from the news corpus: the verifier's training data.

``python bench/pairs.py [--out DIR] [--per-article 12] [--seed 7]`` reads
``../shared/news/articles`` and writes ``train.jsonl`` and ``valid.jsonl`` (default
``~/.cache/rare-earth-assistant/pairs``; never into the repo: the lines quote the articles).
Each line: ``{"id", "claim", "label", "perturbation", "article_id", "source_sentence"}``.

From each usable sentence of an article (8-40 words, not boilerplate, holding a name or a
figure) one claim is made:

- every claim starts from the sentence or, three times in four, a rule-made paraphrase of
  it (:func:`paraphrase`: shorter, filler and parentheses dropped, the clause with the
  facts kept, plain synonyms, the company named), so that wording does not give the label
  away;
- supported: that text, with light rewrites that keep its meaning (parenthetical tickers
  dropped, figures re-written "3,000" -> "3000", an attribution to the issuer added);
- contradicted, one perturbation each: ``number`` (a figure changed), ``unit_or_scale``
  (million <-> billion, per year <-> per month, tonnes <-> kilograms), ``entity_swap`` (a
  company or person replaced by one from another article), ``place`` (a country, state or
  province replaced by another), ``date`` (a year or a month moved), ``negation`` (a
  "not" added or removed), ``stance`` (binding <-> non-binding, planned <-> done, pending
  <-> granted), ``comparison`` (increase <-> decrease, more <-> less), ``attribution`` (the
  speaker swapped);
- unsupported: a plausible detail the article does not state appended (a figure, a date,
  a place, a partner).

Split by article (a stable hash of the id: about 80% train, 20% validation). The
articles of ``../shared/news/eval_dev.jsonl`` (claims and supporting articles) are left out
of both, so the development set stays unseen. Deterministic for a given seed.

Compromise: rewrites are rule-made, not an LLM's paraphrases, so supported claims are
closer to their sources than an answer writer's sentences; perturbations that find no
target in a sentence are skipped (the type mix follows what the corpus offers).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
NEWS = REPO.parent / "shared" / "news"
DEFAULT_OUT = Path.home() / ".cache" / "rare-earth-assistant" / "pairs"

from assistant.text import split_sentences  # noqa: E402

# A gazetteer for the place perturbation (generation data, not a verifier rule).
PLACES = {
    "country": """Australia Canada China Brazil Chile Argentina Peru Mexico Mali Ghana Namibia
        Morocco Madagascar Mauritius Indonesia Philippines Malaysia Japan India Germany France
        Finland Sweden Norway Greenland Kazakhstan Vietnam Zambia Zimbabwe Tanzania
        Kenya Nigeria Ukraine Poland Portugal Ireland Quebec Ontario""".split(),
    "us_state": """Nevada Arizona Texas Alaska Utah Idaho Montana Wyoming Colorado California
        Arkansas Louisiana Alabama Georgia Ohio Michigan Minnesota Oregon
        Washington Maine Oklahoma""".split(),
    "province": """Quebec Ontario Manitoba Saskatchewan Alberta Labrador Newfoundland Yukon
        Queensland Tasmania Victoria""".split(),
}
_PLACE_KIND = {p: k for k, ps in PLACES.items() for p in ps}
MONTHS = ("January February March April May June July August September October November "
          "December").split()
_BOILER = re.compile(
    r"forward[- ]looking|www\.|https?:|@|\bcontact\b|disclaim|\bsponsor|paid|advertis|"
    r"newsramp|ibn\b|investorwire|\bread more|full (?:article|press release)|safe harbor|"
    r"not (?:an )?(?:offer|recommendation)|subscribe|email|phone|\bclick\b|hashtag|"
    r"communications? platform|uniquely positioned|journalists|investors?, influencers|"
    r"brand awareness|wire service|\bmedia\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"(?<![\w.])(?:[A-Z][a-zA-Z&'\-]+)(?:\s+(?:[A-Z][a-zA-Z&'\-]+|of|and|&))*"
                   r"(?:\s+[A-Z][a-zA-Z&'\-]+)?")
_NUM = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\w])")
_YEAR = re.compile(r"\b(20[12]\d|19[89]\d)\b")
_PERSON_SAID = re.compile(
    r"\b([A-Z][a-z]+ [A-Z][a-z]+)(,[^,]{3,60},)?\s+(said|says|stated|noted|commented)\b"
)
_SPEECH_VERB = r"(?:said|says|stated|noted|commented|added|explained|told)"
_NAME_RUN = r"[A-Z][\w'&-]+(?: (?:of |and )?[A-Z][\w'&-]+){1,4}"
_SPEAKER_BEFORE = re.compile(rf"\b(?P<who>{_NAME_RUN})(?:,[^,]{{3,60}},)?\s+{_SPEECH_VERB}\b")
_SPEAKER_AFTER = re.compile(rf"\b{_SPEECH_VERB}\s+(?P<who>{_NAME_RUN})")
_TITLE_WORD = re.compile(r"\b(?:Chief|Officer|CEO|President|Director|Chairman|Minister|"
                         r"Executive|Manager|Secretary)\b")
_STANCE = [("non-binding", "binding"), ("plans to", "has agreed to"), ("will", "has"),
           ("expects to", "has begun to"), ("proposed", "approved"), ("pending", "granted"),
           ("potential", "confirmed"), ("preliminary", "final"), ("conceptual", "measured"),
           ("intends to", "has"), ("aims to", "has managed to")]
_COMPARE = [("increase", "decrease"), ("increased", "decreased"), ("higher", "lower"),
            ("more than", "less than"), ("above", "below"), ("rose", "fell"),
            ("up from", "down from"), ("grew", "shrank"), ("larger", "smaller"),
            ("over", "under"), ("exceeding", "below"), ("at least", "at most"),
            ("expand", "reduce"), ("raised", "cut")]
_NEG = [(" will ", " will not "), (" has ", " has not "), (" have ", " have not "),
        (" is ", " is not "), (" are ", " are not "), (" was ", " was not "),
        (" can ", " cannot "), (" does ", " does not ")]
_UNIT_SWAP = [("million", "billion"), ("billion", "million"), ("per annum", "per month"),
              ("per year", "per month"), ("a year", "a month"), ("tonnes", "kilograms"),
              ("tons", "pounds"), ("metres", "kilometres"), ("meters", "kilometers"),
              ("hectares", "square kilometres"), ("%", " basis points"), ("ounces", "tonnes")]
_ADD_FIGURE = ["worth about US${n} million", "employing some {k} people",
               "at a cost of about C${n} million", "with annual output of about {k} tonnes",
               "backed by a US${n} million loan"]
_ADD_TIME = ["by the end of {y}", "in the second quarter of {y}", "starting in {y}",
             "before {m} {y}"]
_NOT_NAMES = {"The", "This", "These", "Those", "It", "Its", "In", "On", "At", "For", "As",
              "By", "With", "After", "Before", "Since", "While", "Although", "According",
              "Phase", "Company", "Corporation", "Inc", "Ltd", "Limited", "Project", "CEO",
              "President", "Chief", "Officer", *MONTHS}


def _hash(text: str) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16)


def split_of(article_id: str) -> str:
    """``"train"`` or ``"valid"`` by a stable hash of the article id (about 80/20)."""
    return "valid" if _hash(article_id) % 5 == 0 else "train"


def held_out_ids(eval_path: Path) -> set[str]:
    """Articles the development set uses: never in the generated pairs."""
    out: set[str] = set()
    if not eval_path.exists():
        return out
    for line in eval_path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        if item.get("article_id"):
            out.add(item["article_id"])
        out.update(item.get("supporting_article_ids") or ())
        out.update(q.get("article_id", "") for q in item.get("supporting_quotes") or ())
    out.discard("")
    return out


def usable_sentences(text: str) -> list[str]:
    out = []
    for s, e in split_sentences(text):
        sent = " ".join(text[s:e].split())
        n = len(sent.split())
        if not 8 <= n <= 40 or _BOILER.search(sent) or sent.endswith(("?", ":")):
            continue
        if sent.startswith(("*", "-", "#", "|", "!", "[")) or sent.count("|") > 1:
            continue
        if not (_NUM.search(sent) or names(sent)):
            continue
        out.append(sent)
    return out


def names(sentence: str) -> list[str]:
    """Capitalised name phrases not at the sentence start: ``names("Shares of Lynas Rare
    Earths rose") -> ["Lynas Rare Earths"]``."""
    out = []
    for m in _NAME.finditer(sentence):
        if m.start() == 0:
            continue
        phrase = m.group(0).strip()
        words = [w for w in phrase.split() if w not in _NOT_NAMES]
        if not words or len(phrase) < 3:
            continue
        out.append(phrase)
    return out


def _replace_once(text: str, old: str, new: str) -> str | None:
    i = text.find(old)
    if i < 0:
        return None
    return text[:i] + new + text[i + len(old):]


def _swap_pairs(text: str, pairs: list[tuple[str, str]], rng: random.Random) -> str | None:
    options = []
    for a, b in pairs:
        for old, new in ((a, b), (b, a)):
            if re.search(rf"(?<![\w-]){re.escape(old)}(?![\w-])", text):
                options.append((old, new))
    if not options:
        return None
    old, new = rng.choice(options)
    return re.sub(rf"(?<![\w-]){re.escape(old)}(?![\w-])", new, text, count=1)


def _end(text: str, tail: str) -> str:
    return text.rstrip(" .;") + ", " + tail + "."


# ---- perturbations: sentence -> claim or None ---------------------------------------------
def p_number(s: str, rng: random.Random, ctx: dict) -> str | None:
    hits = [m for m in _NUM.finditer(s) if not _YEAR.fullmatch(m.group(0))]
    if not hits:
        return None
    m = rng.choice(hits)
    raw = m.group(0)
    digits = raw.replace(",", "")
    value = float(digits)
    for _ in range(10):
        factor = rng.choice([0.5, 0.6, 0.75, 0.8, 1.2, 1.25, 1.5, 2.0, 3.0])
        new = value * factor
        if "." in digits:
            dec = len(digits.split(".")[1])
            text = f"{new:,.{dec}f}" if "," in raw else f"{new:.{dec}f}"
        else:
            text = f"{round(new):,}" if "," in raw else str(round(new))
        if text != raw:
            return s[: m.start()] + text + s[m.end():]
    return None


def p_unit(s: str, rng: random.Random, ctx: dict) -> str | None:
    if not _NUM.search(s):
        return None
    return _swap_pairs(s, _UNIT_SWAP, rng)


def p_entity(s: str, rng: random.Random, ctx: dict) -> str | None:
    own = [n for n in names(s) if n not in _PLACE_KIND and n.split()[0] not in MONTHS]
    if not own:
        return None
    old = rng.choice(own)
    pool = [n for n in ctx["orgs"] if n not in ctx["article_names"] and n != old]
    if not pool:
        return None
    return _replace_once(s, old, rng.choice(pool))


def p_place(s: str, rng: random.Random, ctx: dict) -> str | None:
    found = [p for p in _PLACE_KIND if re.search(rf"\b{p}\b", s)]
    if not found:
        return None
    old = rng.choice(found)
    pool = [p for p in PLACES[_PLACE_KIND[old]] if p != old and p not in ctx["article_text"]]
    if not pool:
        return None
    return re.sub(rf"\b{old}\b", rng.choice(pool), s, count=1)


def p_date(s: str, rng: random.Random, ctx: dict) -> str | None:
    months = [m for m in MONTHS if re.search(rf"\b{m}\b", s)]
    years = list(_YEAR.finditer(s))
    if months and (not years or rng.random() < 0.5):
        old = rng.choice(months)
        new = rng.choice([m for m in MONTHS if m != old])
        return re.sub(rf"\b{old}\b", new, s, count=1)
    if years:
        m = rng.choice(years)
        new = str(int(m.group(0)) + rng.choice([-2, -1, 1, 2, 3]))
        return s[: m.start()] + new + s[m.end():]
    return None


def p_negation(s: str, rng: random.Random, ctx: dict) -> str | None:
    for neg in (" not ", " no longer ", " never "):
        if neg in s:
            return s.replace(neg, " ", 1)
    options = [(a, b) for a, b in _NEG if a in s]
    if not options:
        return None
    a, b = rng.choice(options)
    return s.replace(a, b, 1)


def p_stance(s: str, rng: random.Random, ctx: dict) -> str | None:
    return _swap_pairs(s, _STANCE, rng)


def p_comparison(s: str, rng: random.Random, ctx: dict) -> str | None:
    return _swap_pairs(s, _COMPARE, rng)


def p_attribution(s: str, rng: random.Random, ctx: dict) -> str | None:
    """The statement's speaker replaced: by another party the same article names (the
    story's other voices, as a misread release swaps them), else by a speaker from
    another article."""
    m = _SPEAKER_BEFORE.search(s) or _SPEAKER_AFTER.search(s)
    if not m:
        return None
    speaker = m.group("who")
    taken = set(speaker.split())
    pool = sorted(n for n in {re.sub(r"['\u2019]s$", "", x) for x in ctx["article_names"]}
                  if 2 <= len(n.split()) <= 4 and n not in s and not taken & set(n.split())
                  and n not in _PLACE_KIND and " and " not in n
                  and not _TITLE_WORD.search(n))
    if not pool:
        pool = [p for p in ctx["people"] if p != speaker and p not in ctx["article_text"]]
    if not pool:
        return None
    return s[: m.start("who")] + rng.choice(pool) + s[m.end("who"):]


def u_added(s: str, rng: random.Random, ctx: dict) -> tuple[str, str] | None:
    kind = rng.choice(["added_figure", "added_timeline", "added_location", "added_partner"])
    if kind == "added_figure":
        tail = rng.choice(_ADD_FIGURE).format(n=rng.choice([12, 25, 40, 85, 150, 320]),
                                              k=rng.choice([120, 450, 2500, 8000]))
    elif kind == "added_timeline":
        tail = rng.choice(_ADD_TIME).format(y=rng.choice([2026, 2027, 2028, 2029]),
                                            m=rng.choice(MONTHS))
    elif kind == "added_location":
        pool = [p for p in _PLACE_KIND if p not in ctx["article_text"]]
        tail = f"at a site in {rng.choice(pool)}"
    else:
        pool = [n for n in ctx["orgs"] if n not in ctx["article_names"]]
        if not pool:
            return None
        tail = f"in partnership with {rng.choice(pool)}"
    return _end(s, tail), kind


# General English rewordings for the paraphrase step (a vocabulary, not examples).
_SYNONYMS = {
    "approximately": "roughly", "commenced": "began", "commence": "begin", "acquired": "bought",
    "acquire": "buy", "acquisition": "purchase", "announced": "said", "announces": "says",
    "located": "sited", "purchase": "buy", "utilize": "use", "utilizes": "uses",
    "additional": "more", "initiated": "started", "completed": "finished",
    "significant": "major", "anticipated": "expected", "approximately,": "about,",
    "company": "firm", "secured": "obtained", "facility": "plant", "project": "venture",
    "shareholders": "investors", "agreement": "deal", "signed": "concluded",
    "increase": "rise", "production": "output", "produce": "make", "revenue": "sales",
    "million": "million", "tonnes": "tonnes", "received": "got", "entered into": "signed",
    "in order to": "to", "as well as": "and", "a total of": "", "currently": "now",
    "demonstrated": "showed", "demonstrates": "shows", "indicates": "shows",
    "situated": "located", "obtain": "get", "numerous": "many",
    "substantial": "large", "completion": "end", "initiate": "start", "objective": "goal",
    "assays": "assay results", "drilling program": "drill program", "intersected": "hit",
    "exploration": "exploration work", "appointed": "named", "appointment": "hiring",
    "reported": "announced", "announce": "report", "expects": "anticipates",
    "located in": "in", "located near": "near", "per annum": "a year", "per year": "annually",
}
_LEAD = re.compile(r"^(?:Additionally|In addition|Furthermore|Moreover|Meanwhile|Notably|"
                   r"Importantly|Overall|Also|As a result|In summary|Today),?\s+", re.IGNORECASE)
_FILLER = re.compile(r"\b(?:significant|strategic(?:ally)?|key|important|notable|successful(?:ly)?|"
                     r"further|robust|strong|highly|very|leading|innovative|premier|"
                     r"well-positioned|exciting|proud(?:ly)?|pleased to)\s+", re.IGNORECASE)


def paraphrase(s: str, rng: random.Random, subject: str = "") -> str:
    """A shorter rewording of ``s`` that keeps its facts: parentheses and filler dropped,
    the clause holding its figures or names kept (with the opening clause when that names
    the subject), some words swapped for plain synonyms, and the article's company named
    when the sentence does not."""
    out = re.sub(r"\s*\([^)]{0,80}\)", "", s)
    out = _LEAD.sub("", _FILLER.sub("", out))
    out = re.sub(r",\s+(?:demonstrating|highlighting|underscoring|reflecting|marking|"
                 r"further|positioning|reinforcing)\b[^.;]*", "", out)
    parts = [p.strip() for p in re.split(r";\s+|,\s+(?=(?:which|while|and|as|with|where|"
                                          r"including|bringing|making)\b)|\s+-\s+", out) if p]
    if len(parts) > 1:
        def facts(p: str) -> int:
            return len(_NUM.findall(p)) * 2 + len(names(" " + p))
        best = max(parts[1:], key=facts)
        keep = [parts[0]] + ([best] if facts(best) > 0 and rng.random() < 0.5 else [])
        out = ", ".join(k.rstrip(" ,.") for k in keep)
    for old, new in _SYNONYMS.items():
        if rng.random() < 0.7:
            out = re.sub(rf"\b{re.escape(old)}\b", new, out)
    out = re.sub(r"\s{2,}", " ", out).strip(" ,;")
    if subject and subject.lower() not in out.lower() and rng.random() < 0.8:
        lead = re.match(r"^(?:The [Cc]ompany|The [Ff]irm|It|Its)\b", out)
        if lead:
            out = subject + ("'s" if lead.group(0) == "Its" else "") + out[lead.end():]
    if not out.endswith((".", "!", "?")):
        out += "."
    return out[0].upper() + out[1:] if len(out.split()) >= 6 else s


def supported(s: str, rng: random.Random, ctx: dict) -> str:
    """A meaning-keeping rewrite of ``s`` (or ``s`` itself)."""
    out = re.sub(r"\s*\((?:[A-Z]+:\s*[A-Z.]+|NASDAQ[^)]*|NYSE[^)]*|TSX[^)]*|ASX[^)]*)\)", "", s)
    choice = rng.random()
    if choice < 0.3:
        out = re.sub(r"\b(\d{1,3}),(\d{3})\b", r"\1\2", out)
    elif choice < 0.5 and ctx["issuer"] and ctx["issuer"] not in out:
        out = f"According to {ctx['issuer']}, {out[0].lower()}{out[1:]}"
    elif choice < 0.75:
        parts = [p for p in re.split(r";\s+|,\s+(?:while|and|which|as)\s+", out)
                 if len(p.split()) >= 8]
        if len(parts) > 1:
            out = parts[0].rstrip(" ,.") + "."
    return out


CONTRADICTIONS = {
    "number": p_number, "unit_or_scale": p_unit, "entity_swap": p_entity, "place": p_place,
    "date": p_date, "negation": p_negation, "stance": p_stance, "comparison": p_comparison,
    "attribution": p_attribution,
}


def _issuer(article: dict) -> str:
    """The name the article uses most (two to four capitalised words)."""
    counts: Counter[str] = Counter()
    for s in usable_sentences(article["text"]):
        for n in names(s):
            if 2 <= len(n.split()) <= 4 and not re.search(r"NewsBreaks|News|Network|Wire", n):
                counts[n] += 1
    return counts.most_common(1)[0][0] if counts else ""


def generate(articles: list[dict], per_article: int, seed: int) -> Iterator[dict]:
    rng = random.Random(seed)
    orgs: Counter[str] = Counter()
    people: set[str] = set()
    for a in articles:
        for s in usable_sentences(a["text"]):
            orgs.update(n for n in names(s) if n not in _PLACE_KIND and len(n.split()) <= 4)
            people.update(m.group(1) for m in _PERSON_SAID.finditer(s))
    org_pool = sorted(n for n, c in orgs.items() if c >= 2 and len(n) >= 5)
    used: Counter[str] = Counter()
    people_pool = sorted(people)
    for a in articles:
        sents = usable_sentences(a["text"])
        if not sents:
            continue
        article_names = {n for s in sents for n in names(s)}
        issuer = _issuer(a)
        ctx = {"orgs": org_pool, "people": people_pool, "article_names": article_names,
               "article_text": a["text"], "issuer": issuer}
        order = list(range(len(sents)))
        rng.shuffle(order)
        for k, i in enumerate(order[:per_article]):
            source = sents[i]
            base = {"article_id": a["id"], "source_sentence": source}
            # most claims are reworded first, as answer sentences and pasted claims are;
            # every label gets the same share, so wording never gives the label away
            s = paraphrase(source, rng, ctx["issuer"]) if rng.random() < 0.75 else source
            slot = k % 3
            if slot == 0:
                yield {**base, "claim": supported(s, rng, ctx), "label": "supported",
                       "perturbation": "none"}
            elif slot == 1:
                # the rarest applicable perturbation so far: the mix stays as even as the
                # corpus allows (entity swaps apply almost everywhere, units rarely)
                made = [(kind, f(s, rng, ctx)) for kind, f in CONTRADICTIONS.items()]
                made = [(kind, c) for kind, c in made if c and c != s]
                if made:
                    kind, claim = min(made, key=lambda kc: (used[kc[0]], rng.random()))
                    used[kind] += 1
                    yield {**base, "claim": claim, "label": "contradicted",
                           "perturbation": kind}
            else:
                made = u_added(s, rng, ctx)
                if made:
                    yield {**base, "claim": made[0], "label": "unsupported",
                           "perturbation": made[1]}
        # statements with a named speaker are few among the sampled sentences: one more
        # per article, its speaker swapped, so attribution is learned from more than a few
        quoted = [j for j in order[per_article:] + order[:per_article]
                  if _SPEAKER_BEFORE.search(sents[j]) or _SPEAKER_AFTER.search(sents[j])]
        if quoted:
            source = sents[quoted[0]]
            claim = p_attribution(source, rng, ctx)
            if claim and claim != source:
                yield {"article_id": a["id"], "source_sentence": source, "claim": claim,
                       "label": "contradicted", "perturbation": "attribution"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--news", type=Path, default=NEWS)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--per-article", type=int, default=12)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    held = held_out_ids(args.news / "eval_dev.jsonl")
    articles = []
    for path in sorted((args.news / "articles").glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if record["id"] not in held:
            articles.append(record)
    args.out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict]] = {"train": [], "valid": []}
    for n, row in enumerate(generate(articles, args.per_article, args.seed)):
        row["id"] = f"gp{n:05d}"
        rows[split_of(row["article_id"])].append(row)
    for split, items in rows.items():
        with (args.out / f"{split}.jsonl").open("w", encoding="utf-8") as fh:
            for row in items:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        mix = Counter((r["label"], r["perturbation"]) for r in items)
        print(f"{split}: {len(items)} pairs from "
              f"{len({r['article_id'] for r in items})} articles -> {args.out / split}.jsonl")
        print("  " + ", ".join(f"{lab[:4]}/{p}={c}" for (lab, p), c in sorted(mix.items())))
    print(f"held out (eval_dev articles): {len(held)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
