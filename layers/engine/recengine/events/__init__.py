"""Events: interactions, sessions, idempotency by event id, seen users."""
