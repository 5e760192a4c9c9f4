"""The emulator CLI's option checks that need no server (the CLI's runs: tests/emulator)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.mark.parametrize("where", ["/etc/hostname/x", "FILE/x", "DIR"])
def test_a_port_file_that_cannot_be_written_is_exit_2_and_one_line_before_the_start(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, where: str
) -> None:
    """A ``--port-file`` under a file or naming a directory ended in a traceback once the server was
    up; it is refused as the other bad options are, before anything starts (the machine may run as
    root: a path under a file is unwritable for everyone)."""
    from airflow_provider_kling.emulator import server
    from airflow_provider_kling.emulator.__main__ import main

    (tmp_path / "FILE").write_text("x")
    path = where.replace("FILE", str(tmp_path / "FILE")).replace("DIR", str(tmp_path))

    class Refused:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise AssertionError("the emulator would start")

    monkeypatch.setattr(server, "EmulatorServer", Refused)
    code = main(["--port-file", path])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert err.startswith(f"kling-emulator: bad --port-file {path!r}: ") and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["FILE"]  # no probe left behind
