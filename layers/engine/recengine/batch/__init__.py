"""Batch generation: precomputed recommendation lists for a tenant's users, generated on demand
or nightly, in idempotent chunks fanned out to a worker."""
