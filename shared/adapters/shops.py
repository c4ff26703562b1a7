"""Shop directory in DynamoDB: shop configurations and the (hashed) API keys that identify shops.

Items (table key ``pk``):
- ``shop#<id>``  -> ``config`` (the validated config as JSON, keys hashed), ``updated_at``
- ``key#<hash>`` -> ``shop_id``, ``kind`` (``write`` or ``secret``)
- ``origins``    -> one attribute ``o:<shop id>`` per shop with browser origins: the list of its ``allowed_origins``.
  A CORS preflight names no shop, so it is answered from this one item (any shop allowing the origin suffices).
- ``dated``      -> one attribute ``d:<shop id>`` per shop with a date or occasion journey: the number of them. The
  daily date sweep starts one job per shop listed here (no scan of the shops).
Keys are looked up by hash, so the table never holds a usable key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

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


@dataclass(frozen=True, slots=True)
class ShopKey:
    """What an API key grants: which shop, and as which kind of key."""

    shop_id: str
    kind: KeyKind


class ShopDirectory(DynamoDBTable):
    """Reads and writes shops and their keys; lookups are cached per container for a minute."""

    def __init__(self, table_name: str, client: DynamoDBClient | None = None) -> None:
        super().__init__(table_name, client)
        self._keys: dict[str, tuple[float, ShopKey | None]] = {}
        self._configs: dict[str, tuple[float, ShopConfig | None]] = {}
        self._origins: tuple[float, dict[str, frozenset[str]]] | None = None

    def authenticate(self, key: str) -> ShopKey | None:
        """The shop and key kind ``key`` belongs to, or None for an unknown key."""
        digest = hash_key(key)  # always hashed: presenting a stored hash must not authenticate
        cached = self._keys.get(digest)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        item = self.client.get_item(TableName=self._table, Key={"pk": {"S": f"key#{digest}"}}).get("Item")
        found = ShopKey(shop_id=item["shop_id"]["S"], kind=cast(KeyKind, item["kind"]["S"])) if item else None
        self._keys[digest] = (time.monotonic() + _CACHE_SECONDS, found)
        return found

    def config(self, shop_id: str) -> ShopConfig | None:
        """The shop's configuration, or None for an unknown shop. Only a shop found is cached: one configured after
        an event for it was parked is found at once when the event is redriven (``nudge dlq redrive``)."""
        cached = self._configs.get(shop_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        item = self.client.get_item(TableName=self._table, Key={"pk": {"S": f"shop#{shop_id}"}}).get("Item")
        found = _parse_config(item["config"]["S"]) if item else None
        if found is not None and item and "paused" in item:
            found = found.model_copy(update={"paused": frozenset(item["paused"].get("SS", []))})
        if found is not None:
            self._configs[shop_id] = (time.monotonic() + _CACHE_SECONDS, found)
        return found

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
        """Store ``config`` and its keys; keys dropped from the config stop working.

        Raises ShopDirectoryError if a key already belongs to another shop.
        """
        shop_id = config.shop.id
        wanted: dict[str, KeyKind] = {k: "write" for k in config.shop.write_keys}
        wanted.update({k: "secret" for k in config.shop.secret_keys})
        previous = self._stored_key_hashes(shop_id)
        # Every key is checked before any is written, so a refused config changes nothing (a key listed before the
        # refused one must not start working for a shop whose config was not stored); the conditional puts below
        # still refuse a key another shop takes meanwhile.
        for digest, kind in wanted.items():
            if digest not in previous:
                item = self.client.get_item(TableName=self._table, Key={"pk": {"S": f"key#{digest}"}}).get("Item")
                if item and item["shop_id"]["S"] != shop_id:
                    raise ShopDirectoryError(f"a {kind} key of shop {shop_id!r} already belongs to another shop")
        for digest, kind in wanted.items():
            try:
                self.client.put_item(
                    TableName=self._table,
                    Item={"pk": {"S": f"key#{digest}"}, "shop_id": {"S": shop_id}, "kind": {"S": kind}},
                    ConditionExpression="attribute_not_exists(pk) OR shop_id = :shop",
                    ExpressionAttributeValues={":shop": {"S": shop_id}},
                )
            except self.client.exceptions.ConditionalCheckFailedException as error:
                raise ShopDirectoryError(f"a {kind} key of shop {shop_id!r} already belongs to another shop") from error
        self.client.update_item(  # the config and its time; the journeys paused stay as they were
            TableName=self._table,
            Key={"pk": {"S": f"shop#{shop_id}"}},
            UpdateExpression="SET config = :config, updated_at = :at",
            ExpressionAttributeValues={
                ":config": {"S": config.model_dump_json()},
                ":at": {"S": clock.now().isoformat()},
            },
        )
        self._store_origins(shop_id, config.shop.allowed_origins)
        self._store_dated(shop_id, len(config.dated_journeys()))
        retention = config.shop.retention
        self._store_dated(shop_id, int(retention.total_seconds() // 86400) if retention else 0, _RETAINED_ATTR)
        for digest in previous - wanted.keys():
            self.client.delete_item(
                TableName=self._table,
                Key={"pk": {"S": f"key#{digest}"}},
                ConditionExpression="shop_id = :shop",
                ExpressionAttributeValues={":shop": {"S": shop_id}},
            )
        self._keys.clear()
        self._configs.pop(shop_id, None)
        self._origins = None

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

    def _stored_key_hashes(self, shop_id: str) -> set[str]:
        item = self.client.get_item(TableName=self._table, Key={"pk": {"S": f"shop#{shop_id}"}}).get("Item")
        if not item:
            return set()
        stored = _parse_config(item["config"]["S"])
        return {*stored.shop.write_keys, *stored.shop.secret_keys}
