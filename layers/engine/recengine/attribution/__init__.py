"""Attribution: exposures (served lists) and outcomes (interactions naming a served list), with
pseudonymous user keys; exported for the offline report (tools/attribution)."""
