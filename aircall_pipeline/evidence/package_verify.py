"""`verify_package`: an audit package checked offline, against the trusted key alone: the manifest's
signature, every member's size and hash, no member missing or added, no unsafe name (absolute,
`..`, backslash, duplicate, link or folder entry), bounded sizes. It reports; it never raises for
what the file holds."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aircall_pipeline.evidence.package_layout import (
    CHUNK,
    FORMAT,
    MANIFEST,
    MAX_MANIFEST_BYTES,
    MAX_MEMBER_BYTES,
    MAX_MEMBERS,
    MAX_TOTAL_BYTES,
    SIGNATURE,
)
from aircall_pipeline.evidence.schemas import MAX_DOCUMENT_BYTES
from aircall_pipeline.evidence.signing import TrustedKey, check_signature


@dataclass
class PackageCheck:
    path: str
    trusted_key: str
    signature: str = "not checked"
    members: int = 0
    problems: list[str] = field(default_factory=list)
    period: str = ""

    @property
    def valid(self) -> bool:
        return self.signature == "valid" and not self.problems

    def lines(self) -> list[str]:
        from aircall_pipeline.evidence.verify import shown

        out = [f"package:  {self.path}", f"trusted:  {self.trusted_key}"]
        if self.period:
            out.append(f"period:   {self.period}")
        out.append(f"signature: {self.signature}")
        out += [f"problem:  {p}" for p in self.problems[:200]]
        if len(self.problems) > 200:
            out.append(f"problem:  … and {len(self.problems) - 200} more")
        out.append("verdict:  " + (f"VALID: {self.members} members, every one as the signed manifest lists it, "
                                   f"signed by the trusted key" if self.valid else
                                   f"NOT VERIFIED: {len(self.problems)} problem(s)"))
        return [shown(line) for line in out]

    def as_dict(self) -> dict[str, Any]:
        return {"package": self.path, "trusted_key": self.trusted_key, "signature": self.signature,
                "members": self.members, "period": self.period, "problems": self.problems, "valid": self.valid}


def unsafe_name(name: str) -> str | None:
    """Why a member name cannot be extracted safely, or None."""
    if not name or name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        return "an absolute or Windows path"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return "a control character in the name"
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "a `..`, `.` or empty path component (or a folder entry)"
    return None


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    with zf.open(info) as fh:
        data = fh.read(cap + 1)
    if len(data) > cap:
        raise ValueError(f"larger than {cap} bytes")
    return data


def _member_hash(zf: zipfile.ZipFile, info: zipfile.ZipInfo, declared: int) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with zf.open(info) as fh:
        while chunk := fh.read(min(CHUNK, declared + 1 - size) or 1):
            digest.update(chunk)
            size += len(chunk)
            if size > declared:
                break
    return digest.hexdigest(), size


def verify_package(path: str | os.PathLike[str], trusted: TrustedKey) -> PackageCheck:
    """Check the package at `path` offline against `trusted`; never raises for what the file holds."""
    check = PackageCheck(str(path), trusted.key_fingerprint)
    try:
        _verify(Path(path), trusted, check)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError, KeyError,
            NotImplementedError, RuntimeError) as exc:
        check.problems.append(f"the package cannot be read as a zip ({type(exc).__name__}: {exc})")
    except Exception as exc:  # noqa: BLE001 - the last guard: a verdict, never a traceback
        check.problems.append(f"INTERNAL ERROR ({type(exc).__name__}): the file is not a package this project "
                              "writes; please report it")
    return check


def _verify(path: Path, trusted: TrustedKey, check: PackageCheck) -> None:
    if not path.is_file() or path.is_symlink():
        raise OSError(f"{path} is not a regular file")
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            check.problems.append(f"{len(infos)} members: more than the {MAX_MEMBERS} a package may hold")
            return
        by_name: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            why = unsafe_name(info.filename)
            kind = stat.S_IFMT(info.external_attr >> 16)  # 0: no type recorded (Python's writestr)
            if why is None and kind and kind != stat.S_IFREG:
                why = "not a regular file (a link, folder or device entry)"
            if why is None and info.filename in by_name:
                why = "a second member with the same name"
            if why is None and info.file_size > MAX_MEMBER_BYTES:
                why = f"larger than {MAX_MEMBER_BYTES} bytes"
            if why:
                check.problems.append(f"REFUSED member {info.filename!r}: {why}; nothing was extracted")
            else:
                by_name[info.filename] = info
        if check.problems:
            return
        if sum(i.file_size for i in infos) > MAX_TOTAL_BYTES:
            check.problems.append(f"the members hold more than {MAX_TOTAL_BYTES} bytes")
            return
        if MANIFEST not in by_name:
            check.problems.append(f"MISSING {MANIFEST}: not a package")
            return
        if by_name[MANIFEST].file_size > MAX_MANIFEST_BYTES:
            check.problems.append(f"{MANIFEST} is larger than {MAX_MANIFEST_BYTES} bytes")
            return
        raw = _read_member(zf, by_name[MANIFEST], MAX_MANIFEST_BYTES)
        signature = _read_member(zf, by_name[SIGNATURE], MAX_DOCUMENT_BYTES) if SIGNATURE in by_name else None
        sig = check_signature(MANIFEST, raw, signature, trusted)
        check.signature = sig.state if sig.valid else f"{sig.state.upper()} ({sig.reason})"
        if not sig.valid:
            check.problems.append(f"the package manifest is not signed by the trusted key: {sig.reason}")
            return  # nothing it lists can be relied on
        manifest = json.loads(raw)
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(
                manifest.get("members"), list):
            check.problems.append(f"{MANIFEST} is not a {FORMAT} manifest")
            return
        check.period = f"{manifest.get('from')} .. {manifest.get('to')} ({len(manifest.get('days') or [])} days)"
        listed: dict[str, dict[str, Any]] = {}
        for member in manifest["members"]:
            name = member.get("path") if isinstance(member, dict) else None
            if not isinstance(name, str) or unsafe_name(name) or name in listed or name in (MANIFEST, SIGNATURE):
                check.problems.append(f"the manifest lists an unusable member {name!r}")
                continue
            listed[name] = member
        for name in sorted(set(by_name) - set(listed) - {MANIFEST, SIGNATURE}):
            check.problems.append(f"UNLISTED {name}: in the package, but not in its signed manifest")
        for name in sorted(listed):
            member, info = listed[name], by_name.get(name)
            if info is None:
                check.problems.append(f"MISSING {name}: listed in the signed manifest, not in the package")
                continue
            declared = member.get("bytes")
            if not isinstance(declared, int) or info.file_size != declared:
                check.problems.append(f"ALTERED {name}: {info.file_size} bytes, the manifest says {declared}")
                continue
            try:
                sha, size = _member_hash(zf, info, declared)
            except (zipfile.BadZipFile, ValueError, EOFError, OSError, zlib_error()) as exc:
                check.problems.append(f"ALTERED {name}: cannot be read ({type(exc).__name__}: {exc})")
                continue
            if size != declared or sha != member.get("sha256"):
                check.problems.append(f"ALTERED {name}: sha256 {sha[:16]}…, the manifest says "
                                      f"{str(member.get('sha256'))[:16]}…")
        check.members = len(by_name)


def zlib_error() -> type[Exception]:
    import zlib

    return zlib.error
