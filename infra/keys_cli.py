"""``nudge keys rotate``: a new API key for a shop, and its old keys of that kind retired after a grace period.

The new key is random (``<shop>-<kind>-`` and 256 bits, URL-safe, like the demo's ``demo-write-key`` in form) and is
printed once, alone on standard output: nudge stores only its hash, so it cannot be shown again. The old keys of the
kind keep working until the grace ends (``--grace``, an ISO 8601 duration, P7D unless given; PT0S ends them at once,
for a leaked key), which leaves the shop's clients the time to switch; then they are refused. The directory tracks
that (``ShopDirectory.rotate``), not the config file: with ``--config FILE`` the file's key list is rewritten to hold
only the new key's hash (``sha256:...``; its other lines, comments too, stay as they were), and applying it later
keeps the retiring keys until their time. Without it, the operator puts the hash in the file; until then the file
is refused by ``nudge shops apply`` (all its keys of that kind are rotated out), so it cannot drop the new key.

The shops table: ``--table`` (the local stack's, with ``--endpoint-url`` its emulator) or ``--stack NAME`` (the
deployed stack's ``ShopsTableName`` output).
"""

from __future__ import annotations

import secrets
import sys
from datetime import timedelta
from pathlib import Path

import yaml
from pydantic import TypeAdapter, ValidationError

from infra.admin import ConfigInvalidError, load_config
from infra.stack_outputs import StackOutputError, shops_table
from shared import clock
from shared.adapters.shops import ShopDirectory, ShopDirectoryError
from shared.models.vocabulary import KeyKind, hash_key
from shared.yaml_text import load_yaml


class KeyRotationError(Exception):
    """The rotation cannot be done as asked; the message says why. Raised before anything is stored."""


def new_key(shop_id: str, kind: KeyKind) -> str:
    """A fresh key: the shop and kind for whoever finds it in a log or a secret scanner, then 256 random bits."""
    return f"{shop_id}-{kind}-{secrets.token_urlsafe(32)}"


def grace_period(text: str) -> timedelta:
    """``--grace``: an ISO 8601 duration, zero or more."""
    try:
        grace = TypeAdapter(timedelta).validate_python(text)
    except ValidationError as error:
        raise KeyRotationError(f"--grace: an ISO 8601 duration such as P7D or PT1H, not {text!r}") from error
    if grace < timedelta(0):
        raise KeyRotationError(f"--grace: zero or more, not {text!r}")
    return grace


def with_only_key(text: str, shop_id: str, kind: KeyKind, key_hash: str) -> str:
    """The shop config ``text`` with its ``<kind>_keys`` holding ``key_hash`` alone, every other character as it was.

    The list is found by the YAML parser's own positions and replaced in place, so comments stay (those between the
    list's items go with them). The result is read again and must be the same document but for that list;
    KeyRotationError if not (a list written in a way this does not handle: edit the file by hand).
    """
    field = f"{kind}_keys"
    before = load_yaml(text)
    shop = before.get("shop") if isinstance(before, dict) else None
    if not isinstance(shop, dict) or shop.get("id") != shop_id:
        raise KeyRotationError(f"the file is not shop {shop_id!r}'s config")
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    for name in ("shop", field):
        found = [value for key, value in node.value if key.value == name] if isinstance(node, yaml.MappingNode) else []
        node = found[0] if found else None
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise KeyRotationError(f"the file has no list shop.{field}")
    if node.flow_style:
        start, end, value = node.start_mark.index, node.end_mark.index, f'["{key_hash}"]'
    else:  # from the first item's dash to the end of the last item
        start, end, value = node.start_mark.index, node.value[-1].end_mark.index, f'- "{key_hash}"'
    after = text[:start] + value + text[end:]
    if load_yaml(after) != {**before, "shop": {**shop, field: [key_hash]}}:
        raise KeyRotationError(f"cannot rewrite shop.{field} of the file in place: edit it by hand")
    return after


def rotate(
    shop_id: str, kind: KeyKind, grace: str, config_file: Path | None, table: str | None, stack: str | None
) -> int:
    """The command: 0, or 1 with the problem on stderr. Everything that can be refused is checked before the key is
    stored; once it is, the key is printed even if the file cannot be written then."""
    key = new_key(shop_id, kind)
    key_hash = hash_key(key)
    try:
        name = shops_table(table, stack)
        retire_at = clock.now() + grace_period(grace)
        edit = (config_file, _rewritten_config(config_file, shop_id, kind, key_hash)) if config_file else None
        retiring = ShopDirectory(name).rotate(shop_id, kind, key_hash, retire_at)
    except (KeyRotationError, ShopDirectoryError, StackOutputError) as error:
        _tell(str(error))
        return 1
    print(key, flush=True)
    _tell(f"shop {shop_id}: the new {kind} key above is shown only once; nudge keeps only its hash, {key_hash}")
    for digest, at in sorted(retiring.items(), key=lambda item: item[1]):
        _tell(f"the old {kind} key {digest[:19]}... works until {at.isoformat(timespec='seconds')}, then no more")
    if edit is None:
        _tell(f"put {key_hash} in shop.{kind}_keys of the shop's config file in place of the old keys (--config does")
        _tell("it): until then `nudge shops apply` refuses the file, whose keys of that kind are all rotated out")
        return 0
    path, text = edit
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        _tell(f"{path}: cannot write ({error.strerror}); put {key_hash} in shop.{kind}_keys by hand")
        return 1
    _tell(f"{path}: shop.{kind}_keys now holds the new key's hash; applying it keeps the old keys until their time")
    return 0


def _rewritten_config(path: Path, shop_id: str, kind: KeyKind, key_hash: str) -> str:
    try:
        load_config(path)  # a file that would not apply again is refused before the rotation, not after
    except ConfigInvalidError as error:
        raise KeyRotationError(f"{error}: {'; '.join(error.problems)}") from error
    return with_only_key(path.read_text(encoding="utf-8"), shop_id, kind, key_hash)


def _tell(line: str) -> None:
    print(f"keys: {line}", file=sys.stderr)
