"""llava-serve: an OpenAI-compatible inference server for LLaVA on a vLLM engine."""
