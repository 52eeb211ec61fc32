"""The tamper alert: one alert per object planted in the evidence, whatever the reruns and ticks.

Days are sealed by the real evidence store (local folder, the project's keygen keys), objects are
planted the way an insider with write access can (a new object, never an overwrite), and the
report's materialization carries the real `tamper_metadata` of each sealing into a real Dagster
instance; the sensor is ticked as the daemon ticks it (the cursor it left last time), and the alerts
are received by a live webhook receiver on loopback. The daemon-driven case is
test_tamper_daemon.py."""

from __future__ import annotations

import hashlib

import dagster as dg
import pytest

from aircall_pipeline.compliance.report_assets import MAX_REASON_CHARS, tamper_metadata
from aircall_pipeline.evidence.signing import load_signer, sign_manifest
from aircall_pipeline.evidence.store import EvidenceStore
from aircall_pipeline.ingest.partitions import ACCOUNT_DIM, ACCOUNTS, DATE_DIM
from aircall_pipeline.names import TAMPER_METADATA, TAMPER_SENSOR, report_key
from aircall_pipeline.operations.alerts import send_alert
from aircall_pipeline.operations.tamper_alerts import (
    REASON_LABELS,
    Rejection,
    TamperCursor,
    build_tamper_sensor,
    tamper_alert,
)
from aircall_pipeline_tests.evidence.test_integrity import D1, D2, forge_attempt_2, put, seal
from aircall_pipeline_tests.operations.jobs import SECRET_TOKEN
from aircall_pipeline_tests.partitions import pk, registered

# The report's partitions, as every asset's: one account (the registry's dynamic dimension) x one day.
PARTITIONS = dg.MultiPartitionsDefinition(
    {ACCOUNT_DIM: ACCOUNTS, DATE_DIM: dg.DailyPartitionsDefinition(start_date="2026-01-01", end_offset=1)})
FORGED = f"aircall/reports/date={D1}/manifest.attempt-2.json"
NAMED = ("acme_eu", "acme_us")


@pytest.fixture
def ticker(instance):
    """Tick the one sensor with the cursor it left last time, as the daemon does; returns the cursor."""
    registered(instance, "default", *NAMED)
    sensor = build_tamper_sensor()
    state: dict = {"cursor": None}

    def tick() -> TamperCursor:
        context = dg.build_sensor_context(instance=instance, cursor=state["cursor"])
        sensor(context)
        state["cursor"] = context.cursor
        return TamperCursor.parse(context.cursor)

    return tick


def report(instance, manifest, account: str = "default") -> dict:
    """Record a sealing as the report asset does: the materialization of the account's day (the one
    report key, partitioned by account and day), with the real tamper metadata."""
    @dg.asset(key=report_key(), partitions_def=PARTITIONS)
    def evidence_report() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"manifest": dg.MetadataValue.path(manifest.uri),
                                              **tamper_metadata(manifest.new_rejections)})

    partition = pk(manifest.date, account)
    assert dg.materialize([evidence_report], instance=registered(instance, account), partition_key=partition).success
    return tamper_metadata(manifest.new_rejections)[TAMPER_METADATA].value


def tamper_payloads(webhook) -> list[dict]:
    return [p for p in webhook.payloads if p["kind"] == "tamper"]


# ---- the alert's text -------------------------------------------------------------------------------


def test_the_alert_names_each_object_its_reason_the_day_and_what_to_do():
    objects = [Rejection(FORGED, "ab" * 32, "missing: it has no signature file"),
               Rejection(f"aircall/reports/date={D1}/manifest.attempt-3.json", "cd" * 32,
                         "foreign: it is signed by another key (SHA256:x), not the trusted key (SHA256:y)"),
               Rejection(f"aircall/reports/date={D1}/manifest.attempt-4.json", None, "malformed: the document")]
    alert = tamper_alert(D2, objects, manifest=f"/e/aircall/reports/date={D2}/manifest.json", run_id="r-1")
    assert alert.kind == "tamper" and alert.severity == "critical"
    assert D2 in alert.title and "did not write" in alert.title
    for obj in objects:
        assert f"- {obj.path}: {obj.label} ({obj.reason})" in alert.text
    assert [o.label for o in objects] == [REASON_LABELS["missing"], REASON_LABELS["foreign"], REASON_LABELS["malformed"]]
    # What to do: who can write to the bucket, then verify the days involved (the object's and the sealed one).
    assert "write access" in alert.text
    assert f"aircall-pipeline verify --date {D1} --to {D2}" in alert.text
    assert alert.details["objects"][0] == {"path": FORGED, "sha256": "ab" * 32, "reason": objects[0].reason}
    # The single account's alert names no account, and its command selects none.
    assert "account" not in alert.title and "--account" not in alert.text and alert.details["account"] is None
    # An account's alert says whose, and its command selects that account.
    named = tamper_alert(D1, objects[:1], account="acme_eu", partition=pk(D1, "acme_eu"))
    assert "account acme_eu" in named.title and named.details["account"] == "acme_eu"
    assert f"aircall-pipeline verify --account acme_eu --date {D1}`" in named.text


