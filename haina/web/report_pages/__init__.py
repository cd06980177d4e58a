"""Dashboard pages of the reports: one module per page, each registering itself with
`haina.web.pages.register_page` when imported (listed in `haina.web.pages.PAGE_MODULES`).

A page reads its query string (period, filter bar, its own switches), runs its report through
`haina.web.report_view.run_page_report` (the API's path: same numbers, cache and guard) and
renders `templates/reports/<slug>.html`.
"""
