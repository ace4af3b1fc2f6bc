"""The shard format without torch: names, manifests, verification, commit markers and pruning."""

import errno
import hashlib
import json
import os
import struct
import subprocess

import pytest

from ringmaster import shard_format as sf
from ringmaster.errors import CheckpointError


def test_file_names_escape_like_swift():
    assert sf.file_name("parameters") == "parameters.bin"
    assert sf.file_name("adam-m") == "adam-m.bin"
    assert sf.file_name("layer 1/w") == "layer%201%2Fw.bin"
    assert sf.file_name("a%b") == "a%25b.bin"
    assert sf.file_name("é") == "%E9.bin"


def write_shard(root, step, rank=0, world=1, blobs=None):
    with sf.ShardWriter(root, step, rank, world) as shard:
        for name, data in (blobs or {"parameters": b"\x01" * 100, "adam m": b"xyz"}).items():
            shard.add_bytes(name, data)
        return shard.finish(data_position=640, rng_state=[7])


def test_shard_layout_and_manifest(tmp_path):
    root = str(tmp_path)
    folder = write_shard(root, 3)
    assert folder == f"{root}/step-3/rank-0"
    assert sorted(os.listdir(folder)) == ["MANIFEST.json", "adam%20m.bin", "parameters.bin"]
    assert os.listdir(f"{root}/step-3") == ["rank-0"]  # no partial folder or temp file left
    manifest = json.load(open(f"{folder}/MANIFEST.json"))
    assert set(manifest) == {"step", "rank", "worldSize", "files", "dataPosition", "rngState"}
    assert (manifest["step"], manifest["rank"], manifest["worldSize"]) == (3, 0, 1)
    assert manifest["dataPosition"] == 640 and manifest["rngState"] == [7]
    for f in manifest["files"]:
        data = open(f"{folder}/{sf.file_name(f['name'])}", "rb").read()
        assert f["bytes"] == len(data) and f["sha256"] == hashlib.sha256(data).hexdigest()
    assert sf.verify_shard(folder, 3, 0) == manifest


def test_a_failed_shard_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with sf.ShardWriter(str(tmp_path), 5, 0, 1) as shard:
            shard.add_bytes("a", b"1")
            raise RuntimeError("disk on fire")
    # The partial folder and the step folder it left empty are gone.
    assert not os.path.exists(tmp_path / "step-5")


def test_a_full_disk_is_a_clear_error_and_leaves_other_ranks_shards(tmp_path, monkeypatch):
    write_shard(str(tmp_path), 6, rank=1)
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(CheckpointError) as failure:
        with sf.ShardWriter(str(tmp_path), 6, 0, 2) as shard:
            shard.add_bytes("a", b"1" * 100)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert "No space left on device — check free space and permissions" in str(failure.value)
    assert "/step-6/.rank-0.partial-" in str(failure.value)
    # Rank 1's shard of the step stays; nothing of rank 0's is left.
    assert os.listdir(tmp_path / "step-6") == ["rank-1"]


@pytest.mark.parametrize("damage", ["flip", "truncate", "remove", "manifest"])
def test_verification_names_the_bad_file(tmp_path, damage):
    folder = write_shard(str(tmp_path), 2)
    target = f"{folder}/parameters.bin"
    if damage == "flip":
        data = bytearray(open(target, "rb").read())
        data[10] ^= 0xFF
        open(target, "wb").write(data)
    elif damage == "truncate":
        open(target, "r+b").truncate(50)
    elif damage == "remove":
        os.unlink(target)
    else:
        target = f"{folder}/MANIFEST.json"
        open(target, "w").write("{")
    with pytest.raises(sf.ShardCorrupt) as info:
        sf.verify_shard(folder, 2, 0)
    assert info.value.file == target and target in str(info.value)


def test_missing_shard(tmp_path):
    with pytest.raises(sf.ShardMissing):
        sf.verify_shard(f"{tmp_path}/step-1/rank-0", 1, 0)


def test_commit_marker_and_prune(tmp_path):
    root = str(tmp_path)
    for step in (1, 2, 3, 4, 5):
        write_shard(root, step)
        if step != 2:
            sf.write_commit_marker(root, step, 1)
    write_shard(root, 6)  # newest, not committed yet (still being written by others)
    marker = json.load(open(sf.commit_marker(root, 5)))
    assert set(marker) == {"step", "worldSize", "committedAt"} and marker["committedAt"].endswith("Z")
    assert len(marker["committedAt"]) == len("2024-05-01T12:00:00Z")
    assert sf.committed_steps(root) == [1, 3, 4, 5]
    assert sf.prune(root, keep=2) == [1, 2, 3]
    assert sf.steps(root) == [4, 5, 6] and sf.committed_steps(root) == [4, 5]


def test_marker_with_job_key(tmp_path):
    root = str(tmp_path)
    write_shard(root, 1, world=4)
    sf.write_commit_marker(root, 1, 4, job="job-1")
    assert sf.read_commit_marker(root, 1)["job"] == "job-1"
    assert sf.commit_world_size(root, 1) == 4 and sf.commit_world_size(root, 9) is None


def swift_fixture():
    """`ringmaster-fixture` (the Swift test fixtures) from $RINGMASTER_BIN's folder, when built."""
    exe = os.environ.get("RINGMASTER_BIN")
    path = os.path.join(os.path.dirname(exe), "ringmaster-fixture") if exe else None
    return path if path and os.access(path, os.X_OK) else None


def test_a_step_the_swift_library_wrote_verifies_and_reads_in_python(tmp_path):
    fixture = swift_fixture()
    if fixture is None:
        pytest.skip("no ringmaster-fixture (set RINGMASTER_BIN to a build's ringmaster; make test does)")
    out = subprocess.run([fixture, "shard-writer", str(tmp_path), "30", "2"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    root = str(tmp_path)
    assert sf.committed_steps(root) == [30]
    assert sf.read_commit_marker(root, 30)["job"] == "swift-1.000000000001"
    assert sf.commit_world_size(root, 30) == 2
    for rank in range(2):
        manifest = sf.verify_shard(sf.rank_dir(root, 30, rank), 30, rank)
        assert manifest["dataPosition"] == 64 * 30 and manifest["rngState"] == [30, 7]
        assert sorted(f["name"] for f in manifest["files"]) == ["adam m", "weights"]
        with open(os.path.join(sf.rank_dir(root, 30, rank), sf.file_name("weights")), "rb") as f:
            weights = f.read()
        assert struct.unpack("<2f", weights[:8]) == (float(rank), float(rank + 1))
    # One flipped byte is named by the Python verifier too.
    path = os.path.join(sf.rank_dir(root, 30, 1), sf.file_name("adam m"))
    with open(path, "r+b") as f:
        f.write(b"\xff")
    with pytest.raises(sf.ShardCorrupt, match="adam%20m"):
        sf.verify_shard(sf.rank_dir(root, 30, 1), 30, 1)
