"""Test helpers: real servers (servers.py, pool.py), the app in-process (inprocess.py) and the
session plugin (plugin.py)."""
