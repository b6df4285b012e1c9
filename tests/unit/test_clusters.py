"""Story clusters: grouping copies, canonical choice, incremental update and prune, rebuild,
retrieval keeping one copy per story, and the copies' text on source cards and Slack lines."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from types import SimpleNamespace

from assistant.answer.sources import number_sources
from assistant.index.bm25 import Bm25Index
from assistant.index.clusters import StoryClusters, shingle_hashes
from assistant.index.stories import one_copy_per_story
from assistant.models import Article, Copy, Passage, Source
from assistant.retrieve import Retriever
from assistant.slack.blocks import source_line
from assistant.ui.render import render_source_card
from tests.unit.fakes import make_answer
from tests.unit.test_retrieve import Generation, MemoryStore, Settings_, make_chunk

STORY = (
    "Northbay Metals said on Tuesday that its Kestrel separation plant in Saskatoon "
    "produced its first 12 tonnes of neodymium praseodymium oxide, ahead of a schedule set "
    "in 2023. Chief executive Dana Ruiz said the plant would reach 400 tonnes a year by the "
    "end of 2027 and that talks with two magnet makers in Ontario were advanced. The company "
    "received 31 million dollars from the provincial critical minerals fund in March. "
)
REWRITE = (
    "Shares of Northbay Metals rose after the company said its Kestrel separation plant in "
    "Saskatoon produced its first 12 tonnes of neodymium praseodymium oxide, ahead of a schedule "
    "set in 2023. Chief executive Dana Ruiz said the plant would reach 400 tonnes a year by the "
    "end of 2027. Analysts at a Toronto bank called the output a milestone for North American "
    "supply chains. "
)
OTHER = (
    "Lakeshore Lithium drilled 14 holes at its Marten brine project in Nevada and found "
    "lithium grades of 180 milligrams per litre across a 90 metre interval, the explorer "
    "said, adding that a resource estimate is due in the second quarter. "
)


def art(aid: str, text: str, day: date | None, source: str = "Wire A") -> Article:
    return Article(id=aid, title=f"Title {aid}", text=text, origin=f"/x/{aid}.txt",
                   url=f"https://news.example/{aid}", published=day, source=source)


def entry(a: Article) -> SimpleNamespace:
    return SimpleNamespace(article_id=a.id, hash=a.hash, title=a.title, source=a.source,
                           published=a.published, url=a.url)


WORLD = [
    art("b-copy", STORY, date(2025, 3, 5), "Wire B (syndicated)"),
    art("a-orig", STORY, date(2025, 3, 4), "Wire A"),
    art("c-rewrite", REWRITE, date(2025, 3, 9), "Wire C"),
    art("d-other", OTHER, date(2025, 3, 4), "Wire D"),
]


def clusters_for(tmp_path: Path, articles: list[Article]) -> StoryClusters:
    sc = StoryClusters(tmp_path / "clusters.sqlite3")
    assert sc.refresh([entry(a) for a in articles], articles)
    return sc


def test_shingles_ignore_case_whitespace_and_urls() -> None:
    a = shingle_hashes("The  plant\nmade 12 tonnes of NdPr https://x.example/a?b=1 today")
    b = shingle_hashes("the plant made 12 TONNES of ndpr today")
    assert (a == b).all() and len(a) == 4


def test_copies_and_rewrites_cluster_with_the_earliest_as_canonical(tmp_path: Path) -> None:
    sc = clusters_for(tmp_path, WORLD)
    assert sc.cluster_of("b-copy") == sc.cluster_of("c-rewrite") == "a-orig"
    assert sc.members("a-orig") == ["a-orig", "b-copy", "c-rewrite"]
    assert sc.members("c-rewrite") == ["a-orig", "b-copy", "c-rewrite"]
    assert sc.cluster_of("d-other") == "d-other" and sc.members("d-other") == ["d-other"]
    assert sc.cluster_of("unknown") == "unknown"
    copies = sc.copies_of("b-copy")
    assert [c.article_id for c in copies] == ["a-orig", "c-rewrite"]
    assert copies[0] == Copy("a-orig", "Title a-orig", "Wire A", date(2025, 3, 4),
                             "https://news.example/a-orig")
    assert sc.copies_of("d-other") == ()


ABOUT = (
    "About Corvid Rare Metals. Corvid Rare Metals is a Vancouver based exploration company "
    "advancing the Tamarack Hills heavy rare earth project in northern Quebec, where a 2022 "
    "resource outlined dysprosium and terbium bearing xenotime over a strike length of nine "
    "kilometres. The company also holds the Pelican Bay phosphate property in Labrador and a "
    "royalty on the Granite Run graphite claims in Ontario. Corvid works with the Wemindji "
    "community under a 2021 exploration agreement, runs its own core shack in Chibougamau and "
    "trades on two small-cap boards in Toronto and New York. Its technical team has taken three "
    "projects from grassroots discovery to feasibility and keeps a disciplined budget, with "
    "about 60 percent of its spending in the ground. Forward looking statements in this "
    "release involve risks and uncertainties, including metal prices, permitting timelines and "
    "the availability of financing, and actual results may differ materially. "
)
NEWS_A = (
    "Corvid Rare Metals said its winter drill program at Tamarack Hills intersected 2.4 "
    "percent total rare earth oxides over 31 metres in hole TH-118, the widest heavy rare earth "
    "interval found on the project so far. The hole stepped out 400 metres east of the 2022 "
    "resource and the company plans twelve more holes along the same trend before the spring "
    "thaw. Chief geologist Priya Natarajan said the result doubles the known width of the "
    "xenotime zone. "
)
NEWS_B = (
    "Corvid Rare Metals closed a private placement of 4.2 million dollars led by a Montreal "
    "resource fund, issuing units at 18 cents with a half warrant exercisable for two years. "
    "The proceeds pay for metallurgical test work and an environmental baseline study. "
)
NEWS_C = (
    "Corvid Rare Metals appointed Olav Brekke, a former plant manager at a Norwegian "
    "separation facility, as chief operating officer, and granted him 900,000 options. "
)
REWRITE_A = (
    "Shares of Corvid Rare Metals rose after its winter drill program at Tamarack Hills "
    "intersected 2.4 percent total rare earth oxides over 31 metres in hole TH-118, the widest "
    "heavy rare earth interval found on the project so far. The hole stepped out 400 metres "
    "east of the 2022 resource and the company plans twelve more holes along the same trend "
    "before the spring thaw. Analysts at a Toronto broker called it a step change. "
)


def syndicated(n: int) -> Article:
    """Release A as outlet ``n`` carries it: its own dateline, ad line and footer."""
    text = (f"Outlet {n} Mining Wire, desk number {n}. " + NEWS_A + ABOUT
            + f"Advertisement: subscribe to the outlet {n} metals letter for {n + 3} dollars.")
    return art(f"a-copy{n}", text, date(2025, 3, 4 + n), f"Outlet {n} Wire")


def company_world() -> list[Article]:
    return [*(syndicated(n) for n in range(1, 6)),
            art("b-placement", NEWS_B + ABOUT, date(2025, 6, 2), "Wire A"),
            art("c-officer", NEWS_C + ABOUT, date(2025, 9, 15), "Wire A"),
            art("r-rewrite", REWRITE_A, date(2025, 3, 20), "Wire R")]


def test_copies_in_many_outlets_cluster_and_a_release_series_does_not(tmp_path: Path) -> None:
    world = company_world()
    sc = clusters_for(tmp_path, world)
    copies = ["a-copy1", "a-copy2", "a-copy3", "a-copy4", "a-copy5"]
    # the story's text is in 5 articles, above the boilerplate cap of 2, yet the 5
    # near-identical copies (stage 1) and the rewrite (stage 2, the story text counted once
    # per copy group) are one story
    assert sc.members("a-copy3") == [*copies, "r-rewrite"]
    # the company description is in 3 copy groups: boilerplate, so different news of the
    # same company stays apart
    assert sc.cluster_of("b-placement") == "b-placement"
    assert sc.cluster_of("c-officer") == "c-officer"
    assert len(sc.clusters()) == 1


def test_a_release_series_sharing_a_long_description_stays_apart(tmp_path: Path) -> None:
    series = [syndicated(1), *company_world()[5:7]]
    assert not clusters_for(tmp_path / "new", series).clusters()
    # the description is most of each release: a per-article cap of 6 (the previous rule)
    # would call it distinctive and link the series
    old = StoryClusters(tmp_path / "old" / "c.sqlite3", SimpleNamespace(cluster_boilerplate_df=6))
    assert old.refresh([entry(a) for a in series], series)
    assert len(old.members("b-placement")) == 3


def test_copies_need_the_copy_stage(tmp_path: Path) -> None:
    world = company_world()[:5]
    exact_only = SimpleNamespace(cluster_copy_jaccard=1.0)
    sc = StoryClusters(tmp_path / "c.sqlite3", exact_only)
    assert sc.refresh([entry(a) for a in world], world)
    assert not sc.clusters()  # each copy's text is in 5 articles: all boilerplate
    assert clusters_for(tmp_path / "dflt", world).members("a-copy1") == [a.id for a in world]


def test_canonical_ties_broken_by_id_and_undated_last(tmp_path: Path) -> None:
    same_day = [art("z", STORY, date(2025, 1, 1)), art("m", STORY, date(2025, 1, 1)),
                art("a", STORY, None)]
    sc = clusters_for(tmp_path, same_day)
    assert sc.members("a") == ["m", "z", "a"] and sc.cluster_of("a") == "m"


def test_incremental_update_and_prune(tmp_path: Path) -> None:
    sc = clusters_for(tmp_path, WORLD[1:])  # no b-copy yet
    assert sc.cluster_of("c-rewrite") == "a-orig"
    # an earlier copy arrives: it becomes canonical
    early = art("e-early", STORY, date(2025, 2, 1), "Wire E")
    assert sc.refresh([entry(a) for a in [*WORLD[1:], early]], [early])
    assert sc.cluster_of("a-orig") == "e-early"
    # nothing changed: no rewrite
    assert not sc.refresh([entry(a) for a in [*WORLD[1:], early]])
    # the rewrite is updated to another story: it leaves the cluster
    changed = art("c-rewrite", OTHER.replace("Nevada", "Utah"), date(2025, 3, 9), "Wire C")
    assert sc.refresh([entry(a) for a in [WORLD[1], WORLD[3], early, changed]], [changed])
    assert sc.cluster_of("c-rewrite") == sc.cluster_of("d-other")
    assert sc.members("e-early") == ["e-early", "a-orig"]
    # pruned: the early copy goes, a-orig is canonical again
    assert sc.refresh([entry(a) for a in [WORLD[1], WORLD[3], changed]])
    assert sc.cluster_of("a-orig") == "a-orig" and sc.members("e-early") == ["e-early"]
    # a second reader of the same file sees the new state
    other = StoryClusters(tmp_path / "clusters.sqlite3")
    assert other.cluster_of("c-rewrite") == other.cluster_of("d-other")


def test_missing_or_corrupt_file_is_rebuilt_from_the_store(tmp_path: Path) -> None:
    store = MemoryStore([make_chunk(f"{a.id}:0", a.text, article=a.id) for a in WORLD])
    path = tmp_path / "clusters.sqlite3"
    path.write_bytes(b"not a database" * 100)
    sc = StoryClusters(path)
    assert sc.refresh([entry(a) for a in WORLD], (), store)
    assert sc.cluster_of("c-rewrite") == "a-orig"
    assert sc.copies_of("a-orig")[0].source == "Wire B (syndicated)"


def test_a_file_from_before_the_copy_stage_is_upgraded(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "clusters.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE stories (article_id TEXT PRIMARY KEY, hash TEXT NOT NULL, title TEXT NOT "
        "NULL DEFAULT '', source TEXT NOT NULL DEFAULT '', published TEXT NOT NULL DEFAULT '',"
        " url TEXT NOT NULL DEFAULT '', shingles BLOB NOT NULL, sig_key TEXT NOT NULL DEFAULT"
        " '', signature BLOB, size INTEGER NOT NULL DEFAULT 0, cluster TEXT NOT NULL DEFAULT"
        " ''); CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES ('params', 'w5-df6-c0.5-p128-s1');"
    )
    db.close()
    sc = StoryClusters(path)
    assert sc.refresh([entry(a) for a in WORLD], WORLD)
    assert sc.cluster_of("c-rewrite") == "a-orig"


def test_refresh_never_raises(tmp_path: Path) -> None:
    sc = StoryClusters(tmp_path / "clusters.sqlite3")
    assert sc.refresh([SimpleNamespace(article_id="x")], (), None) is False


def test_one_copy_per_story() -> None:
    story = {"a": "a", "b": "a", "c": "c"}.get
    ranked = [("b:0", "b"), ("a:0", "a"), ("c:0", "c"), ("b:1", "b"), ("a:1", "a")]
    assert one_copy_per_story(ranked, story) == ["b:0", "c:0", "b:1"]


def test_retriever_never_returns_two_copies_of_a_story(tmp_path: Path) -> None:
    docs = [
        make_chunk("a-orig:0", STORY, source="Wire A"),
        make_chunk("a-orig:1", "Northbay Metals expects Kestrel output to reach 400 tonnes."),
        make_chunk("b-copy:0", STORY, source="Wire B"),
        make_chunk("c-rewrite:0", REWRITE, source="Wire C"),
        make_chunk("d-other:0", OTHER, source="Wire D"),
    ]
    store = MemoryStore(docs)
    lexical = Bm25Index(tmp_path / "bm25", store, Generation())
    sc = clusters_for(tmp_path, WORLD)
    plain = Retriever(store, lexical, store.embedder, Settings_())
    deduped = Retriever(store, lexical, store.embedder, Settings_(), clusters=sc)
    query = "Northbay Metals Kestrel plant neodymium tonnes Dana Ruiz"
    before = {p.chunk.article_id for p in plain.retrieve(query, k=4)}
    assert {"a-orig", "c-rewrite"} <= before or {"b-copy", "c-rewrite"} <= before
    out = deduped.retrieve(query, k=4)
    stories = {}
    for p in out:
        stories.setdefault(sc.cluster_of(p.chunk.article_id), set()).add(p.chunk.article_id)
    assert all(len(ids) == 1 for ids in stories.values())
    assert "d-other" in {p.chunk.article_id for p in out}  # k filled from further down


def test_number_sources_fills_copies(tmp_path: Path) -> None:
    sc = clusters_for(tmp_path, WORLD)
    passages = [Passage(make_chunk("c-rewrite:0", REWRITE), 1.0),
                Passage(make_chunk("d-other:0", OTHER), 0.5)]
    sources, _ = number_sources(passages, [], clusters=sc)
    assert [c.article_id for c in sources[0].copies] == ["a-orig", "b-copy"]
    assert sources[1].copies == ()
    plain, _ = number_sources(passages, [])
    assert plain[0].copies == ()


EVIL = Copy("x", "T <b>", "Evil <script>alert(1)</script> (press release)", date(2024, 4, 9),
            "javascript:alert(1)")


def test_source_card_and_slack_line_name_the_copies() -> None:
    answer = make_answer("q")
    src = answer.sources[0]
    copies = (Copy("a", "A", "Wire A newswire (press release / sponsored)", date(2024, 4, 8),
                   "https://a.example/1"), EVIL)
    with_copies = Source(src.number, src.passage, copies)
    card = render_source_card(answer, with_copies, 0)
    assert "also distributed by 2 outlets" in card and "Wire A newswire</a> (2024-04-08)" in card
    assert 'href="https://a.example/1"' in card
    assert "<script>" not in card and "javascript:" not in card and "&lt;script&gt;" in card
    assert "also distributed" not in render_source_card(answer, src, 0)
    line = source_line(with_copies)
    assert "also distributed by 2 outlets: Wire A newswire (2024-04-08), Evil" in line
    assert "<script>" not in line and "&lt;script&gt;" in line
    one = source_line(Source(src.number, src.passage, copies[:1]))
    assert "also distributed by 1 outlet: " in one
    assert "also distributed" not in source_line(src)
