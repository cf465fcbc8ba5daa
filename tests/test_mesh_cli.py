"""The shared mesh options of the command line (organtwin/cli/_mesh_options.py): region-id lists and output files are
checked before any work, as usage errors (exit 2) naming the option."""

from __future__ import annotations

import pytest
import typer

from organtwin.cli._mesh_options import check_output_files, parse_region_ids, parse_region_list


def test_region_lists():
    assert parse_region_list(None, "--lv-regions") is None
    assert parse_region_list("1, 7", "--lv-regions") == [1, 7]
    for bad in ("", "x", "1,,y"):
        with pytest.raises(typer.BadParameter, match=r"^--rv-regions must be comma-separated integer region ids"):
            parse_region_list(bad, "--rv-regions")
    assert parse_region_ids("1,2,7") == [1, 2, 7]
    with pytest.raises(typer.BadParameter, match="--regions must name at least one region id"):
        parse_region_ids(",")


def test_output_files_are_checked_before_the_work(tmp_path):
    (tmp_path / "in.vtu").write_text("x")
    check_output_files([(tmp_path / "out.vtu", "--out"), (None, "--png")], inputs=[tmp_path / "in.vtu"])
    with pytest.raises(typer.BadParameter, match="--out .*is an input of this command"):
        check_output_files([(tmp_path / "in.vtu", "--out")], inputs=[tmp_path / "in.vtu"])
    with pytest.raises(typer.BadParameter, match="--json .*does not exist"):
        check_output_files([(tmp_path / "no" / "r.json", "--json")])
