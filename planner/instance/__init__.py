"""planner.instance."""
