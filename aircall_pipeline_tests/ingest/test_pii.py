import stat

from aircall_pipeline.ingest.pii import hash_key


def test_generated_key_is_stable_private_and_per_account(monkeypatch, tmp_path):
    monkeypatch.delenv("AIRCALL_PII_HASH_KEY", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    first = hash_key("api.aircall.io/1")
    assert hash_key("api.aircall.io/1") == first
    assert hash_key("api.aircall.io/2") != first
    key_file = tmp_path / "aircall_pii_hash.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_configured_key_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("AIRCALL_PII_HASH_KEY", "shared-by-every-pod")
    assert hash_key("a") == b"shared-by-every-pod:a"
    assert not (tmp_path / "aircall_pii_hash.key").exists()
