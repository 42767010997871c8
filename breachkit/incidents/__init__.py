"""Incidents: the legal clocks (this step), later the store, playbooks, risk assessment and timeline."""
