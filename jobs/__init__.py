"""The jobs a worker runs, as plain functions: a refresh step by step, an evaluation.

Celery tasks (``workers.tasks``) and the CLI call these; nothing here imports Celery. Each
function takes the :class:`core.settings.Settings` its entry point built.
"""
