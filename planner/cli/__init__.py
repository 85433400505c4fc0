"""planner.cli.app."""
