"""Key rotation (``nudge keys rotate``): a new key at once, the old keys of that kind until the grace ends, then
refused; a config applied meanwhile neither ends the grace early nor brings a retired key back. On the in-memory
directory, on a clock the test moves; the same contract holds for DynamoDB (``tests/parity/test_ports.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infra.cli import main
from infra.keys_cli import KeyRotationError, grace_period, new_key, with_only_key
from infra.memory import MemoryShops
from shared.adapters.shops import ShopDirectoryError, ShopKey, UnknownShopError
from shared.models.config import ShopConfig, hash_key
from shared.yaml_text import load_yaml
from tests.clocks import SetClock

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
DEMO = Path(__file__).resolve().parents[2] / "events" / "demo-shop.yaml"


def shop(shop_id: str, write: list[str], secret: list[str] | None = None) -> ShopConfig:
    document = {
        "id": shop_id,
        "name": shop_id.title(),
        "write_keys": write,
        "secret_keys": secret or [f"{shop_id}-secret"],
    }
    return ShopConfig.model_validate({"shop": document})


@pytest.fixture
def clock() -> SetClock:
    return SetClock(T0)


@pytest.fixture
def shops(clock: SetClock) -> MemoryShops:
    directory = MemoryShops(clock)
    directory.apply(shop("acme", ["acme-write-old"], ["acme-secret-old"]))
    directory.apply(shop("other", ["other-write-key"], ["other-secret-key"]))
    return directory


# ---------------------------------------------------------------- the directory


def test_the_new_key_works_at_once_and_the_old_one_until_the_grace_ends_then_never(shops, clock):
    retiring = shops.rotate("acme", "write", hash_key("acme-write-new"), T0 + WEEK)

    assert retiring == {hash_key("acme-write-old"): T0 + WEEK}
    assert shops.authenticate("acme-write-new") == ShopKey("acme", "write")
    clock.at = T0 + WEEK - timedelta(seconds=1)
    assert shops.authenticate("acme-write-old") == ShopKey("acme", "write")
    clock.at = T0 + WEEK
    assert shops.authenticate("acme-write-old") is None
    assert shops.authenticate("acme-write-new") == ShopKey("acme", "write")


def test_the_stored_config_lists_the_new_key_first_and_the_old_one_only_until_its_time(shops, clock):
    shops.rotate("acme", "write", hash_key("acme-write-new"), T0 + WEEK)

    during = shops.config("acme")
    clock.at = T0 + WEEK
    after = shops.config("acme")

    assert during is not None and during.shop.write_keys == [hash_key("acme-write-new"), hash_key("acme-write-old")]
    assert after is not None and after.shop.write_keys == [hash_key("acme-write-new")]


def test_only_the_kind_rotated_retires_and_the_other_shop_is_untouched(shops, clock):
    shops.rotate("acme", "write", hash_key("acme-write-new"), T0 + WEEK)
    clock.at = T0 + 2 * WEEK

    assert shops.authenticate("acme-secret-old") == ShopKey("acme", "secret")
    assert shops.authenticate("other-write-key") == ShopKey("other", "write")
    assert shops.authenticate("other-secret-key") == ShopKey("other", "secret")


def test_the_config_file_after_the_rotation_applied_within_the_grace_keeps_the_old_key_until_its_time(shops, clock):
    shops.rotate("acme", "write", hash_key("acme-write-new"), T0 + WEEK)

    clock.at = T0 + timedelta(days=1)
    shops.apply(shop("acme", [hash_key("acme-write-new")], ["acme-secret-old"]))  # the file lists the new key only
    kept = shops.authenticate("acme-write-old")
    clock.at = T0 + WEEK
    retired = shops.authenticate("acme-write-old")

    assert kept == ShopKey("acme", "write") and retired is None
    assert shops.authenticate("acme-write-new") == ShopKey("acme", "write")


def test_a_config_applied_after_the_grace_cannot_bring_a_retired_key_back(shops, clock):
    shops.rotate("acme", "write", hash_key("acme-write-new"), T0 + WEEK)
    clock.at = T0 + WEEK

    shops.apply(shop("acme", [hash_key("acme-write-new")], ["acme-secret-old"]))
    shops.apply(shop("acme", ["acme-write-old", hash_key("acme-write-new")], ["acme-secret-old"]))  # an old file

    assert shops.authenticate("acme-write-old") is None
    config = shops.config("acme")
    assert config is not None and config.shop.write_keys == [hash_key("acme-write-new")]


def test_a_config_file_from_before_the_rotation_is_refused_rather_than_dropping_the_new_key(shops, clock):
    shops.rotate("acme", "write", hash_key("acme-write-new"), T0 + WEEK)

    with pytest.raises(ShopDirectoryError, match=r"every key in shop.write_keys of shop 'acme' is rotated out"):
        shops.apply(shop("acme", ["acme-write-old"], ["acme-secret-old"]))

    assert shops.authenticate("acme-write-new") == ShopKey("acme", "write")
    config = shops.config("acme")
    assert config is not None and config.shop.write_keys == [hash_key("acme-write-new"), hash_key("acme-write-old")]


def test_a_key_dropped_from_the_config_without_a_rotation_still_stops_at_once(shops):
    shops.apply(shop("acme", ["acme-write-old", "acme-write-extra"], ["acme-secret-old"]))
    shops.apply(shop("acme", ["acme-write-old"], ["acme-secret-old"]))

    assert shops.authenticate("acme-write-extra") is None


def test_rotating_again_never_gives_a_retiring_key_more_time_and_a_zero_grace_ends_it_now(shops, clock):
    shops.rotate("acme", "write", hash_key("acme-write-new"), T0 + WEEK)

    later = shops.rotate("acme", "write", hash_key("acme-write-newer"), T0 + 2 * WEEK)
    leaked = shops.rotate("acme", "write", hash_key("acme-write-newest"), T0)  # --grace PT0S

    assert later == {hash_key("acme-write-old"): T0 + WEEK, hash_key("acme-write-new"): T0 + 2 * WEEK}
    assert set(leaked.values()) == {T0}
    assert [shops.authenticate(f"acme-write-{age}") for age in ("old", "new", "newer")] == [None, None, None]
    assert shops.authenticate("acme-write-newest") == ShopKey("acme", "write")


def test_a_retired_secret_key_no_longer_verifies_customer_tokens(shops, clock):
    # the inbox verifies customer tokens against the config's secret keys (shared.service.public)
    shops.rotate("acme", "secret", hash_key("acme-secret-new"), T0 + WEEK)
    during = shops.config("acme")
    clock.at = T0 + WEEK
    after = shops.config("acme")

    assert during is not None and hash_key("acme-secret-old") in during.shop.secret_keys
    assert after is not None and after.shop.secret_keys == [hash_key("acme-secret-new")]


def test_a_shop_not_stored_cannot_have_its_keys_rotated(shops):
    with pytest.raises(UnknownShopError, match="no shop 'nowhere'"):
        shops.rotate("nowhere", "write", hash_key("nowhere-write-new"), T0 + WEEK)

    assert shops.authenticate("nowhere-write-new") is None


# ---------------------------------------------------------------- the command's pieces


def test_a_new_key_names_its_shop_and_kind_and_is_never_the_same_twice():
    first, second = new_key("demo", "write"), new_key("demo", "write")

    assert first.startswith("demo-write-") and len(first) == len("demo-write-") + 43  # 32 bytes, URL-safe
    assert first != second
    assert shop("demo", [first]).shop.write_keys == [hash_key(first)]  # a valid key for a config


@pytest.mark.parametrize(("text", "grace"), [("P7D", WEEK), ("PT1S", timedelta(seconds=1)), ("PT0S", timedelta(0))])
def test_the_grace_is_an_iso_8601_duration(text, grace):
    assert grace_period(text) == grace


@pytest.mark.parametrize("text", ["a week", "-P1D"])
def test_a_grace_that_is_no_duration_or_negative_is_refused(text):
    with pytest.raises(KeyRotationError, match="--grace"):
        grace_period(text)


def test_the_demo_config_gets_the_new_hash_in_its_key_list_and_keeps_every_comment():
    text = DEMO.read_text(encoding="utf-8")
    digest = hash_key("demo-write-new")

    rewritten = with_only_key(text, "demo", "write", digest)

    before, after = load_yaml(text), load_yaml(rewritten)
    assert after == {**before, "shop": {**before["shop"], "write_keys": [digest]}}
    assert [line for line in text.splitlines() if "#" in line] == [
        line for line in rewritten.splitlines() if "#" in line
    ]
    assert f'  write_keys: ["{digest}"]' in rewritten.splitlines()


def test_a_key_list_written_as_a_block_stays_a_block_with_its_comments_around_it():
    text = """shop:
  id: acme  # the shop
  name: Acme
  # keys of the tracking clients
  write_keys:
    - acme-write-one  # the app
    - acme-write-two
  secret_keys: [acme-secret]
# end
"""
    digest = hash_key("acme-write-new")

    rewritten = with_only_key(text, "acme", "write", digest)

    assert rewritten == text.replace("- acme-write-one  # the app\n    - acme-write-two", f'- "{digest}"')
    assert ShopConfig.model_validate(load_yaml(rewritten)).shop.write_keys == [digest]


def test_the_file_of_another_shop_is_refused():
    with pytest.raises(KeyRotationError, match="not shop 'acme'"):
        with_only_key(DEMO.read_text(encoding="utf-8"), "acme", "write", hash_key("x" * 8))


def test_the_command_refuses_a_file_of_another_shop_before_anything_is_stored(capsys, tmp_path):
    config = tmp_path / "demo.yaml"
    config.write_text(DEMO.read_text(encoding="utf-8"), encoding="utf-8")
    # no emulator: the table is never reached, because the file is checked first
    code = main(["keys", "rotate", "--shop", "acme", "--kind", "write", "--config", str(config), "--table", "none"])

    printed = capsys.readouterr()
    assert code == 1 and printed.out == ""
    assert "not shop 'acme'" in printed.err
    assert config.read_text(encoding="utf-8") == DEMO.read_text(encoding="utf-8")
