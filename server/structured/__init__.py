"""Structured outputs: OpenAI response formats -> vLLM's StructuredOutputsParams, checked early."""
