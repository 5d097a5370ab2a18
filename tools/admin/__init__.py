"""Tenant administration: `python -m recengine.admin` creates tenants, rotates and revokes API keys, changes plans."""
