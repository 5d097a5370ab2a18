"""Billing: plans, metering with the overage cap, item and user limits, usage, invoices, checkout."""
