"""Offline tools that import the engine layer but never ship in it: the admin and training CLIs,
offline evaluation, attribution reports."""
