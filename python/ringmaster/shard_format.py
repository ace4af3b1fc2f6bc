"""The on-disk checkpoint format of Swift's ``Checkpointing`` module, in the standard library.

Layout (``CheckpointLayout.swift``)::

    <dir>/step-<N>/rank-<R>/<blob file>.bin …   one file per named blob
    <dir>/step-<N>/rank-<R>/MANIFEST.json       {step, rank, worldSize, files: [{name, bytes, sha256}],
                                                 dataPosition, rngState}
    <dir>/step-<N>/COMMITTED                    {step, worldSize, committedAt (ISO 8601)[, job]}

A shard is complete or absent (``ShardWriter.swift``): files are written into a hidden
``.rank-R.partial-XXXXXXXX`` folder, each as temp file → write → fsync → rename
(``DurableFile.swift``), the manifest last, the folder fsynced, renamed to ``rank-R``, and the
step folder fsynced. Blob names become file names with everything but ASCII letters, digits and
``._-`` escaped as ``%XX``, plus ``.bin``. ``COMMITTED`` and ``prune`` follow ``CommitMarker.swift``:
the marker is removed before its step folder, so a half-removed step never looks committed.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import re
import shutil
import uuid
from typing import Any, BinaryIO, Callable, Dict, Iterator, List, Optional

from .errors import CheckpointError

__all__ = [
    "CORRUPT_EXIT_CODE", "ShardCorrupt", "ShardMissing", "file_name", "step_dir", "rank_dir", "commit_marker",
    "steps", "committed_steps", "rank_folders", "write_durable", "open_durable", "sync_directory", "ShardWriter",
    "verify_shard", "read_manifest", "write_commit_marker", "read_commit_marker", "commit_world_size", "prune",
]

#: Exit status of a rank whose resume shard fails verification (CheckpointError.corruptExitCode).
CORRUPT_EXIT_CODE = 86
MANIFEST = "MANIFEST.json"
_CHUNK = 8 << 20


class ShardCorrupt(CheckpointError):
    """A file of a shard is missing, truncated or its SHA-256 differs from the manifest."""

    def __init__(self, step: int, file: str, why: str):
        self.step, self.file, self.why = step, file, why
        super().__init__(f"checkpoint step {step} is corrupt: {file} {why} — resume from an older committed step "
                         f"(exit {CORRUPT_EXIT_CODE} tells the controller to fall back)")


class ShardMissing(CheckpointError):
    """No complete shard of a rank exists for a step."""

    def __init__(self, step: int, rank: int, directory: str):
        self.step, self.rank, self.directory = step, rank, directory
        super().__init__(f"no complete shard of rank {rank} for step {step} in {directory} — was the step committed?")


# ---- names ---------------------------------------------------------------------------------------

_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def file_name(name: str) -> str:
    """The file of blob ``name`` (``ShardWriter.fileName(for:)``)."""
    return "".join(c if c in _PLAIN else "%%%02X" % ord(c) for c in name) + ".bin"


def step_dir(root: str, step: int) -> str:
    return f"{root}/step-{step}"


def rank_dir(root: str, step: int, rank: int) -> str:
    return f"{step_dir(root, step)}/rank-{rank}"


def commit_marker(root: str, step: int) -> str:
    return f"{step_dir(root, step)}/COMMITTED"


_NUMBERED = re.compile(r"[+-]?[0-9]+")


def _numbered(names: List[str], prefix: str) -> List[int]:
    return sorted(int(n[len(prefix):]) for n in names if n.startswith(prefix) and _NUMBERED.fullmatch(n[len(prefix):]))


def steps(root: str) -> List[int]:
    """Steps with a ``step-<N>`` folder, ascending (committed or not)."""
    try:
        return _numbered(os.listdir(root), "step-")
    except OSError:
        return []


def committed_steps(root: str) -> List[int]:
    """Steps with a ``COMMITTED`` marker, ascending."""
    return [s for s in steps(root) if os.path.exists(commit_marker(root, s))]


def rank_folders(step_path: str) -> List[int]:
    """Ranks with a published ``rank-<R>`` folder in a step folder (hidden partial folders excluded)."""
    try:
        return _numbered(os.listdir(step_path), "rank-")
    except OSError:
        return []


# ---- durable files -------------------------------------------------------------------------------

class _HashingWriter:
    """A write-only file object that hashes and counts what passes through it."""

    def __init__(self, file: BinaryIO):
        self._file = file
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        self.sha256.update(view)
        self.bytes += len(view)
        return self._file.write(view)

    def flush(self) -> None:
        self._file.flush()

    def writable(self) -> bool:
        return True


@contextlib.contextmanager
def open_durable(path: str) -> Iterator[_HashingWriter]:
    """Writes ``path`` atomically and durably: the body writes to ``path.tmp``, which is fsynced and
    renamed over ``path`` on success and removed on failure. The writer's ``bytes`` and ``sha256``
    describe what was written."""
    temp = path + ".tmp"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as e:
        raise _write_failed(temp, e) from e
    try:
        with os.fdopen(fd, "wb", buffering=_CHUNK) as file:
            writer = _HashingWriter(file)
            yield writer
            file.flush()
            if os.fstat(file.fileno()).st_size != writer.bytes:
                # Something seeked and rewrote: hash what is really on disk.
                writer.sha256, writer.bytes = _hash_file(temp)
            os.fsync(file.fileno())
        os.rename(temp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(e, OSError):
            raise _write_failed(path, e) from e
        raise


def write_durable(path: str, data: bytes) -> str:
    """Writes ``data`` to ``path`` atomically and durably; returns its SHA-256 (hex)."""
    with open_durable(path) as w:
        for start in range(0, len(data), _CHUNK):
            w.write(memoryview(data)[start:start + _CHUNK])
    return w.sha256.hexdigest()


def sync_directory(path: str) -> None:
    """fsync of a directory, so the names created or renamed in it are durable."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as e:
        raise _write_failed(path, e) from e
    try:
        os.fsync(fd)
    except OSError as e:
        raise _write_failed(path, e) from e
    finally:
        os.close(fd)


