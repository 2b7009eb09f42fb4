"""Nijkamp's diagnostics have no params section and no configured jobs: the rule reads other
studies' history.csv files (kept so that every study has the same modules)."""

JOBS: dict = {}
