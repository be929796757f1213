"""Side-by-side benchmark of llava-serve and vLLM's own OpenAI server (`make bench`)."""
