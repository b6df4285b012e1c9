# Passed to llama-cpp-python's build as CMAKE_PROJECT_llama.cpp_INCLUDE (scripts/setup.sh): it
# runs right after llama.cpp's project() call, before its options are declared.
# llama-cpp-python forces LLAMA_BUILD_COMMON on, but the Python bindings load libllama and
# libggml only; `common` (and cpp-httplib, built for it) serve llama.cpp's own tools and the
# multimodal library, which this project does not build (LLAVA_BUILD=OFF). Leaving them out
# also lets the rest build as a unity build (common's json.cpp does not compile as one).
set(LLAMA_BUILD_COMMON OFF CACHE BOOL "llama-cpp-python here needs libllama only" FORCE)
