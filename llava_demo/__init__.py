"""The demo model: visual instruction tuning in miniature, on synthetic scenes, trained here."""
