"""Generated questions: the answerability gate's training data.

``python bench/questions.py [--out DIR] [--seed 11] [--writer llm|template]`` reads
``../shared/news/articles`` and writes ``questions_train.jsonl`` / ``questions_valid.jsonl``
beside the claim pairs (same article split as ``bench/pairs.py``; the development set's
articles are in neither). Each line: ``{"id", "question", "answerable", "article_id",
"kind"}``, and for an answerable one the ``sentence`` that answers it and its ``figure``.

- ``--writer llm`` (default): for two sentences per article holding a figure, the local
  model (greedy, so a rebuild gives the same text on the same model and llama.cpp build)
  writes the question an analyst would ask that the sentence answers; a question that
  gives its figure away, is not a question, or repeats one already written is dropped.
  ``bench/fit_gate.py`` measures each twice: as written (answerable) and over the same
  passages with its answer sentence taken out (unanswerable: an entity the passages cover,
  a detail they do not state). About 12 minutes on 2 cores.
- ``--writer template``: the earlier fast frames: a figure's preceding words asked of the
  article's company ("What is the capital expenditure reported by <company>?"), and the
  same frame with a detail no article naming the company holds (unanswerable). Their
  wording is stilted and the gate fitted on them refused almost no unanswerable question
  on validation; kept for comparison.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
NEWS = REPO.parent / "shared" / "news"
DEFAULT_OUT = Path.home() / ".cache" / "rare-earth-assistant" / "pairs"

import pairs as pairs_mod  # noqa: E402

_STOP = set("""a an the of in on at to for from by with and or its their our this that these
those is are was were be been has have had will would as per about approximately nearly over
up some total which who new also than more less into""".split())
_FIGURE = re.compile(r"(?:US\$|C\$|A\$|\$)?\d[\d,.]*\s*(?:million|billion|%|percent|tonnes|"
                     r"tons|metres|meters|hectares|km|ounces|oz|Mt|Mlbs|g/t)?")
_VERBS = set("""reports announces provides advances signs completes secures expands closes
launches files receives begins commences steps prices partners joins enters appoints
confirms delivers achieves acquires updates increases extends reaches identifies welcomes
on inks unveils hits intersects drills developing further assures""".split())
_FRAME = re.compile(r"\b([a-z]{3,}(?: [a-z]{3,}){0,2}) (?:of|at|was|is|totall?ing|"
                    r"reached|stands at|amounting to)\s*(?:about |approximately |over )?$")
_NOT_COMPANY = re.compile(r"NewsBreaks|NewsRamp|InvestorWire|InvestorBrand|Network|News|"
                          r"Forward|Statements|United States|Press|Release|Media|Source|"
                          r"Inc\b|Corp\b|\bThe\b")
_TEMPLATES = (
    "What is the {detail} reported by {company}?",
    "How much {detail} does {company} report?",
    "What {detail} did {company} announce?",
    "According to {company}, what is the {detail}?",
)


def company_of(article: dict) -> str:
    """The company a title leads with: ``company_of({"title": "InvestorNewsBreaks - Standard
    Lithium Ltd. (NYSE American: SLI) Prices ..."}) -> "Standard Lithium"``."""
    title = re.sub(r"^\w*NewsBreaks\s*[-\u2013\u2014:]\s*", "", article.get("title", ""))
    words = []
    for w in title.split():
        bare = w.strip(",:;")
        if (not bare[:1].isupper() or bare.lower() in _VERBS or w.startswith("(")
                or bare.lower() in ("ltd.", "ltd", "inc.", "inc", "corp.", "corp", "plc")):
            break
        words.append(bare)
        if w.endswith((",", ":", ";")):
            break
    return " ".join(words[:4]) if 1 <= len(words) else ""


def noun_words(articles: list[dict]) -> set[str]:
    """Words the corpus puts after an article or possessive at least three times: a crude
    noun test without a tagger (``"the capital expenditure"`` -> capital, expenditure)."""
    counts: Counter[str] = Counter()
    for a in articles:
        for m in re.finditer(r"\b(?:the|a|an|its|their|our)\s+([a-z][a-z-]+)(?:\s+([a-z][a-z-]+))?",
                             a["text"]):
            counts.update(w for w in m.groups() if w)
    return {w for w, c in counts.items() if c >= 3 and w not in _STOP}


def detail_before(sentence: str, start: int, nouns: set[str] | frozenset[str] = frozenset()
                  ) -> str:
    """The noun words in front of a figure, linking words dropped:
    ``detail_before("a capital expenditure of $65 million", 26, nouns) -> "capital
    expenditure"``."""
    words = re.findall(r"\S+", sentence[max(0, start - 60):start])
    kept: list[str] = []
    for w in reversed(words):
        if not re.fullmatch(r"[a-z][a-z-]+", w):
            break
        if not kept and w in _STOP:
            continue
        if w in _STOP or w.endswith("ly") or (nouns and w not in nouns):
            break
        kept.insert(0, w)
        if len(kept) == 3:
            break
    return " ".join(kept) if kept and len(" ".join(kept)) >= 5 else ""


def initials(name: str) -> str:
    caps = [w[0] for w in name.split() if w[:1].isupper()]
    return "".join(caps) if len(caps) >= 2 else ""


def generate(articles: list[dict], seed: int) -> list[dict]:
    rng = random.Random(seed)
    nouns = noun_words(articles)
    frames = []
    for a in articles:
        company = company_of(a)
        if len(company) < 4:
            continue
        for s in pairs_mod.usable_sentences(a["text"]):
            for m in _FIGURE.finditer(s):
                detail = detail_before(s, m.start(), nouns)
                if detail:
                    frames.append((a, company, detail, s, m.group(0).strip()))
    details = Counter(f[2] for f in frames)
    common = sorted(details)
    texts = {a["id"]: a["text"].lower() for a in articles}
    out = []
    rng.shuffle(frames)
    per_article: Counter[str] = Counter()
    for a, company, detail, sentence, figure in frames:
        if per_article[a["id"]] >= 6:
            continue
        per_article[a["id"]] += 1
        template = rng.choice(_TEMPLATES)
        shown = company
        if rng.random() < 0.15 and initials(company):
            shown = initials(company)
        out.append({"question": template.format(detail=detail, company=shown),
                    "answerable": True, "article_id": a["id"], "kind": "figure",
                    "sentence": sentence, "figure": figure})
        # the same frame, a detail no article naming this company holds
        about = [t for t in texts.values() if company.lower() in t]
        for _ in range(20):
            other = rng.choice(common)
            words = other.split()
            if other != detail and not any(all(w in t for w in words) for t in about):
                out.append({"question": template.format(detail=other, company=company),
                            "answerable": False, "article_id": a["id"], "kind": "detail"})
                break
    return out


_WRITE_PROMPT = (
    "Article: {title}\nSentence: {sentence}\n\n"
    "Write one short question that an analyst would ask and that this sentence answers "
    "with \"{figure}\". Name the company or project the question is about; do not put the "
    "answer in the question. Reply with the question only."
)
_NON_YEAR_FIGURE = re.compile(r"(?:US\$|C\$|A\$|\$)?\d[\d,.]*\s*(?:million|billion|%|percent|"
                              r"tonnes|tons|metres|meters|hectares|km|ounces|oz|Mt|g/t|ppm)")


def generate_llm(articles: list[dict], seed: int, per_article: int, writer: object) -> list[dict]:
    """Questions written by the local model, each for one sentence holding a figure (the
    answer), greedy-decoded so a rebuild gives the same text. A question that gives its
    answer away, or is not a question, is dropped. ``fit_gate.py`` measures each twice:
    as written (answerable) and with its answer sentence taken out (unanswerable)."""
    rng = random.Random(seed)
    out = []
    seen: set[str] = set()  # a sentence repeated in an article gives the same question
    for n, a in enumerate(articles):
        picks = [(s, m.group(0).strip()) for s in pairs_mod.usable_sentences(a["text"])
                 for m in [_NON_YEAR_FIGURE.search(s)] if m]
        rng.shuffle(picks)
        for sentence, figure in picks[:per_article]:
            prompt = _WRITE_PROMPT.format(title=a.get("title", "")[:200], sentence=sentence,
                                          figure=figure)
            question = writer(prompt)
            question = " ".join(question.strip().strip('"').split())
            digits = re.sub(r"\D", "", figure)
            if (not question.endswith("?") or not 5 <= len(question.split()) <= 30
                    or (digits and digits in re.sub(r"\D", "", question))
                    or question in seen):
                continue
            seen.add(question)
            out.append({"question": question, "answerable": True, "article_id": a["id"],
                        "kind": "written", "sentence": sentence, "figure": figure})
        if (n + 1) % 20 == 0:
            print(f"  wrote questions for {n + 1}/{len(articles)} articles", file=sys.stderr)
    return out


def local_writer() -> object:
    """The packaged local model as a greedy question writer."""
    import _setup  # noqa: F401  (offline model paths)

    from assistant.config import Settings
    from assistant.llm.local import LocalModel

    s = Settings()
    model = LocalModel(s.model_path, s.cache_dir, s.llm_threads, 1024)

    def write(prompt: str) -> str:
        with model.lock:
            out = model.llama.create_chat_completion(
                messages=[{"role": "user", "content": prompt}], temperature=0.0,
                max_tokens=48, seed=0)
        return out["choices"][0]["message"]["content"] or ""

    return write


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--news", type=Path, default=NEWS)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--writer", choices=("llm", "template"), default="llm",
                    help="llm: questions written by the local model (default); template: "
                         "the fast template frames")
    ap.add_argument("--per-article", type=int, default=2)
    args = ap.parse_args(argv)
    held = pairs_mod.held_out_ids(args.news / "eval_dev.jsonl")
    articles = []
    for path in sorted((args.news / "articles").glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if record["id"] not in held:
            articles.append(record)
    if args.writer == "llm":
        rows = generate_llm(articles, args.seed, args.per_article, local_writer())
    else:
        rows = generate(articles, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid"):
        items = [r for r in rows if pairs_mod.split_of(r["article_id"]) == split]
        with (args.out / f"questions_{split}.jsonl").open("w", encoding="utf-8") as fh:
            for n, r in enumerate(items):
                fh.write(json.dumps({"id": f"gq-{split}-{n:04d}", **r}) + "\n")
        ans = sum(r["answerable"] for r in items)
        print(f"{split}: {len(items)} questions ({ans} answerable, {len(items) - ans} not)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
