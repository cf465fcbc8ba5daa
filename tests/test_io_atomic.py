"""The one atomic writer (organtwin._atomic; organtwin.io re-exports atomic_file): whole files or none, temporary
files removed on any error or interrupt, one-line errors naming the file meant."""

import errno
import os

import pytest

from organtwin._atomic import atomic_files, atomic_write
from organtwin.io import ResultsError, atomic_file


def _entries(folder):
    return sorted(p.name for p in folder.iterdir())


def test_atomic_write_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    assert atomic_write(target, lambda tmp: tmp.write_text("new")) == target
    assert target.read_text() == "new" and _entries(tmp_path) == ["a.txt"]


@pytest.mark.parametrize("stop", [KeyboardInterrupt, RuntimeError])
def test_an_interrupt_or_error_keeps_the_earlier_file(tmp_path, stop):
    target = tmp_path / "a.txt"
    target.write_text("old")

    def write(tmp):
        tmp.write_text("half")
        raise stop()

    with pytest.raises(stop) as e:
        atomic_write(target, write)
    assert target.read_text() == "old" and _entries(tmp_path) == ["a.txt"]
    if stop is KeyboardInterrupt:
        assert any("the earlier file there is kept" in n for n in e.value.__notes__)


def test_an_os_error_names_the_target_not_the_temporary_file(tmp_path):
    target = tmp_path / "a.txt"

    def full(tmp):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    with pytest.raises(ResultsError) as e:
        atomic_write(target, full)
    assert str(e.value) == f"disk full while writing {target}; nothing was written"
    with pytest.raises(ResultsError, match=r"^cannot write .*missing/a.txt: No such file"):
        with atomic_file(tmp_path / "missing" / "a.txt") as (fh, _):
            fh.write("x")
    assert _entries(tmp_path) == []


def test_the_file_is_flushed_to_disk_before_the_rename(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real(fd))
    with atomic_file(tmp_path / "a.txt") as (fh, _):
        fh.write("x")
    assert len(synced) == 1


def test_atomic_files_moves_every_file_and_cleans_up(tmp_path):
    def write(tmp):
        (tmp / "m.h5").write_text("data")
        (tmp / "m.xdmf").write_text("refers to m.h5")
        return [tmp / "m.h5", tmp / "m.xdmf"]

    assert atomic_files(tmp_path / "m.xdmf", write) == tmp_path / "m.xdmf"
    assert _entries(tmp_path) == ["m.h5", "m.xdmf"]

    def broken(tmp):
        (tmp / "n.xdmf").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_files(tmp_path / "n.xdmf", broken)
    assert _entries(tmp_path) == ["m.h5", "m.xdmf"]
