import pytest

import ringmaster
from ringmaster import RankEnvironmentError


def test_defaults_outside_ringmaster():
    e = ringmaster.env()
    assert (e.rank, e.world_size, e.local_rank, e.local_world_size, e.node_rank) == (0, 1, 0, 1, 0)
    assert (e.tp_size, e.pp_size, e.dp_size, e.tp_rank, e.pp_rank, e.dp_rank) == (1, 1, 1, 0, 0, 0)
    assert e.job_id is None and e.control is None and e.checkpoint_dir is None and e.rendezvous is None
    assert e.resume_step is None and e.resume_dir is None and e.accelerators == ()
    assert e.attempt == 1 and e.restart_count == 0 and not e.inside_ringmaster


def full(**over):
    base = {"RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4", "NODE_RANK": "1",
            "RINGMASTER_TP_SIZE": "2", "RINGMASTER_PP_SIZE": "2", "RINGMASTER_DP_SIZE": "2",
            "RINGMASTER_TP_RANK": "1", "RINGMASTER_DP_RANK": "0", "RINGMASTER_PP_RANK": "1",
            "RINGMASTER_JOB_ID": "job-7", "RINGMASTER_ATTEMPT": "3", "TORCHELASTIC_RESTART_COUNT": "2",
            "RINGMASTER_CHECKPOINT_DIR": "/ckpt/job-7", "RINGMASTER_RESUME_STEP": "40",
            "RINGMASTER_RESUME_DIR": "/ckpt/job-7/step-40", "RINGMASTER_ACCELERATORS": "2,3",
            "RINGMASTER_CONTROL": "/run/ctl.sock", "RINGMASTER_RENDEZVOUS": "10.0.0.1:2900"}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def test_full_environment_in_megatron_order():
    e = ringmaster.env(full())
    # rank 5 = tp 1 + 2 * (dp 0 + 2 * pp 1)
    assert (e.rank, e.tp_rank, e.dp_rank, e.pp_rank) == (5, 1, 0, 1)
    assert e.job_id == "job-7" and e.attempt == 3 and e.restart_count == 2
    assert e.resume_step == 40 and e.resume_dir == "/ckpt/job-7/step-40"
    assert e.accelerators == ("2", "3") and e.control == "/run/ctl.sock" and e.inside_ringmaster
    with pytest.raises(Exception):
        e.rank = 1  # frozen


def test_fresh_start_has_empty_resume_variables():
    e = ringmaster.env(full(RINGMASTER_RESUME_STEP="", RINGMASTER_RESUME_DIR=""))
    assert e.resume_step is None and e.resume_dir is None and e.is_fresh_start


def test_coordinates_default_from_rank():
    e = ringmaster.env({"RANK": "3", "WORLD_SIZE": "4", "RINGMASTER_TP_SIZE": "2"})
    assert (e.dp_size, e.tp_rank, e.dp_rank, e.pp_rank) == (2, 1, 1, 0)


@pytest.mark.parametrize("variable,value,words", [
    ("RANK", "two", "is not an integer"),
    ("WORLD_SIZE", "0", "must be >= 1"),
    ("RANK", "8", "outside 0..<8"),
    ("RINGMASTER_DP_SIZE", "3", "WORLD_SIZE = 8"),
    ("RINGMASTER_TP_RANK", "0", "Megatron order"),
    ("RINGMASTER_RESUME_STEP", "-1", "must be >= 0"),
    ("RINGMASTER_ATTEMPT", "1.5", "is not an integer"),
])
def test_malformed_variable_names_it(variable, value, words):
    with pytest.raises(RankEnvironmentError) as info:
        ringmaster.env(full(**{variable: value}))
    assert isinstance(info.value, ValueError)
    assert variable in str(info.value) and words in str(info.value)
    assert info.value.variable == variable and info.value.value == value
    assert " — " in str(info.value)  # a hint follows


def test_reads_os_environ(monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert ringmaster.env().rank == 1 and ringmaster.env().dp_size == 2
