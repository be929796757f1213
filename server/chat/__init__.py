"""OpenAI chat requests -> engine inputs, and engine outputs -> OpenAI responses."""
