"""Notices: subject emails and authority reports rendered from the incident, delivered through an outbox."""