def test_a_hostile_reason_reaches_the_webhook_escaped_and_without_secrets(webhook):
    """A reason can quote a planted document; it is shown as text, and secrets never leave."""
    hostile = Rejection(FORGED, None, f"malformed: <!channel> token={SECRET_TOKEN} Authorization: Basic abc")
    outcome = send_alert(tamper_alert(D1, [hostile], run_id="r-1"))
    assert outcome["webhook"] == "sent"
    payload = webhook.payloads[0]
    assert payload["kind"] == "tamper" and FORGED in payload["text"]
    assert SECRET_TOKEN not in webhook.raw
    assert "<!channel>" not in webhook.raw and "&lt;!channel&gt;" in payload["text"]


def test_the_metadata_escapes_and_caps_a_reason():
    entries = tamper_metadata([{"path": FORGED, "sha256": None, "reason": "malformed: \x1b[2J" + "x" * 1000}])
    (entry,) = entries[TAMPER_METADATA].value
    assert "\x1b" not in entry["reason"] and "\\x1b" in entry["reason"]
    assert len(entry["reason"]) == MAX_REASON_CHARS


# ---- the sensor, over real sealings -----------------------------------------------------------------


def test_a_forged_unsigned_attempt_is_alerted_once(instance, ticker, local_store, signer, webhook):
    assert report(instance, seal(local_store, D1, signer, run_id="run-1")) == []
    ticker()
    assert tamper_payloads(webhook) == []  # a normal day says nothing

    forge_attempt_2(local_store, smart=True)
    resealed = seal(local_store, D1, signer, run_id="run-2")
    assert resealed.attempt == 3
    assert [r["path"] for r in report(instance, resealed)] == [FORGED]
    ticker()
    (alert,) = tamper_payloads(webhook)
    assert FORGED in alert["text"] and REASON_LABELS["missing"] in alert["text"] and D1 in alert["title"]
    assert alert["details"]["manifest"].endswith(f"date={D1}/manifest.attempt-3.json")

    ticker()  # another tick: nothing new
    # Another rerun chains to attempt 3, which recorded the object: nothing new at the data level either.
    assert report(instance, seal(local_store, D1, signer, run_id="run-3")) == []
    ticker()
    assert len(tamper_payloads(webhook)) == 1


@pytest.mark.parametrize("planted", ["foreign", "malformed"])
def test_a_foreign_signed_or_malformed_attempt_is_alerted_with_its_reason(
    planted, instance, ticker, local_store, signer, other_key_pair, webhook,
):
    seal(local_store, D1, signer)
    if planted == "foreign":
        _, body = forge_attempt_2(local_store, smart=True)
        insider = load_signer(f"file:{other_key_pair[0]}")
        put(local_store, FORGED[:-5] + ".sig", sign_manifest(insider, FORGED, body).to_json())
    else:
        put(local_store, FORGED, b'{"date": "' + D1.encode() + b'", "attempt": 2')
    report(instance, seal(local_store, D1, signer, run_id="run-2"))
    ticker()
    ticker()
    (alert,) = tamper_payloads(webhook)
    assert f"- {FORGED}: {REASON_LABELS[planted]}" in alert["text"]


