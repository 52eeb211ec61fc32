"""The registry sensor, `aircall_account_registry`: the accounts file -> the `aircall_accounts`
dynamic partitions.

Every tick reads the registry (the accounts file, or the single account of the AIRCALL_* variables)
and adds the accounts that are not partitions yet, so an account added to the file (or to its
ConfigMap) is live at the next tick, without reloading the code location: the definitions do not
depend on the accounts. An account removed from the file is never deleted from the partitions: its
materializations and evidence stay, it shows as `removed` (`aircall-pipeline accounts`) and is no
longer scheduled. Unusable settings fail the tick (the run-failure and scheduler-failure alerts say
why); nothing is removed then either.
"""

from __future__ import annotations

import dagster as dg

from aircall_pipeline.names import ACCOUNTS_PARTITIONS, REGISTRY_SENSOR

REGISTRY_INTERVAL_SECONDS = 60


def registry_requests(accounts, registered: set[str]) -> list[dg.AddDynamicPartitionsRequest]:
    new = [a.key for a in accounts if a.key not in registered]
    return [dg.AddDynamicPartitionsRequest(ACCOUNTS_PARTITIONS, new)] if new else []


def build_registry_sensor(*, minimum_interval_seconds: int = REGISTRY_INTERVAL_SECONDS) -> dg.SensorDefinition:
    @dg.sensor(
        name=REGISTRY_SENSOR,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Adds the accounts of the accounts file to the aircall_accounts partitions as they appear "
                    "(no reload needed); a removed account keeps its partition and evidence.",
    )
    def _registry(context: dg.SensorEvaluationContext):
        from aircall_pipeline.registry import current_settings

        accounts = current_settings().accounts
        registered = set(context.instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS))
        requests = registry_requests(accounts, registered)
        if not requests:
            return dg.SkipReason(f"{len(accounts)} account(s), all registered")
        return dg.SensorResult(dynamic_partitions_requests=requests)

    return _registry
