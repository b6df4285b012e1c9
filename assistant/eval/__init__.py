"""Evaluation of the whole assistant over an evaluation JSONL file (``assistant eval``).

items (records, ``load_items``) -> facts (key facts, lexical matching) -> score (one item)
-> metrics (pooled figures, bootstrap intervals, baselines) -> report (``Report``, summary);
run (``evaluate``, ``temporary_assistant``) drives them. History: ``docs/notes/eval.md``.
"""
