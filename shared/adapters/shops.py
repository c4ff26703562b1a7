"""Shop directory in DynamoDB: shop configurations and the (hashed) API keys that identify shops.

Items (table key ``pk``):
- ``shop#<id>``  -> ``config`` (the validated config as JSON, keys hashed), ``updated_at``, ``paused``, and
  ``retiring``: the listed keys a rotation retires, each with the time it stops (``nudge keys rotate``)
- ``key#<hash>`` -> ``shop_id``, ``kind`` (``write`` or ``secret``), and ``retires_at`` once the key is rotated out.
  A retired key's item stays, refused, so that a config still listing it cannot bring it back.
- ``origins``    -> one attribute ``o:<shop id>`` per shop with browser origins: the list of its ``allowed_origins``.
  A CORS preflight names no shop, so it is answered from this one item (any shop allowing the origin suffices).
- ``dated``      -> one attribute ``d:<shop id>`` per shop with a date or occasion journey: the number of them. The
  daily date sweep starts one job per shop listed here (no scan of the shops).
Keys are looked up by hash, so the table never holds a usable key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from shared import clock
from shared.adapters.table import DynamoDBTable
from shared.models.vocabulary import KeyKind, hash_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from shared.models.config import ShopConfig

_CACHE_SECONDS = 60.0
_ORIGINS_PK = "origins"
_ORIGINS_ATTR = "o:"
_DATED_PK = "dated"  # the daily schedule's index of shops: those with a date journey, those with a retention
_DATED_ATTR = "d:"
_RETAINED_ATTR = "r:"


def _parse_config(stored: str) -> ShopConfig:
    """A stored configuration, validated. The configuration's schema (journeys, templates, channel settings) loads
    here, at the first configuration read, not with the directory: the ingest and support APIs only look up keys and
    origins, and the public API reads a configuration for inbox calls only."""
    from shared.models.config import ShopConfig

    return ShopConfig.model_validate_json(stored)


class ShopDirectoryError(Exception):
    """The directory cannot do what was asked (e.g. a key already belongs to another shop)."""


class UnknownShopError(ShopDirectoryError):
    """No shop by that id is stored: apply its config first."""


@dataclass(frozen=True, slots=True)
class ShopKey:
    """What an API key grants: which shop, and as which kind of key."""

    shop_id: str
    kind: KeyKind


@dataclass(frozen=True, slots=True)
class Rotation:
    """A key rotation worked out from the shop as stored: what the directory writes."""

    config: ShopConfig  # the new key first in its list, then the old keys that work until their time
    retiring: dict[str, datetime]  # every listed key that stops at a time (the shop's ``retiring``)
    retire: dict[str, datetime]  # the old keys of the kind rotated, each with the time it stops


def plan_rotation(
    stored: ShopConfig, retiring: dict[str, datetime], kind: KeyKind, key_hash: str, retire_at: datetime, now: datetime
) -> Rotation:
    """Put ``key_hash`` first among the shop's ``kind`` keys and retire the others at ``retire_at``. A key already
    retiring sooner keeps its time (rotating twice never extends a key's life); one past its time leaves the list."""
    field = f"{kind}_keys"
    listed: list[str] = getattr(stored.shop, field)
    live = [digest for digest in listed if digest not in retiring or retiring[digest] > now]
    retire = {digest: min(retiring.get(digest, retire_at), retire_at) for digest in live}
    others = {*stored.shop.write_keys, *stored.shop.secret_keys} - set(listed)
    kept = {digest: at for digest, at in retiring.items() if digest in others} | retire
    shop = stored.shop.model_copy(update={field: [key_hash, *live]})
    return Rotation(config=stored.model_copy(update={"shop": shop}), retiring=kept, retire=retire)


def reconcile(
    config: ShopConfig, stored: ShopConfig | None, retiring: dict[str, datetime], now: datetime
) -> tuple[ShopConfig, dict[str, datetime]]:
    """What ``apply`` stores for ``config``: the config and the shop's ``retiring``.

    The file says which keys are live from now on, but a rotation's retiring keys are the directory's to end: a key
    the file no longer lists that is inside its grace stays listed (and working) until its time. ``retiring`` holds
    the times known for the stored keys and for the file's; a key the file lists keeps its time, so a retired key
    listed again stays refused.

    A file whose keys of a kind are all rotated out is refused (ShopDirectoryError): it predates a rotation, and
    stored it would drop the new key and leave the shop without a key of that kind once the grace ends.
    """
    wanted = {*config.shop.write_keys, *config.shop.secret_keys}
    lists: dict[str, list[str]] = {}
    for field in ("write_keys", "secret_keys"):
        if all(digest in retiring for digest in getattr(config.shop, field)):
            raise ShopDirectoryError(
                f"every key in shop.{field} of shop {config.shop.id!r} is rotated out: list the newest key's hash"
                " there (`nudge keys rotate` printed it)"
            )
        previous: list[str] = getattr(stored.shop, field) if stored else []
        grace = [d for d in previous if d not in wanted and d in retiring and retiring[d] > now]
        lists[field] = [*getattr(config.shop, field), *grace]
    listed = {*lists["write_keys"], *lists["secret_keys"]}
    stored_config = config.model_copy(update={"shop": config.shop.model_copy(update=lists)})
    return stored_config, {digest: at for digest, at in retiring.items() if digest in listed}


def without_retired(config: ShopConfig, retiring: dict[str, datetime], now: datetime) -> ShopConfig:
    """``config`` without the keys past their time: a retired secret key no longer verifies customer tokens either."""
    gone = {digest for digest, at in retiring.items() if at <= now}
    if not gone or not gone & {*config.shop.write_keys, *config.shop.secret_keys}:  # the usual case: nothing retired
        return config
    lists = {
        "write_keys": [d for d in config.shop.write_keys if d not in gone],
        "secret_keys": [d for d in config.shop.secret_keys if d not in gone],
    }
    return config.model_copy(update={"shop": config.shop.model_copy(update=lists)})


def rotation_request(
    table: str, shop_id: str, kind: KeyKind, key_hash: str, plan: Rotation, seen: str, now: datetime
) -> list[Any]:
    """The rotation as one transaction: the new key (a new item), each old key's ``retires_at`` (still the shop's),
    and the shop's config and ``retiring``, on the condition that the shop is as read (``updated_at`` is ``seen``)."""
    retires = [
        {
            "Update": {
                "TableName": table,
                "Key": {"pk": {"S": f"key#{digest}"}},
                "UpdateExpression": "SET retires_at = :at",
                "ConditionExpression": "shop_id = :shop",
                "ExpressionAttributeValues": {":at": {"S": _iso(at)}, ":shop": {"S": shop_id}},
            }
        }
        for digest, at in plan.retire.items()
    ]
    return [
        {
            "Put": {
                "TableName": table,
                "Item": {"pk": {"S": f"key#{key_hash}"}, "shop_id": {"S": shop_id}, "kind": {"S": kind}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        *retires,
        {
            "Update": {
                "TableName": table,
                "Key": {"pk": {"S": f"shop#{shop_id}"}},
                "UpdateExpression": "SET config = :config, updated_at = :at, retiring = :retiring",
                "ConditionExpression": "updated_at = :seen",
                "ExpressionAttributeValues": {
                    ":config": {"S": plan.config.model_dump_json()},
                    ":at": {"S": _iso(now)},
                    ":retiring": _retiring_value(plan.retiring),
                    ":seen": {"S": seen},
                },
            }
        },
    ]


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def _retiring_value(retiring: dict[str, datetime]) -> dict[str, Any]:
    return {"M": {digest: {"S": _iso(at)} for digest, at in retiring.items()}}


def _retiring_of(item: dict[str, Any] | None) -> dict[str, datetime]:
    stored = (item or {}).get("retiring", {}).get("M", {})
    return {digest: datetime.fromisoformat(value["S"]) for digest, value in stored.items()}


def _retires_at(item: dict[str, Any] | None) -> datetime | None:
    return datetime.fromisoformat(item["retires_at"]["S"]) if item and "retires_at" in item else None


class ShopDirectory(DynamoDBTable):
    """Reads and writes shops and their keys; lookups are cached per container for a minute."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        super().__init__(table_name, client)
        self._keys: dict[str, tuple[float, ShopKey | None, datetime | None]] = {}
        self._configs: dict[str, tuple[float, ShopConfig, dict[str, datetime]]] = {}
        self._origins: tuple[float, dict[str, frozenset[str]]] | None = None

    def authenticate(self, key: str) -> ShopKey | None:
        """The shop and key kind ``key`` belongs to, or None for an unknown key or one past its ``retires_at``.

        The retirement is cached with the key and held against the clock port at every call, so a rotated key stops
        on time; only a rotation made after the key was cached here goes unseen, for the rest of the cache minute.
        """
        digest = hash_key(key)  # always hashed: presenting a stored hash must not authenticate
        cached = self._keys.get(digest)
        if not (cached and cached[0] > time.monotonic()):
            item = self.client.get_item(TableName=self._table, Key={"pk": {"S": f"key#{digest}"}}).get("Item")
            found = ShopKey(shop_id=item["shop_id"]["S"], kind=cast(KeyKind, item["kind"]["S"])) if item else None
            cached = (time.monotonic() + _CACHE_SECONDS, found, _retires_at(item))
            self._keys[digest] = cached
        _, found, retires_at = cached
        return found if retires_at is None or clock.now() < retires_at else None

    def config(self, shop_id: str) -> ShopConfig | None:
        """The shop's configuration, or None for an unknown shop; keys past their time are left out of it. Only a shop
        found is cached: one configured after an event for it was parked is found at once when the event is
        redriven (``nudge dlq redrive``)."""
        cached = self._configs.get(shop_id)
        if not (cached and cached[0] > time.monotonic()):
            item = self.client.get_item(TableName=self._table, Key={"pk": {"S": f"shop#{shop_id}"}}).get("Item")
            if not item:
                return None
            found = _parse_config(item["config"]["S"])
            if "paused" in item:
                found = found.model_copy(update={"paused": frozenset(item["paused"].get("SS", []))})
            cached = (time.monotonic() + _CACHE_SECONDS, found, _retiring_of(item))
            self._configs[shop_id] = cached
        return without_retired(cached[1], cached[2], clock.now())

    def pause(self, shop_id: str, journey: str, paused: bool = True) -> frozenset[str]:
        """Pause (or resume) one of the shop's journeys without a deploy: kept on the shop's item beside its config
        (``apply`` leaves it); the journeys paused now. Functions see it within their config cache (a minute)."""
        key = {"pk": {"S": f"shop#{shop_id}"}}
        update = "ADD paused :j" if paused else "DELETE paused :j"
        answer = self.client.update_item(
            TableName=self._table,
            Key=key,
            UpdateExpression=update,
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":j": {"SS": [journey]}},
            ReturnValues="ALL_NEW",
        )
        self._configs.pop(shop_id, None)
        return frozenset(answer["Attributes"].get("paused", {}).get("SS", []))

    def allowed_origins(self, shop_id: str) -> frozenset[str]:
        """The web origins ``shop_id`` allows to send from the browser (``*``: any); empty when none."""
        return self._origin_index().get(shop_id, frozenset())

    def origins_of_any_shop(self) -> frozenset[str]:
        """Every origin some shop allows (``*`` among them if one shop allows any origin)."""
        return frozenset().union(*self._origin_index().values())

    def _origin_index(self) -> dict[str, frozenset[str]]:
        if self._origins and self._origins[0] > time.monotonic():
            return self._origins[1]
        item = self.client.get_item(TableName=self._table, Key={"pk": {"S": _ORIGINS_PK}}).get("Item") or {}
        index = {
            name.removeprefix(_ORIGINS_ATTR): frozenset(v["S"] for v in value.get("L", []))
            for name, value in item.items()
            if name.startswith(_ORIGINS_ATTR)
        }
        self._origins = (time.monotonic() + _CACHE_SECONDS, index)
        return index

    def dated_shops(self) -> list[str]:
        """The shops with a date or occasion journey, in order (read fresh: once a day)."""
        item = self.client.get_item(TableName=self._table, Key={"pk": {"S": _DATED_PK}}).get("Item") or {}
        return sorted(name.removeprefix(_DATED_ATTR) for name in item if name.startswith(_DATED_ATTR))

    def retained_shops(self) -> list[str]:
        """The shops with a ``retention``, in order (the daily retention sweep's; read fresh: once a day)."""
        item = self.client.get_item(TableName=self._table, Key={"pk": {"S": _DATED_PK}}).get("Item") or {}
        return sorted(name.removeprefix(_RETAINED_ATTR) for name in item if name.startswith(_RETAINED_ATTR))

    def apply(self, config: ShopConfig) -> None:
        """Store ``config`` and its keys; keys dropped from the config stop working, except a rotated key inside its
        grace, which works until its time (``reconcile``), and a retired key listed again stays refused.

        Raises ShopDirectoryError if a key already belongs to another shop.
        """
        shop_id = config.shop.id
        wanted: dict[str, KeyKind] = {k: "write" for k in config.shop.write_keys}
        wanted.update({k: "secret" for k in config.shop.secret_keys})
        shop_key = {"pk": {"S": f"shop#{shop_id}"}}
        # read consistently: the store below is conditional on this very version
        item = self.client.get_item(TableName=self._table, Key=shop_key, ConsistentRead=True).get("Item")
        stored = _parse_config(item["config"]["S"]) if item else None
        retiring = _retiring_of(item)
        previous = {*stored.shop.write_keys, *stored.shop.secret_keys} if stored else set()
        # Every key is checked before any is written, so a refused config changes nothing (a key listed before the
        # refused one must not start working for a shop whose config was not stored); the conditional updates below
        # still refuse a key another shop takes meanwhile.
        for digest, kind in wanted.items():
            if digest not in previous:
                owner = self.client.get_item(TableName=self._table, Key={"pk": {"S": f"key#{digest}"}}).get("Item")
                if owner and owner["shop_id"]["S"] != shop_id:
                    raise ShopDirectoryError(f"a {kind} key of shop {shop_id!r} already belongs to another shop")
                if (retires_at := _retires_at(owner)) is not None:  # a key rotated out, listed again
                    retiring[digest] = retires_at
        stored_config, stored_retiring = reconcile(config, stored, retiring, clock.now())
        for digest, kind in wanted.items():
            self._store_key(shop_id, digest, kind)
        self._store_config(shop_id, stored_config, stored_retiring, item["updated_at"]["S"] if item else None)
        self._store_origins(shop_id, config.shop.allowed_origins)
        self._store_dated(shop_id, len(config.dated_journeys()))
        retention = config.shop.retention
        self._store_dated(shop_id, int(retention.total_seconds() // 86400) if retention else 0, _RETAINED_ATTR)
        # A rotated key's item stays: inside its grace it works until its time, after it it is refused (deleted, a
        # config listing it again would bring it back).
        for digest in previous - wanted.keys() - retiring.keys():
            self.client.delete_item(
                TableName=self._table,
                Key={"pk": {"S": f"key#{digest}"}},
                ConditionExpression="shop_id = :shop",
                ExpressionAttributeValues={":shop": {"S": shop_id}},
            )
        self._keys.clear()
        self._configs.pop(shop_id, None)
        self._origins = None

    def rotate(self, shop_id: str, kind: KeyKind, key_hash: str, retire_at: datetime) -> dict[str, datetime]:
        """Add ``key_hash`` as a ``kind`` key of the shop and retire its other ``kind`` keys at ``retire_at``: they work
        until then (one retiring sooner keeps its time), then ``authenticate`` refuses them. The retiring keys with
        their times.

        One transaction, on the condition that the shop did not change since it was read: a concurrent ``apply`` or
        rotation makes it fail whole (ShopDirectoryError; run it again). UnknownShopError for a shop not stored.
        """
        key = {"pk": {"S": f"shop#{shop_id}"}}
        item = self.client.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        if not item:
            raise UnknownShopError(f"no shop {shop_id!r} in {self._table}")
        now = clock.now()
        plan = plan_rotation(_parse_config(item["config"]["S"]), _retiring_of(item), kind, key_hash, retire_at, now)
        request = rotation_request(self._table, shop_id, kind, key_hash, plan, item["updated_at"]["S"], now)
        try:
            self.client.transact_write_items(TransactItems=request)
        except self.client.exceptions.TransactionCanceledException as error:
            refused = f"the rotation of shop {shop_id!r}'s {kind} key was refused (the shop changed meanwhile)"
            raise ShopDirectoryError(f"{refused}; nothing was stored") from error
        for digest in (key_hash, *plan.retire):
            self._keys.pop(digest, None)
        self._configs.pop(shop_id, None)
        return plan.retire

    def _store_config(self, shop_id: str, config: ShopConfig, retiring: dict[str, datetime], seen: str | None) -> None:
        """The config and its time, if the shop is as read (``seen``: its ``updated_at``): a rotation in between must
        not lose its new key. The journeys paused stay as they were."""
        condition = "updated_at = :seen" if seen else "attribute_not_exists(pk)"
        try:
            self.client.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"shop#{shop_id}"}},
                UpdateExpression="SET config = :config, updated_at = :at, retiring = :retiring",
                ConditionExpression=condition,
                ExpressionAttributeValues={
                    ":config": {"S": config.model_dump_json()},
                    ":at": {"S": _iso(clock.now())},
                    ":retiring": _retiring_value(retiring),
                    **({":seen": {"S": seen}} if seen else {}),
                },
            )
        except self.client.exceptions.ConditionalCheckFailedException as error:
            raise ShopDirectoryError(f"shop {shop_id!r} changed while its config was stored; apply it again") from error

    def _store_key(self, shop_id: str, digest: str, kind: KeyKind) -> None:
        """Make ``digest`` a ``kind`` key of the shop (an update: a ``retires_at`` it has stays)."""
        try:
            self.client.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"key#{digest}"}},
                UpdateExpression="SET shop_id = :shop, #kind = :kind",
                ConditionExpression="attribute_not_exists(pk) OR shop_id = :shop",
                ExpressionAttributeNames={"#kind": "kind"},
                ExpressionAttributeValues={":shop": {"S": shop_id}, ":kind": {"S": kind}},
            )
        except self.client.exceptions.ConditionalCheckFailedException as error:
            raise ShopDirectoryError(f"a {kind} key of shop {shop_id!r} already belongs to another shop") from error

    def _store_origins(self, shop_id: str, origins: list[str]) -> None:
        names = {"#shop": _ORIGINS_ATTR + shop_id}
        if origins:
            self.client.update_item(
                TableName=self._table,
                Key={"pk": {"S": _ORIGINS_PK}},
                UpdateExpression="SET #shop = :origins",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":origins": {"L": [{"S": origin} for origin in origins]}},
            )
        else:
            self.client.update_item(
                TableName=self._table,
                Key={"pk": {"S": _ORIGINS_PK}},
                UpdateExpression="REMOVE #shop",
                ExpressionAttributeNames=names,
            )

    def _store_dated(self, shop_id: str, journeys: int, prefix: str = _DATED_ATTR) -> None:
        names = {"#shop": prefix + shop_id}
        key = {"pk": {"S": _DATED_PK}}
        if journeys:
            self.client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression="SET #shop = :n",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":n": {"N": str(journeys)}},
            )
        else:
            self.client.update_item(
                TableName=self._table, Key=key, UpdateExpression="REMOVE #shop", ExpressionAttributeNames=names
            )
