"""AWS plumbing shared by every domain's stores: lazy injectable clients and DynamoDB helpers."""
