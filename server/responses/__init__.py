"""POST /v1/responses (OpenAI's Responses API), stateless, served through chat's machinery."""
