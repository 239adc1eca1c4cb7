"""Scenarios: bring a lab up, drive traffic, capture on its segments, assert from the captures, report."""
