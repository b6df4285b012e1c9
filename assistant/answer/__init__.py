"""Answering: cite-able sources, the [n] format, the answerability gate and the LCEL chain."""
