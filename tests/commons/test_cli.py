"""``renkei commons validate``: exit 0 valid (warnings printed), 1 invalid (every error), 2 refused."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from renkei.cli.commons import EXIT_INVALID, EXIT_REFUSED, EXIT_VALID, commons_app
from renkei.commons.cap import to_cap_xml
from renkei.commons.edxl import distribution_for, to_edxl_xml
from tests.commons.builders import evacuation_alert, evacuation_info

RUNNER = CliRunner()


def _run(tmp_path: Path, data: bytes, *args: str) -> tuple[int, str]:
    path = tmp_path / "alert.xml"
    path.write_bytes(data)
    result = RUNNER.invoke(commons_app, ["validate", str(path), *args])
    return result.exit_code, result.output


def test_valid_cap_exits_zero(tmp_path: Path) -> None:
    code, output = _run(tmp_path, to_cap_xml(evacuation_alert()))
    assert code == EXIT_VALID
    assert "cap valid" in output


def test_valid_edxl_exits_zero_with_warnings_printed(tmp_path: Path) -> None:
    alert = evacuation_alert(infos=(evacuation_info(sender_name=None),))
    code, output = _run(tmp_path, to_edxl_xml(distribution_for(alert, document_id="D", document_revision=1)))
    assert code == EXIT_VALID
    assert "jp.sender_name.missing" in output


def test_invalid_prints_every_error_and_exits_one(tmp_path: Path) -> None:
    text = to_cap_xml(evacuation_alert()).decode()
    text = text.replace("<value>131016</value>", "<value>131015</value>").replace("bousai@", "bou sai@")
    code, output = _run(tmp_path, text.encode())
    assert code == EXIT_INVALID
    assert "jp.geocode.check_digit" in output
    assert "cap.sender.restricted_chars" in output
    assert "/alert/info[1]/area[1]/geocode[1]/value" in output


def test_hostile_file_is_refused(tmp_path: Path) -> None:
    code, output = _run(tmp_path, b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>')
    assert code == EXIT_REFUSED
    assert "xml.refused" in output
    code, _ = _run(tmp_path, b"<a>" * 10_000)
    assert code == EXIT_REFUSED


def test_json_output_and_render(tmp_path: Path) -> None:
    code, output = _run(tmp_path, to_cap_xml(evacuation_alert()), "--format", "json")
    assert code == EXIT_VALID
    assert '"ok": true' in output
    path = tmp_path / "alert.xml"
    result = RUNNER.invoke(commons_app, ["render", str(path), "--channel", "radio"])
    assert result.exit_code == 0
    assert "千二百世帯" in result.output


def test_missing_file(tmp_path: Path) -> None:
    result = RUNNER.invoke(commons_app, ["validate", str(tmp_path / "nope.xml")])
    assert result.exit_code == EXIT_REFUSED
