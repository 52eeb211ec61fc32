"""The alert sensors of the code location, one module each (see alerts.py for the sinks).

What went wrong with a run, and what to do about it, is worked out in failures.py (shared with
`aircall-pipeline run`), and what one run's alert says in run_alerts.py; each sensor module only reads
the instance, builds its alerts and keeps its cursor.

- `aircall_run_failure_alert` (failure_sensor.py): one alert per failed run, classified by
  `failures.diagnose` from the run's events (kinds `config`, `auth`, `rate_limit`, `s3`,
  `check_failed`, `other`), with the failures of several accounts of one kind within
  ALERT_GROUP_WAIT_SECONDS grouped into one alert (alert_groups.py). Runs tagged
  `dagster/will_retry=true` are skipped: the run-retry daemon will try again and the last attempt alerts.
- `aircall_failed_check_alert` (check_sensor.py): a successful run whose *non-blocking* checks failed,
  one alert for the whole run (check_alerts.py).
- `aircall_evidence_freshness` (freshness_sensor.py): the newest evidence report is older than the
  freshness policy -> one `stale` alert per staleness episode (the cursor remembers it).
- `aircall_tamper_alert` (tamper_alerts.py): one `tamper` alert per object that sealing found in the
  evidence and the pipeline did not write.
- `aircall_schedule_failure_alert` (schedule_failure_sensor.py): a tick of the daily scheduler that
  failed before creating a run.
"""

from __future__ import annotations

import dagster as dg

from aircall_pipeline.operations.check_sensor import build_failed_check_alert_sensor
from aircall_pipeline.operations.failure_sensor import build_run_failure_alert_sensor
from aircall_pipeline.operations.freshness_sensor import build_freshness_sensor
from aircall_pipeline.operations.schedule_failure_sensor import build_schedule_failure_sensor
from aircall_pipeline.operations.tamper_alerts import build_tamper_sensor

run_failure_alert_sensor = build_run_failure_alert_sensor()
failed_check_alert_sensor = build_failed_check_alert_sensor()


def run_sensors() -> list[dg.SensorDefinition]:
    """The sensors that watch every run of the code location, whichever account it belongs to."""
    return [run_failure_alert_sensor, failed_check_alert_sensor]


def account_sensors() -> list[dg.SensorDefinition]:
    """The sensors over every account's evidence: freshness, the scheduler's failed ticks, and
    objects in the evidence that the pipeline did not write (tamper_alerts.py); one of each."""
    return [build_freshness_sensor(), build_schedule_failure_sensor(), build_tamper_sensor()]
