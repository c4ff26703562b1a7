"""``nudge config validate``: exit codes and what it tells the operator about channels it cannot send on."""

from __future__ import annotations

from pathlib import Path

from infra.cli import main

DEMO = Path(__file__).resolve().parents[2] / "events" / "demo-shop.yaml"


def without_sms_settings(tmp_path: Path) -> Path:
    """The demo shop, still preferring SMS, with its SMS provider settings removed."""
    text = DEMO.read_text(encoding="utf-8").replace('  sms:\n    origination_identity: "+4915112345678"\n', "")
    assert "origination_identity" not in text
    path = tmp_path / "shop.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_preferred_channel_without_provider_settings_is_a_warning(tmp_path, capsys):
    status = main(["config", "validate", str(without_sms_settings(tmp_path))])

    out, err = capsys.readouterr()
    assert status == 0
    assert "valid" in out and "1 warning(s)" in out
    assert "warning: channels.preference[3]: sms has no provider settings" in err
    assert "channels.sms.origination_identity" in err


def test_strict_turns_the_warning_into_a_failure(tmp_path, capsys):
    status = main(["config", "validate", "--strict", str(without_sms_settings(tmp_path))])

    out, err = capsys.readouterr()
    assert status == 2
    assert "valid" not in out
    assert "channels.preference[3]: sms has no provider settings" in err


def test_a_shop_that_can_send_everywhere_it_prefers_is_valid_even_when_strict(capsys):
    assert main(["config", "validate", "--strict", str(DEMO)]) == 0
    out, err = capsys.readouterr()
    assert "valid" in out and "warning" not in out + err