def _make_directory(path: str) -> bool:
    """Creates ``path`` (and parents); True when it did not exist before."""
    if os.path.isdir(path):
        return False
    for attempt in range(3):
        try:
            os.makedirs(path, exist_ok=True)
            return True
        except FileNotFoundError as e:
            # A parent removed meanwhile (another rank's failed save removing the step folder it left empty).
            if attempt == 2:
                raise _write_failed(path, e) from e
        except OSError as e:
            raise _write_failed(path, e) from e
    return True


def _write_failed(path: str, error: OSError) -> CheckpointError:
    reason = os.strerror(error.errno) if error.errno else str(error)
    return CheckpointError(f"cannot write {path}: {reason} — check free space and permissions")


def _hash_file(path: str):
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(_CHUNK)
            if not chunk:
                return digest, size
            digest.update(chunk)
            size += len(chunk)


# ---- shards --------------------------------------------------------------------------------------

class ShardWriter:
    """Writes one rank's shard of one step, complete or not at all.

    ``with ShardWriter(root, step, rank, world_size) as shard:`` then ``shard.add_bytes(name, data)``
    or ``with shard.add_stream(name) as f: …`` for each blob, and ``shard.finish(...)`` to publish.
    Leaving the block without ``finish`` (an exception: a full disk) removes the hidden partial folder, and
    the step folder when it is left empty."""

    def __init__(self, root: str, step: int, rank: int, world_size: int,
                 after_file: Optional[Callable[[str], None]] = None):
        self.root, self.step, self.rank, self.world_size = root, step, rank, world_size
        self.after_file = after_file
        self.files: List[Dict[str, Any]] = []
        self.partial: Optional[str] = None
        self.published = False

    def __enter__(self) -> "ShardWriter":
        folder = step_dir(self.root, self.step)
        created = _make_directory(folder)
        try:
            if created:
                sync_directory(os.path.dirname(os.path.abspath(folder)))
            self.partial = f"{folder}/.rank-{self.rank}.partial-{uuid.uuid4().hex[:8].upper()}"
            _make_directory(self.partial)
        except BaseException:
            self._discard()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if not self.published:
            self._discard()
        return False

    def _discard(self) -> None:
        """Removes what an unfinished shard wrote: its partial folder, and the step folder when nothing else
        is in it (other ranks' shards of the step stay)."""
        if self.partial is not None:
            shutil.rmtree(self.partial, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.rmdir(step_dir(self.root, self.step))

    def _record(self, name: str, size: int, digest: str) -> None:
        if any(f["name"] == name for f in self.files):
            raise ValueError(f"blob {name!r} added twice to the shard of step {self.step}")
        self.files.append({"name": name, "bytes": size, "sha256": digest})
        if self.after_file is not None:
            self.after_file(file_name(name))

    def add_bytes(self, name: str, data: bytes) -> None:
        digest = write_durable(f"{self.partial}/{file_name(name)}", data)
        self._record(name, len(data), digest)

    @contextlib.contextmanager
    def add_stream(self, name: str) -> Iterator[_HashingWriter]:
        with open_durable(f"{self.partial}/{file_name(name)}") as writer:
            yield writer
        self._record(name, writer.bytes, writer.sha256.hexdigest())

    def finish(self, data_position: int = 0, rng_state: Optional[List[int]] = None) -> str:
        """Writes the manifest, publishes the folder as ``rank-R``; returns its path."""
        manifest = {
            "step": self.step, "rank": self.rank, "worldSize": self.world_size,
            "files": sorted(self.files, key=lambda f: f["name"]),
            "dataPosition": int(data_position), "rngState": [int(w) for w in (rng_state or [])],
        }
        write_durable(f"{self.partial}/{MANIFEST}", json.dumps(manifest, indent=2, sort_keys=True).encode())
        sync_directory(self.partial)
        final = rank_dir(self.root, self.step, self.rank)
        if os.path.exists(final):
            # Replace the shard an earlier attempt wrote for the same step.
            old = f"{final}.old-{uuid.uuid4().hex[:8].upper()}"
            os.rename(final, old)
            shutil.rmtree(old, ignore_errors=True)
        os.rename(self.partial, final)
        self.published = True
        sync_directory(step_dir(self.root, self.step))
        return final


def read_manifest(folder: str, step: int, rank: int) -> Dict[str, Any]:
    """The manifest of a shard folder, checked for shape and for ``step``/``rank``."""
    path = f"{folder}/{MANIFEST}"
    try:
        with open(path, "rb") as f:
            manifest = json.loads(f.read())
    except FileNotFoundError:
        if os.path.isdir(folder):
            raise ShardCorrupt(step, path, "is missing") from None
        raise ShardMissing(step, rank, os.path.dirname(os.path.dirname(folder))) from None
    except (OSError, ValueError) as e:
        raise ShardCorrupt(step, path, f"cannot be read ({e})") from None
    try:
        ok = (manifest["step"] == step and manifest["rank"] == rank and isinstance(manifest["worldSize"], int)
              and isinstance(manifest["dataPosition"], int) and isinstance(manifest["rngState"], list)
              and all(isinstance(f["name"], str) and isinstance(f["bytes"], int) and isinstance(f["sha256"], str)
                      for f in manifest["files"]))
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise ShardCorrupt(step, path, f"is not the manifest of step {step}, rank {rank}")
    return manifest


def verify_shard(folder: str, step: int, rank: int) -> Dict[str, Any]:
    """Checks every file of a shard against its manifest's size and SHA-256 (``ShardReader.swift``);
    returns the manifest. Raises ``ShardCorrupt`` naming the first bad file, or ``ShardMissing``."""
    manifest = read_manifest(folder, step, rank)
    for entry in manifest["files"]:
        path = f"{folder}/{file_name(entry['name'])}"
        try:
            digest, size = _hash_file(path)
        except OSError:
            raise ShardCorrupt(step, path, "is missing or unreadable") from None
        if size != entry["bytes"]:
            raise ShardCorrupt(step, path, f"has {size} bytes, its manifest says {entry['bytes']}")
        if digest.hexdigest() != entry["sha256"]:
            raise ShardCorrupt(step, path, "does not match its SHA-256 in the manifest")
    return manifest


# ---- commit markers ------------------------------------------------------------------------------

def _iso8601(now: datetime.datetime) -> str:
    # Swift's JSONDecoder .iso8601 takes whole seconds only: 2024-05-01T12:00:00Z.
    return now.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_commit_marker(root: str, step: int, world_size: int, now: Optional[datetime.datetime] = None,
                        job: Optional[str] = None) -> None:
    """Writes ``<root>/step-<N>/COMMITTED`` atomically (only for a run that commits by itself).
    ``job`` is the controller's job identity; a controller-less run leaves it out."""
    contents: Dict[str, Any] = {"step": step, "worldSize": world_size,
                                "committedAt": _iso8601(now or datetime.datetime.now(datetime.timezone.utc))}
    if job is not None:
        contents["job"] = job
    write_durable(commit_marker(root, step), json.dumps(contents, sort_keys=True).encode())
    sync_directory(step_dir(root, step))


def read_commit_marker(root: str, step: int) -> Optional[Dict[str, Any]]:
    """The marker's contents (extra keys such as ``job`` kept), or None without a readable marker."""
    try:
        with open(commit_marker(root, step), "rb") as f:
            contents = json.loads(f.read())
    except (OSError, ValueError):
        return None
    if not isinstance(contents, dict) or not isinstance(contents.get("worldSize"), int):
        return None
    return contents


def commit_world_size(root: str, step: int) -> Optional[int]:
    """The world size of the attempt that committed ``step`` (None without a readable marker)."""
    contents = read_commit_marker(root, step)
    return None if contents is None else contents["worldSize"]


def prune(root: str, keep: int) -> List[int]:
    """Keeps the newest ``keep`` committed steps; removes older committed steps and every uncommitted
    step older than the newest committed one (a newer one may still be being written). Returns the
    steps removed."""
    committed = committed_steps(root)
    if not committed:
        return []
    newest = committed[-1]
    kept = set(committed[-keep:]) if keep > 0 else set()
    removed = [s for s in steps(root) if s < newest and s not in kept]
    for s in removed:
        # The marker first: a half-removed step must never look committed.
        with contextlib.suppress(OSError):
            os.unlink(commit_marker(root, s))
        shutil.rmtree(step_dir(root, s), ignore_errors=True)
    return removed
