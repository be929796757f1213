"""POST /v1/completions: text prompts (or token ids) in, text out, on chat's engine machinery."""
