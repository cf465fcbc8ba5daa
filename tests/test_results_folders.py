"""Results folders (organtwin.io.results_folder, docs/results-folders.md): nothing of the user's is deleted, every
command's outputs go into their own folder all or nothing, stale temporary folders of dead processes are cleaned,
errors name the file meant, interrupts say what was kept."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _helpers import two_region_slab, write_slab
from cli import one_error_line, run_cli

from organtwin._atomic import _host
from organtwin.io import (
    MANIFEST_KEY,
    RESULTS_MARKER,
    ResultsError,
    atomic_file,
    check_output_file,
    check_output_folder,
    clean_stale,
    results_folder,
)


def _write(folder: Path, files: dict) -> Path:
    """A results folder written by results_folder with ``files`` {relative name: text}."""
    with results_folder(folder, kind="test") as tmp:
        for name, text in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_text(text)
    return folder


def _tree(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _temps(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


# ------------------------------------------------------------------------------------------------------ the manifest
def test_the_manifest_lists_every_file_with_its_size(tmp_path):
    out = _write(tmp_path / "out", {"a.csv": "1,2\n", "sub/b.txt": "hello"})
    s = json.loads((out / "summary.json").read_text())
    assert s[RESULTS_MARKER]["kind"] == "test"
    assert s[MANIFEST_KEY]["files"] == {"a.csv": 4, "sub/b.txt": 5}
    assert s[MANIFEST_KEY]["sha256"] == hashlib.sha256(b'{"a.csv":4,"sub/b.txt":5}').hexdigest()
    # replaced by the next run (every entry is listed, at its size), nothing temporary left
    _write(out, {"c.csv": "3"})
    assert sorted(_tree(out)) == ["c.csv", "summary.json"]
    assert _temps(tmp_path) == []


def test_a_manifest_edited_to_list_a_user_file_is_refused(tmp_path):
    """A user's file added to the manifest by hand (its size right) would be replaced with the folder: the list no
    longer matches its seal, so the folder is refused and untouched."""
    out = _write(tmp_path / "out", {"a.csv": "1,2\n"})
    (out / "notes.txt").write_text("my notes")
    s = json.loads((out / "summary.json").read_text())
    s[MANIFEST_KEY]["files"]["notes.txt"] = len("my notes")
    (out / "summary.json").write_text(json.dumps(s))
    before = _tree(out)
    with pytest.raises(ResultsError) as e:
        check_output_folder(out)
    assert "manifest (summary.json) was edited after organtwin wrote it" in str(e.value) and "notes.txt" in str(e.value)
    assert _tree(out) == before and _temps(tmp_path) == []


def test_a_user_file_in_a_results_folder_is_refused_and_untouched(tmp_path):
    out = _write(tmp_path / "out", {"a.csv": "1,2\n"})
    (out / "notes.txt").write_text("my notes")
    before = _tree(out)
    with pytest.raises(ResultsError) as e:
        check_output_folder(out)  # what every command calls before its work
    msg = str(e.value)
    assert "holds other files" in msg and "notes.txt" in msg and "a.csv" not in msg
    assert "choose another --out or move those out" in msg
    assert _tree(out) == before and _temps(tmp_path) == []
    # results_folder itself (the work done): the folder untouched, the complete results set aside
    with pytest.raises(ResultsError) as e:
        with results_folder(out) as tmp:
            (tmp / "a.csv").write_text("new")
    assert (
        f"the folder holds other files (not listed in its manifest (summary.json): notes.txt); nothing there was "
        f"touched: the new results are in {tmp_path / 'out-new'}" in str(e.value)
    )
    assert _tree(out) == before and (tmp_path / "out-new" / "a.csv").read_text() == "new"
    assert _temps(tmp_path) == []


def test_a_summary_written_by_the_writer_keeps_its_marker_and_gets_the_manifest(tmp_path):
    """As write_calibration does: its own summary.json with the marker "calibration"."""
    out = tmp_path / "fit"
    with results_folder(out) as tmp:
        (tmp / "fit.json").write_text("{}")
        (tmp / "summary.json").write_text(json.dumps({RESULTS_MARKER: "calibration", "objective": 1.5}))
    s = json.loads((out / "summary.json").read_text())
    seal = hashlib.sha256(b'{"fit.json":2}').hexdigest()
    assert s == {
        RESULTS_MARKER: "calibration",
        "objective": 1.5,
        MANIFEST_KEY: {"files": {"fit.json": 2}, "sha256": seal},
    }
    assert check_output_folder(out) == out


def test_refusals_name_the_first_entries_and_count_them(tmp_path):
    out = _write(tmp_path / "out", {"a.csv": "1,2\n", "vm/v0.vtu": "x"})
    for k in range(7):
        (out / f"mine{k}.dat").write_text("x")
    (out / "vm" / "extra.vtu").write_text("x")  # inside a sub-folder organtwin wrote
    (out / "empty").mkdir()  # a folder no listed file needs
    (out / "a.csv").write_text("1,2,3\n")  # a listed file changed
    with pytest.raises(ResultsError) as e:
        check_output_folder(out)
    msg = str(e.value)
    # a.csv (changed), empty/, mine0..6, vm/extra.vtu: 10 entries, the first 5 named
    assert (
        "a.csv (changed since organtwin wrote it), empty/, mine0.dat, mine1.dat, mine2.dat and 5 more (10 in all)"
        in msg
    ), msg


def test_folders_from_before_the_manifest(tmp_path):
    # ep run / flow circulation listed their files in summary.json: accepted when nothing else is there
    old = tmp_path / "old_run"
    old.mkdir()
    (old / "probes.csv").write_text("t_ms\n")
    (old / "summary.json").write_text(
        json.dumps({RESULTS_MARKER: {"kind": "ep run"}, "files": ["probes.csv", "summary.json"]})
    )
    assert check_output_folder(old) == old
    (old / "mine.txt").write_text("x")
    with pytest.raises(ResultsError, match="mine.txt"):
        check_output_folder(old)
    # an old calibration folder listed nothing: not provably organtwin's
    cal = tmp_path / "old_fit"
    cal.mkdir()
    (cal / "fit.json").write_text("{}")
    (cal / "summary.json").write_text(json.dumps({RESULTS_MARKER: "calibration"}))
    with pytest.raises(ResultsError, match="older organtwin that kept no list of its files.*fit.json"):
        check_output_folder(cal)


def test_nested_folders_and_inputs_are_refused(tmp_path, monkeypatch):
    run = _write(tmp_path / "run", {"vm.pvd": "x"})
    with pytest.raises(ResultsError, match=r"inside the organtwin results folder .*run, which its next run replaces"):
        check_output_folder(run / "ecg")
    with pytest.raises(ResultsError, match="inside the organtwin results folder"):
        check_output_folder(run / "a" / "b")
    with pytest.raises(ResultsError, match="holds the input"):
        check_output_folder(tmp_path / "x", inputs=[tmp_path / "x" / "case.toml"])
    monkeypatch.chdir(run)
    with pytest.raises(ResultsError, match="is the current folder or holds it"):
        check_output_folder(".")
    with pytest.raises(ResultsError, match="is the current folder or holds it"):
        check_output_folder(tmp_path)
    assert sorted(_tree(run)) == ["summary.json", "vm.pvd"]


def test_files_appearing_during_the_work_are_kept_and_the_results_set_aside(tmp_path):
    out = _write(tmp_path / "out", {"a.csv": "old"})
    with pytest.raises(ResultsError) as e:
        with results_folder(out) as tmp:
            (tmp / "a.csv").write_text("new")
            (out / "dropped_in.txt").write_text("mine")  # the user, while the run went on
    assert "the folder holds other files (not listed in its manifest (summary.json): dropped_in.txt)" in str(e.value)
    assert f"the new results are in {tmp_path / 'out-new'}" in str(e.value)
    assert (out / "dropped_in.txt").read_text() == "mine" and (out / "a.csv").read_text() == "old"
    assert (tmp_path / "out-new" / "a.csv").read_text() == "new"
    assert _temps(tmp_path) == []


# ------------------------------------------------------------------------------------------------ errors, disk full
def test_disk_full_leaves_nothing_and_keeps_the_earlier_results(tmp_path):
    new = tmp_path / "new"
    with pytest.raises(ResultsError) as e:
        with results_folder(new) as tmp:
            with atomic_file(tmp / "ecg.csv") as (fh, _):
                fh.write("t_ms\n")
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    msg = str(e.value)
    assert msg.startswith(f"disk full while writing {new / 'ecg.csv'}; nothing was written"), msg
    assert ".partial" not in msg and ".tmp" not in msg
    assert not new.exists() and _temps(tmp_path) == []

    old = _write(tmp_path / "old", {"ecg.csv": "earlier"})
    before = _tree(old)
    with pytest.raises(ResultsError, match="the earlier results there are kept"):
        with results_folder(old) as tmp:
            (tmp / "ecg.csv").write_text("half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert _tree(old) == before and _temps(tmp_path) == []


def test_errno_messages_name_the_file_meant(tmp_path):
    # a real failure: the folder of the file does not exist (mkstemp fails on the temporary name)
    target = tmp_path / "no" / "such" / "out.csv"
    with pytest.raises(ResultsError) as e:
        with atomic_file(target) as (fh, _):
            fh.write("x")  # pragma: no cover
    assert str(e.value) == f"cannot write {target}: No such file or directory"
    # an error about the temporary file inside a results folder names the final file
    out = tmp_path / "out"
    with pytest.raises(ResultsError) as e:
        with results_folder(out) as tmp:
            with atomic_file(tmp / "ecg.png", None) as (_, tmpfile):
                raise OSError(errno.EIO, os.strerror(errno.EIO), str(tmpfile))
    msg = str(e.value)
    assert f"cannot write {out / 'ecg.png'}: Input/output error" in msg and "nothing was written" in msg, msg
    assert ".tmp" not in msg and ".partial" not in msg
    assert e.value.meant == out / "ecg.png"
    assert not out.exists() and _temps(tmp_path) == []


def test_output_places_are_checked_before_the_work(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ResultsError, match="exists and is a file, not a folder"):
        check_output_folder(tmp_path / "file")
    with pytest.raises(ResultsError, match=r"cannot write in .*file \(a file, not a folder\)"):
        check_output_folder(tmp_path / "file" / "out")
    with pytest.raises(ResultsError, match="is a folder; give a file name"):
        check_output_file(tmp_path, "OUT.csv")
    with pytest.raises(ResultsError, match="is a file, not a folder"):
        check_output_file(tmp_path / "file" / "x.csv", "OUT.csv")
    with pytest.raises(ResultsError, match="does not exist; create it first"):
        check_output_file(tmp_path / "none" / "x.csv", "OUT.csv")
    assert check_output_folder(tmp_path / "a" / "b" / "c") == tmp_path / "a" / "b" / "c"  # parents are created


# ------------------------------------------------------------------------------------------------------ interrupts
def test_an_interrupt_says_what_was_kept(tmp_path):
    old = _write(tmp_path / "old", {"a.csv": "earlier"})
    with pytest.raises(KeyboardInterrupt) as e:
        with results_folder(old) as tmp:
            with atomic_file(tmp / "a.csv") as (fh, _):
                fh.write("half")
                raise KeyboardInterrupt
    assert e.value.__notes__ == [f"nothing was written to {old}; the earlier results there are kept"]
    assert (old / "a.csv").read_text() == "earlier" and _temps(tmp_path) == []

    class Terminated(KeyboardInterrupt):
        pass

    with pytest.raises(Terminated) as e:
        with results_folder(tmp_path / "new"):
            raise Terminated
    assert e.value.__notes__ == [f"nothing was written to {tmp_path / 'new'}"]
    single = tmp_path / "single.csv"
    single.write_text("mine")
    with pytest.raises(KeyboardInterrupt) as e:
        with atomic_file(single) as (fh, _):
            fh.write("half")
            raise KeyboardInterrupt
    assert e.value.__notes__ == [f"nothing was written to {single}; the earlier file there is kept"]
    assert single.read_text() == "mine" and _temps(tmp_path) == []


# ------------------------------------------------------------------------------------------- dead processes' leftovers
def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temporaries_of_dead_processes_are_removed_live_ones_kept(tmp_path):
    host, dead = _host(), _dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = tmp_path / f".out.{dead}-{host}.abcd1234.partial"
        alive = tmp_path / f".out.{live.pid}-{host}.efgh5678.partial"
        elsewhere = tmp_path / f".out.{dead}-otherhost.ijkl9012.partial"  # another machine's: cannot tell
        other_name = tmp_path / f".other.{dead}-{host}.mnop3456.partial"  # another target's
        stale_file = tmp_path / f".x.csv.{dead}-{host}.qrst7890.tmp"
        for d in (stale, alive, elsewhere, other_name):
            d.mkdir()
            (d / "vm.pvd").write_text("x")
        stale_file.write_text("x")
        _write(tmp_path / "out", {"a.csv": "new"})
        assert not stale.exists()
        assert alive.exists() and elsewhere.exists() and other_name.exists()
        with atomic_file(tmp_path / "x.csv") as (fh, _):
            fh.write("1")
        assert not stale_file.exists() and (tmp_path / "x.csv").read_text() == "1"
    finally:
        live.kill()
        live.wait()


def test_earlier_results_moved_aside_by_a_killed_process_come_back(tmp_path):
    dead = _dead_pid()
    aside = tmp_path / f".out.{dead}-{_host()}.abcd1234.old"
    aside.mkdir()
    (aside / "a.csv").write_text("earlier")
    with pytest.warns(UserWarning, match="restored the earlier results"):
        removed = clean_stale(tmp_path, "out")
    assert removed == [] and (tmp_path / "out" / "a.csv").read_text() == "earlier" and not aside.exists()


def test_sigkill_leaves_a_partial_folder_that_the_next_run_removes(tmp_path):
    out = tmp_path / "out"
    script = (
        "import os, signal, sys\nfrom organtwin.io import results_folder\n"
        "with results_folder(sys.argv[1]) as tmp:\n"
        "    (tmp / 'a.csv').write_text('half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    p = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True, text=True, timeout=300)
    assert p.returncode == -9, p.stderr
    left = _temps(tmp_path)
    assert len(left) == 1 and left[0].startswith(".out.") and f"-{_host()}." in left[0] and left[0].endswith(".partial")
    assert not out.exists()
    _write(out, {"a.csv": "whole"})
    assert _temps(tmp_path) == [] and (out / "a.csv").read_text() == "whole"


# ------------------------------------------------------------------------------------------------------------ the CLI
def _two_region_slab():
    """A small slab, its halves the regions LV (1) and RV (2): quick to run and to take an ECG of."""
    return two_region_slab((4.0, 2.0, 1.0), 0.5, {1: "LV", 2: "RV"})


@pytest.fixture(scope="module")
def act(tmp_path_factory) -> Path:
    """An activation mesh (two regions named LV and RV) for `organtwin ecg`."""
    from organtwin.mesh import write_mesh

    m = _two_region_slab()
    m = m.replace(point_data={"activation_time": 5.0 * np.asarray(m.points)[:, 0]})
    path = tmp_path_factory.mktemp("act") / "act.vtu"
    write_mesh(m, path)
    return path


def test_cli_ecg_writes_a_results_folder_and_refuses_nesting(act, tmp_path, capsys):
    out = tmp_path / "e"
    rc, stdout, err = run_cli(capsys, "ecg", act, "--out", out, "--duration", "60")
    assert rc == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert s[RESULTS_MARKER]["kind"] == "ecg"
    assert sorted(s[MANIFEST_KEY]["files"]) == ["ecg.csv", "ecg.png", "features.json"]
    assert s[MANIFEST_KEY]["files"]["ecg.png"] == (out / "ecg.png").stat().st_size
    before = _tree(out)
    rc, stdout, err = run_cli(capsys, "ecg", act, "--out", out / "ecg", "--duration", "60")
    assert rc == 1
    line = one_error_line(err, only=True)
    assert f"--out {out / 'ecg'}: is inside the organtwin results folder {out}" in line
    assert stdout == "" and _tree(out) == before
    # the same folder again: replaced (every entry is organtwin's)
    rc, _, err = run_cli(capsys, "ecg", act, "--out", out, "--duration", "80")
    assert rc == 0, err
    assert np.loadtxt(out / "ecg.csv", delimiter=",", skiprows=1).shape == (80, 13)


def test_cli_ecg_full_disk_writes_nothing(act, tmp_path, capsys, monkeypatch):
    """ecg.png fails for lack of space: no folder, no CSV without its picture, the earlier results kept."""
    import matplotlib.figure

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full)
    out = tmp_path / "e"
    rc, stdout, err = run_cli(capsys, "ecg", act, "--out", out, "--duration", "60")
    assert rc == 1
    line = one_error_line(err)  # (and the generated chest's warnings about this tiny "heart")
    assert line == (
        f"organtwin: error: disk full while writing {out / 'ecg.png'}; nothing was written (could not "
        f"write results to {out}: No space left on device)"
    )
    assert not out.exists() and _temps(tmp_path) == []


def test_cli_ecg_refuses_a_folder_of_user_files_subprocess(act, tmp_path):
    """Through the installed console script: one line, exit 1, the user's file untouched, before any work."""
    exe = shutil.which("organtwin") or str(Path(sys.executable).parent / "organtwin")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.docx").write_text("years of work")
    t0 = time.perf_counter()
    p = subprocess.run([exe, "ecg", str(act), "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 1, p.stderr
    line = one_error_line(p.stderr, only=True)
    assert "the folder holds other files, not written by organtwin: thesis.docx" in line
    assert p.stdout == "" and (out / "thesis.docx").read_text() == "years of work"
    assert sorted(x.name for x in out.iterdir()) == ["thesis.docx"]
    assert time.perf_counter() - t0 < 120


SLAB_CASE = """
[mesh]
path = "slab.vtu"
[conductivity]
sigma_l = "0.3 S/m"
[model]
name = "mitchell-schaeffer"
[[stimulus]]
kind = "surface"
name = "x0"
strength = "50000 uA/cm^3"
duration = "2 ms"
[simulation]
duration = "DURATION"
dt = "0.05 ms"
[record]
snapshot_every = "1 ms"
"""


def test_ep_run_ecg_checks_its_regions_before_the_run(tmp_path, capsys):
    """A slab with one region 'slab': the ECG cannot tell LV from RV. Refused before a run that would take long."""
    write_slab(tmp_path)  # slab.vtu: 4 x 1 x 1 mm at 0.5 mm
    (tmp_path / "case.toml").write_text(SLAB_CASE.replace("DURATION", "20000 ms"))
    t0 = time.perf_counter()
    rc, stdout, err = run_cli(
        capsys, "ep", "run", tmp_path / "case.toml", "--out", tmp_path / "run", "--ecg", "--no-progress"
    )
    assert rc == 1
    line = one_error_line(err)
    assert "slab" in line and "--lv-regions" not in stdout
    assert "ran " not in stdout and not (tmp_path / "run").exists() and _temps(tmp_path) == []
    assert time.perf_counter() - t0 < 60


def test_ep_run_ecg_is_one_transaction_with_one_manifest(tmp_path, capsys):
    from organtwin.mesh import write_mesh

    write_mesh(_two_region_slab(), tmp_path / "slab.vtu")
    (tmp_path / "case.toml").write_text(SLAB_CASE.replace("DURATION", "6 ms"))
    run = tmp_path / "run"
    rc, stdout, err = run_cli(capsys, "ep", "run", tmp_path / "case.toml", "--out", run, "--ecg", "--no-progress")
    assert rc == 0, err
    assert stdout.index("LV = region 1 (LV)") < stdout.index("ran ")  # the regions were checked before the run
    s = json.loads((run / "summary.json").read_text())
    listed = s[MANIFEST_KEY]["files"]
    assert {"ecg/ecg.csv", "ecg/features.json", "ecg/ecg.png", "vm.pvd", "activation.vtu"} <= set(listed)
    assert len([f for f in listed if f.startswith("vm/")]) == 7
    assert {f: (run / f).stat().st_size for f in listed} == listed
    assert np.loadtxt(run / "ecg" / "ecg.csv", delimiter=",", skiprows=1).shape == (7, 13)
    # the ECG folder inside the run is the run's: `ecg RUN --out RUN/ecg` is refused, a rerun replaces it all
    rc, _, err = run_cli(capsys, "ecg", run, "--out", run / "ecg")
    assert rc == 1 and "inside the organtwin results folder" in one_error_line(err, only=True)
    rc, _, err = run_cli(capsys, "ep", "run", tmp_path / "case.toml", "--out", run, "--no-progress")
    assert rc == 0, err
    assert not (run / "ecg").exists() and _temps(tmp_path) == []
