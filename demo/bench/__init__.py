"""`manage.py bench`: every hot path of the product beside a baseline doing the same work on the same data
in the same run (issue 15, "Fair bench"). One module per measure:

    nightly   each step of automation.pipeline against its hand-written set-based SQL (nightly_sql)
    claim     Next case against a raw SKIP LOCKED claim loop, 16 and 32 agents on several queues each
    import    manage.py import_accounts against COPY of the same rows into the same tables
    api       each API list against a bare DRF ListAPIView with cursor pagination (web, baseline_views)
    pages     the case page and My work against a trivial view (web)
    panels    every dashboard panel, 30 days (dashboards.bench)

`run` (demo.bench.runner) runs the chosen ones in that order - the data-changing nightly first - and
returns one report.Result per figure.
"""
