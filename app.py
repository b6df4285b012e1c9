"""Serve the assistant's chat page: build/refresh the index from corpus/, then launch Gradio."""

from assistant.ui import main

if __name__ == "__main__":
    main()
