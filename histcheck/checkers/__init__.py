"""Checkers: what judges a history (linearizability, sets, counters, banks, Elle's transactional anomalies)."""
