"""planner.results."""
