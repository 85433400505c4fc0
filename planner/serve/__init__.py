"""The what-if explorer (`friendshore serve`): a small Starlette app that keeps one persistent model
per browser session, re-solves it as the analyst moves a policy control, and draws the plan with the
HTML report's own sections (planner/report). See docs/explorer.md."""
