import hashlib
import hmac
import multiprocessing
import stat

import pytest

from aircall_pipeline.config.settings import SettingsError
from aircall_pipeline.ingest.normalize import external_number
from aircall_pipeline.ingest.pii import KEY_FILE, LEGACY_KEY_FILE, MIN_KEY_BYTES, hash_key

LONG_KEY = "k" * 40


@pytest.fixture
def home(monkeypatch, tmp_path):
    monkeypatch.delenv("AIRCALL_PII_HASH_KEY", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    return tmp_path


def test_generated_key_is_stable_private_and_independent_of_the_api_key(home):
    first = hash_key("api.aircall.io/1")
    assert len(first) >= MIN_KEY_BYTES
    # Rotating the API key (a new api id) must not change any hash.
    assert hash_key("api.aircall.io/2") == first
    key_file = home / KEY_FILE
    assert key_file.read_text().encode() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in home.iterdir()] == [KEY_FILE]  # no temporary file left behind


def test_configured_key_wins_and_is_used_as_is(home, monkeypatch):
    monkeypatch.setenv("AIRCALL_PII_HASH_KEY", LONG_KEY)
    assert hash_key("a") == LONG_KEY.encode() == hash_key("b")
    assert not (home / KEY_FILE).exists()


@pytest.mark.parametrize("value", ["short", "x" * (MIN_KEY_BYTES - 1)])
def test_a_short_configured_key_is_refused_without_showing_it(home, monkeypatch, value):
    monkeypatch.setenv("AIRCALL_PII_HASH_KEY", value)
    with pytest.raises(SettingsError, match="AIRCALL_PII_HASH_KEY") as raised:
        hash_key("a")
    assert value not in str(raised.value)


def test_an_empty_or_short_key_file_is_refused(home):
    (home / KEY_FILE).write_text("")
    with pytest.raises(SettingsError, match=KEY_FILE):
        hash_key("a")


def test_a_legacy_key_file_is_migrated_without_changing_the_hashes(home):
    legacy_secret = "9" * 64
    (home / LEGACY_KEY_FILE).write_text(legacy_secret + "\n")
    account = "api.aircall.io/ac-id-1"
    # What earlier versions hashed +33612345678 with.
    before = hmac.new(f"{legacy_secret}:{account}".encode(), b"+33612345678", hashlib.sha256).hexdigest()[:32]

    key = hash_key(account)
    assert external_number("+33 6 12 34 56 78", key)[1] == before
    # Persisted once: a rotated API key (another api id) now hashes the same.
    assert hash_key("api.aircall.io/ac-id-2") == key
    assert (home / KEY_FILE).read_text() == f"{legacy_secret}:{account}"


def _worker(home: str, queue) -> None:
    import os

    os.environ["DAGSTER_HOME"] = home
    os.environ.pop("AIRCALL_PII_HASH_KEY", None)
    queue.put(hash_key("api.aircall.io/1"))


def test_concurrent_first_runs_agree_on_one_complete_key(home):
    """Processes racing to create the key all read the same complete key, never an empty one."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(str(home), queue)) for _ in range(6)]
    for w in workers:
        w.start()
    keys = [queue.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=120)
    assert len(set(keys)) == 1 and len(keys[0]) >= MIN_KEY_BYTES
