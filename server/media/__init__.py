"""image_url -> bytes (data: URLs, http(s) fetches) -> a checked, decoded PIL image."""
