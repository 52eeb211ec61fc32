"""Evidence in a local folder: exclusive creation by hard link (never replacing a file), reads that
refuse symlinks, FIFOs and devices, and a listing that says what each name is."""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from aircall_pipeline.evidence.errors import EvidenceStoreError, NotRegularFile, ObjectMissing, ObjectTooLarge
from aircall_pipeline.evidence.layout import safe_relpath
from aircall_pipeline.evidence.objects import CHUNK, Blob, ObjectInfo, ReadsWhole


def _kind_of(mode: int) -> str:
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISLNK, "symlink"), (stat.S_ISFIFO, "fifo"),
                       (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "device"), (stat.S_ISBLK, "device"),
                       (stat.S_ISDIR, "directory")):
        if test(mode):
            return name
    return "special file"


class LocalBackend(ReadsWhole):
    def __init__(self, root: Path):
        self.root = root
        self.uri = str(root)
        self._real_root = os.path.realpath(root)

    def read(self, key: str, limit: int | None = None) -> tuple[ObjectInfo, Iterator[bytes]]:
        """The object's info and its bytes in chunks, from one open (a local file has no lock). With
        `limit`, at most limit + 1 bytes are read (a file may grow after its size was taken)."""
        fh = self.open_seekable(key)
        size = os.fstat(fh.fileno()).st_size
        if limit is not None and size > limit:
            fh.close()
            raise ObjectTooLarge(self.full_uri(key), limit)

        def chunks() -> Iterator[bytes]:
            left = None if limit is None else limit + 1
            with fh:
                while left is None or left > 0:
                    chunk = fh.read(CHUNK if left is None else min(CHUNK, left))
                    if not chunk:
                        break
                    if left is not None:
                        left -= len(chunk)
                    yield chunk

        return ObjectInfo(size), chunks()

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*safe_relpath(key).split("/"))

    def full_uri(self, key: str) -> str:
        return str(self._path(key))

    def put_if_absent(self, key: str, data: bytes | Blob) -> bool:
        blob = Blob.of(data)
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                return False
            tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
            with open(tmp, "xb") as fh:
                shutil.copyfileobj(blob.open(), fh, CHUNK)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)  # atomic and exclusive: fails if the name exists
            except FileExistsError:
                return False
            except OSError:
                # Hard links unsupported here (some network/FUSE filesystems): exclusive create.
                try:
                    with open(path, "xb") as fh:
                        shutil.copyfileobj(blob.open(), fh, CHUNK)
                        fh.flush()
                        os.fsync(fh.fileno())
                except FileExistsError:
                    return False
            finally:
                tmp.unlink(missing_ok=True)
            # A reminder to humans and tools that evidence is not edited in place.
            os.chmod(path, 0o444)
            return True
        except (NotADirectoryError, FileExistsError) as exc:
            raise EvidenceStoreError(
                f"cannot create {path}: a parent of it is a file, not a folder ({exc.strerror}); "
                "fix EVIDENCE_URI or move that file away",
                kind="access_denied",
                uri=str(path),
            ) from None
        except PermissionError:
            raise EvidenceStoreError(
                f"permission denied writing {path}: give the pipeline's user write access to "
                f"{self.root} (or fix EVIDENCE_URI)",
                kind="access_denied",
                uri=str(path),
            ) from None
        except OSError as exc:
            raise EvidenceStoreError(
                f"cannot write {path}: {exc.strerror or exc}", kind="storage", uri=str(path)
            ) from None

    def stat(self, key: str) -> ObjectInfo:
        with self.open_seekable(key) as fh:
            return ObjectInfo(os.fstat(fh.fileno()).st_size)

    def open_seekable(self, key: str) -> BinaryIO:
        """The regular file at `key`, opened without following a symlink and without blocking on a
        FIFO; anything but a regular file is refused (NotRegularFile) before a byte is read."""
        path = self._path(key)
        try:
            if os.path.realpath(path.parent) != os.path.join(self._real_root, *key.split("/")[:-1]):
                raise NotRegularFile(str(path), "path through a symlinked folder")
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectMissing(str(path)) from None
        except PermissionError:
            raise EvidenceStoreError(
                f"permission denied reading {path}: give the pipeline's user read access",
                kind="access_denied",
                uri=str(path),
            ) from None
        except OSError as exc:
            if os.path.islink(path):
                raise NotRegularFile(str(path), "symlink") from None
            raise EvidenceStoreError(f"cannot read {path}: {exc.strerror or exc}", kind="storage",
                                     uri=str(path)) from None
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise NotRegularFile(str(path), _kind_of(mode))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")

    def head(self, key: str) -> int | None:
        path = self._path(key)
        try:
            return path.stat().st_size if path.is_file() else None
        except OSError:
            return None

    def list(self, prefix: str) -> list[str]:
        return [key for key, kind in self.entries(prefix)
                if kind == "file" and not any(part.startswith(".") for part in key.split("/"))]

    def entries(self, prefix: str) -> list[tuple[str, str]]:
        base = self._path(prefix)
        if base.is_file():
            raise EvidenceStoreError(
                f"{base} is a file where the evidence layout needs a folder; fix EVIDENCE_URI",
                kind="invalid_uri",
                uri=str(base),
            )
        if base.is_symlink() or not base.is_dir():
            return []
        out: list[tuple[str, str]] = []
        pending = [base]
        while pending:  # an explicit stack: no recursion, and symlinked folders are not entered
            folder = pending.pop()
            rel = folder.relative_to(self.root).as_posix()
            try:
                listing = list(os.scandir(folder))
            except OSError as exc:
                raise EvidenceStoreError(
                    f"cannot list {folder}: {exc.strerror or exc}; give the pipeline's user read access",
                    kind="access_denied", uri=str(folder)) from None
            for entry in listing:
                try:
                    mode = entry.stat(follow_symlinks=False).st_mode
                except FileNotFoundError:
                    continue  # gone since the listing (a writer's temporary file, published or removed)
                if stat.S_ISDIR(mode):
                    pending.append(Path(entry.path))
                else:
                    out.append((f"{rel}/{entry.name}", _kind_of(mode)))
        return sorted(out)
