"""planner.solve.highs."""
