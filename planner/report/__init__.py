"""The HTML report: a reader of an output folder against the results' table schema, the page with
its section registry (page.py), the study sections (study_sections.py, registered on import here,
so any use of the package has them), inline SVG charts and the page's assets."""

from planner.report import page, study_sections  # noqa: F401  (study_sections registers its sections)
