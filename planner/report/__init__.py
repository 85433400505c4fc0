"""The HTML report: a reader of an output folder against the results' table schema (reader.py),
the page with its section registry (page.py), the solve sections (solve_sections.py) and the study
sections (study_sections.py), both registered on import here, so any use of the package has them,
inline SVG charts (svg.py) and the page's assets (assets.py)."""

from planner.report import explain_sections, page, period_sections, solve_sections, study_sections, trust_sections  # noqa: F401  (the sections register themselves)
