"""journeymap's library: journey models, landing readers, mining metrics and the journey map.

It never imports Dagster or ``pipelines``, so it works from a notebook or another orchestrator.
"""
