"""The web playground's static files (HTML, CSS, JavaScript), shipped as package data.

No build step and no outside resource: the page works on an offline cluster.
"""
