"""planner.study.core."""
