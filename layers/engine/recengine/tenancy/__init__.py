"""Tenancy: tenants, their plans, and the API keys that identify them."""
