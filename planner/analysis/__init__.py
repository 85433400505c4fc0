"""planner.analysis."""
