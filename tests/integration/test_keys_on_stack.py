"""``nudge keys rotate`` on the local stack: the operator rotates a shop's write key; its tracking clients are accepted
with the new key at once and with the old one until the grace ends, also after the rewritten config file is applied
again; then the old key is refused (401).

The shop is the demo shop's config under an id of its own (comments and all, so the file rewritten is a real one):
every other test of the session sends the demo shop's own keys. The end of the grace comes by the clock port, moved
forward a few minutes (the stack's handlers run in this process), not by waiting.
"""

from __future__ import annotations

from datetime import timedelta

from infra.admin import load_config
from infra.cli import main
from shared import clock
from shared.adapters.shops import ShopDirectory, ShopKey
from shared.clock import system_time
from shared.models.config import hash_key
from tests.conftest import DEMO_CONFIG
from tests.factories import product, track
from tests.integration.http import post
from tests.integration.test_journeys_on_stack import unique


def accepted(stack, key: str) -> int:
    """The status of one track call sent with ``key``."""
    event = track("Product Viewed", product(), userId=unique("u"), messageId=unique("m"))
    return post(stack.base_url, "/v1/track", event, key=key)[0]


def test_a_rotated_write_key_works_at_once_and_the_old_one_until_its_grace_ends(local_stack, capsys, tmp_path):
    shop, table = unique("keys"), local_stack.deployment.physical["ShopsTable"]
    old = f"{shop}-write-key"
    demo = DEMO_CONFIG.read_text(encoding="utf-8")
    config = tmp_path / f"{shop}.yaml"
    config.write_text(
        demo.replace("  id: demo\n", f"  id: {shop}\n")
        .replace("[demo-write-key]", f"[{old}]")
        .replace("[demo-secret-key]", f"[{shop}-secret-key]"),
        encoding="utf-8",
    )
    assert main(["shops", "apply", str(config), "--table", table]) == 0
    capsys.readouterr()

    before = tmp_path / "before-the-rotation.yaml"
    before.write_text(config.read_text(encoding="utf-8"), encoding="utf-8")
    rotation = ["--shop", shop, "--kind", "write", "--grace", "PT5M", "--config", str(config)]
    rotated = main(["keys", "rotate", *rotation, "--table", table])
    printed = capsys.readouterr()
    [new] = printed.out.split()
    with_new, with_old = accepted(local_stack, new), accepted(local_stack, old)
    stale = main(["shops", "apply", str(before), "--table", table])  # would drop the new key: refused, one line
    stale_said = capsys.readouterr().err
    assert main(["shops", "apply", str(config), "--table", table]) == 0  # the file now lists only the new key
    old_after_apply = accepted(local_stack, old)
    local_stack.wait_idle()
    with clock.use(lambda: system_time() + timedelta(minutes=6)):  # past the grace
        old_after_grace = accepted(local_stack, old)
        new_after_grace = ShopDirectory(table).authenticate(new)

    assert rotated == 0 and new.startswith(f"{shop}-write-")
    assert stale == 2 and stale_said.startswith(f"{before}: not stored:") and "Traceback" not in stale_said
    assert "shown only once" in printed.err and "works until" in printed.err
    assert load_config(config).shop.write_keys == [hash_key(new)]
    assert [line for line in config.read_text(encoding="utf-8").splitlines() if "#" in line] == [
        line for line in demo.splitlines() if "#" in line
    ]  # every comment of the file stays
    assert (with_new, with_old, old_after_apply) == (200, 200, 200)
    assert old_after_grace == 401
    assert new_after_grace == ShopKey(shop, "write")


def test_a_shop_that_is_not_stored_is_named_and_nothing_is_printed_as_a_key(local_stack, capsys):
    shop = unique("nowhere")

    code = main(["keys", "rotate", "--shop", shop, "--kind", "secret", "--table", local_stack.resources["ShopsTable"]])

    printed = capsys.readouterr()
    assert code == 1 and printed.out == ""
    assert f"no shop '{shop}'" in printed.err
