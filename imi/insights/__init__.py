"""Insights: answers computed from the link graph (delivery metrics, stale work, change impact)."""
