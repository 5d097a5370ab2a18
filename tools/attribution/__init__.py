"""Attribution reports: `python -m tools.attribution validate | report | export`."""