def test_an_object_new_to_two_sealings_is_alerted_once(instance, ticker, local_store, signer, webhook):
    """A forged attempt of D1 is new when D2 is sealed (D1's newest attempt) and again when D1 is
    re-sealed: the data says so twice, the cursor remembers it was alerted."""
    seal(local_store, D1, signer)
    forge_attempt_2(local_store, smart=False)
    assert [r["path"] for r in report(instance, seal(local_store, D2, signer))] == [FORGED]
    ticker()
    assert [r["path"] for r in report(instance, seal(local_store, D1, signer, run_id="run-2"))] == [FORGED]
    cursor = ticker()
    (alert,) = tamper_payloads(webhook)
    assert D2 in alert["title"] and FORGED in alert["text"]
    assert any(key.startswith(FORGED + "@") for key in cursor.alerted)


def test_the_first_tick_reads_reports_sealed_before_the_sensor_started(instance, ticker, local_store, signer, webhook):
    seal(local_store, D1, signer)
    forge_attempt_2(local_store, smart=True)
    report(instance, seal(local_store, D1, signer, run_id="run-2"))
    assert TamperCursor.parse(None).after == -1
    ticker()
    assert len(tamper_payloads(webhook)) == 1


# ---- one sensor, every account ----------------------------------------------------------------------


def test_one_sensor_alerts_each_account_naming_it(instance, ticker, tmp_path, signer, webhook):
    """The accounts' reports are partitions of the one report asset: the one sensor alerts each
    account's planted object once, naming the account, its partition and its own verify command;
    an account whose sealing found nothing says nothing."""
    stores = {name: EvidenceStore.from_uri(tmp_path / name) for name in (*NAMED, "quiet")}
    for name, store in stores.items():
        seal(store, D1, signer)
        if name != "quiet":
            forge_attempt_2(store, smart=True)
        report(instance, seal(store, D1, signer, run_id=f"run-2-{name}"), name)
    ticker()
    ticker()
    alerts = {a["details"]["account"]: a for a in tamper_payloads(webhook)}
    assert sorted(alerts) == sorted(NAMED)
    for name in NAMED:
        alert = alerts[name]
        assert f"account {name}" in alert["title"] and D1 in alert["title"] and FORGED in alert["text"]
        assert f"aircall-pipeline verify --account {name} --date {D1}" in alert["text"]
        assert alert["details"]["partition"] == D1
        assert alert["details"]["manifest"].startswith(str(tmp_path / name))


def test_the_same_object_planted_in_two_accounts_is_alerted_for_each(instance, ticker, tmp_path, signer, webhook):
    """Byte-identical objects in two accounts' stores are two plantings: what the cursor remembers
    as alerted for one account does not silence the other."""
    planted = b'{"date": "' + D1.encode() + b'", "attempt": 2'
    for name in NAMED:
        store = EvidenceStore.from_uri(tmp_path / name)
        seal(store, D1, signer)
        put(store, FORGED, planted)
        report(instance, seal(store, D1, signer, run_id="run-2"), name)
        ticker()
    alerts = tamper_payloads(webhook)
    assert sorted(a["details"]["account"] for a in alerts) == sorted(NAMED)
    assert {a["details"]["objects"][0]["sha256"] for a in alerts} == {hashlib.sha256(planted).hexdigest()}
    ticker()
    assert len(tamper_payloads(webhook)) == 2


def test_the_single_account_and_a_named_one_share_the_sensor(instance, ticker, local_store, tmp_path, signer, webhook):
    seal(local_store, D1, signer)
    forge_attempt_2(local_store, smart=True)
    report(instance, seal(local_store, D1, signer, run_id="run-2"))
    eu = EvidenceStore.from_uri(tmp_path / "acme_eu")
    seal(eu, D1, signer)
    forge_attempt_2(eu, smart=False)
    report(instance, seal(eu, D2, signer), "acme_eu")
    cursor = ticker()
    single, named = tamper_payloads(webhook)
    assert single["details"]["account"] is None and "account" not in single["title"]
    assert f"aircall-pipeline verify --date {D1}`" in single["text"] and "--account" not in single["text"]
    assert named["details"]["account"] == "acme_eu" and "account acme_eu" in named["title"] and D2 in named["title"]
    assert f"aircall-pipeline verify --account acme_eu --date {D1} --to {D2}" in named["text"]
    # The cursor remembers the single account's objects by their bare key (as before accounts were
    # data, so its cursor carries over) and a named account's under its name.
    assert sorted(k.split("@")[0] for k in cursor.alerted) == sorted([FORGED, f"acme_eu:{FORGED}"])
    assert build_tamper_sensor().name == TAMPER_SENSOR
