"""Celery tasks record their changes as source=job, with the task's name and, as the request id, the
task's id: connected to the task_prerun / task_postrun signals, so that every task of every app is covered
without a decorator to forget."""

from __future__ import annotations

from celery import signals

from history.context import job_context

_open: dict[str, object] = {}


def _task_started(task_id=None, task=None, **kwargs) -> None:
    opened = job_context(task.name if task else "task", request_id=task_id)
    opened.__enter__()
    _open[task_id] = opened


def _task_finished(task_id=None, **kwargs) -> None:
    opened = _open.pop(task_id, None)
    if opened is not None:
        opened.__exit__(None, None, None)


def connect() -> None:
    signals.task_prerun.connect(_task_started, weak=False, dispatch_uid="history_task_started")
    signals.task_postrun.connect(_task_finished, weak=False, dispatch_uid="history_task_finished")
