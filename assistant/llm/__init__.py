"""Language models: the packaged llama.cpp model, constrained decoding, LangChain chat models."""
