"""The fixed names inside an audit package (see package.py for what each holds), and the bounds
within which verify-package reads one."""

from __future__ import annotations

from pathlib import Path

FORMAT = "aircall-audit-package/1"
MANIFEST = "package-manifest.json"
SIGNATURE = "package-manifest.sig"
SUMS = "SHA256SUMS"
EVIDENCE = "evidence"
OSCAL = "oscal/assessment-results.json"
CHECK_SCRIPT = "scripts/check-signature.sh"
SCRIPT_SOURCE = Path(__file__).resolve().parents[2] / "scripts" / "check-signature.sh"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip member times: the same inputs give the same members
# What verify-package reads at most: far above any real package, low enough that a hostile zip
# cannot make it read for ever or fill the memory.
MAX_MEMBERS = 200_000
MAX_MEMBER_BYTES = 8 * 2**30
MAX_TOTAL_BYTES = 64 * 2**30
MAX_MANIFEST_BYTES = 64 * 2**20
CHUNK = 1 << 20
STORED_EXTS = (".parquet", ".pdf", ".tsr", ".zip")  # already compressed: stored as they are
