from datetime import date

from django.core.management.base import BaseCommand, CommandError

from automation import pipeline as nightly
from automation.models import RunStatus
from automation.tasks import nightly_start


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--date must be YYYY-MM-DD; got {value!r}") from None


class Command(BaseCommand):
    help = (
        "Run the nightly pipeline for a business date in this process (steps already finished for the "
        "date by an earlier run are skipped). Prints each step's counts; exits 1 if a step failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", type=_date, help="the business date (default: today in TIME_ZONE)")
        parser.add_argument(
            "--step",
            action="append",
            choices=nightly.STEP_NAMES,
            help="run only this step (repeatable); the others are left for a later run",
        )
        parser.add_argument(
            "--again",
            action="store_true",
            help="run the steps even if they are done for the date (they are idempotent: nothing changes)",
        )
        parser.add_argument(
            "--queue", action="store_true", help="queue the run on the Celery 'nightly' queue instead"
        )

    def handle(self, *args, date, step, again, queue, **options):
        if queue:
            nightly_start.delay(date.isoformat() if date else None, trigger="command")
            self.stdout.write("Queued on the 'nightly' queue; see /automation/runs/.")
            return
        try:
            run = nightly.run_pipeline(as_of=date, trigger="command", again=again, only=step)
        except nightly.RunInProgress as exc:
            raise CommandError(f"Not started: {exc}") from None
        for row in run.steps.all():
            seconds = f"{row.duration_seconds:.2f}s" if row.duration_seconds is not None else "-"
            detail = row.note or ", ".join(
                f"{k}={v}" for k, v in row.counts.items() if not isinstance(v, dict | list)
            )
            self.stdout.write(f"  {row.name:<20} {row.status:<10} {seconds:>9}  {detail}")
            if row.error:
                self.stderr.write(row.error)
        total = f"{run.duration_seconds:.2f}s" if run.duration_seconds is not None else "-"
        line = f"Run #{run.pk} for {run.run_date}: {run.status} in {total}"
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(line + (f" ({run.error})" if run.error else ""))
        self.stdout.write(self.style.SUCCESS(line))
