"""Catalogue: the tenant's items, their metadata and active flag."""
