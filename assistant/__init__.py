"""Rare-earth news assistant: cited answers from indexed articles, every sentence checked."""

__version__ = "0.1.0"
