"""Analytics: daily counters kept as traffic happens, and the portal's stats and time series."""
