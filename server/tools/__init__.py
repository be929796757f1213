"""Function tools: request schema, constraint, prompt rendering, reading calls from the output."""
