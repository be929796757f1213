"""HTTP routes: validate, call the service, shape the HTTP response (JSON or SSE)."""
