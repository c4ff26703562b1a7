"""A shop's Google Merchant Center product feed, read into the products ``POST /v1/catalog`` takes.

Both of Merchant Center's file formats are read, told apart by the content (markup first: XML), not the name:

- a text feed: tab separated, a header row of attribute names (``g:`` prefixes, case and surrounding spaces do not
  matter), cells in double quotes where they hold tabs or line breaks (a quote inside written twice), UTF-8 with or
  without a byte order mark (or UTF-16 with one);
- an XML feed: RSS 2.0 (``<rss><channel><item>``) or Atom (``<feed><entry>``), attributes in the Google namespace
  (``<g:price>``), RSS's own ``<title>``, ``<link>`` and ``<description>`` without it, Atom's ``<link href>`` and
  ``<summary>``; nudge's own ``quantity`` and ``related`` in the Google namespace or none.

Only the attributes nudge keeps (the fields of ``ProductUpdate``) are read; every other column or element (``gtin``,
``condition``, ``shipping``, ...) is named once in ``Feed.ignored`` and otherwise skipped. An empty cell or element
is not given: the product keeps what nudge holds for it. ``related`` is a comma-separated list, or repeated elements.

Every product is checked with ``ProductUpdate`` before anything is posted, and a feed with any broken product, or
with one id twice, is refused as a whole: ``FeedError`` names each problem by the feed's row (the file's line number,
the header is line 1) or item (its ordinal) and column or element. A product without a title, link, price or
availability is not a problem here: nudge may already hold those, and the API says when it does not.

The XML is parsed with the standard library (streamed, so a large feed does not sit in memory as a tree). The file
is the shop's own, given by its operator: this is not a parser for files from strangers (no defusedxml).
"""

import csv
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from shared.models.catalog import ProductUpdate

FIELDS = tuple(ProductUpdate.model_fields)
GOOGLE = "http://base.google.com/ns/1.0"
ATOM = "http://www.w3.org/2005/Atom"
SHOWN = 20  # problems listed; the rest are counted
# Sent as the feed writes them: the model's serialisation rounds an amount to cents and a time to the minute, and
# the API reads the feed's own text the same way this check did.
AS_WRITTEN = ("price", "sale_price", "sale_price_effective_date")
# What RSS itself names without the Google namespace, and nudge's own attributes, which Merchant Center has not.
RSS_PLAIN = ("title", "link", "description")
NUDGE_OWN = ("quantity", "related")
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class FeedError(Exception):
    """The feed cannot be imported; ``problems`` names the first ``SHOWN`` of ``total`` problems, one line each."""

    def __init__(self, path: Path, problems: list[str], total: int | None = None) -> None:
        self.path = path
        self.problems = problems[:SHOWN]
        self.total = len(problems) if total is None else total
        lines = [f"{path}: {self.total} problem(s); nothing was imported", *(f"  {p}" for p in self.problems)]
        if self.total > len(self.problems):
            lines.append(f"  and {self.total - len(self.problems)} more")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Place:
    """Where one product is in the feed: its row or item, and the column or element of each attribute it gives."""

    record: str  # "row 14", "item 3", "entry 3"
    labels: dict[str, str]  # attribute -> "column price", "element g:price"
    product_id: str | None = None
    unlabelled: str = "{}"  # an attribute the product does not give: "column {}", "element g:{}"

    def describe(self, attribute: str | None = None, position: int | None = None) -> str:
        """``row 14 (id sku-9), column price``; ``position`` is the index of one of several values (``related``)."""
        text = self.record + (f" (id {self.product_id})" if self.product_id else "")
        if attribute is not None:
            text += f", {self.labels.get(attribute) or self.unlabelled.format(attribute)}"
            if position is not None:
                text += f", value {position + 1}"
        return text


@dataclass(frozen=True)
class Feed:
    """The feed's products as posted (Merchant Center attribute names), where each came from, what was skipped."""

    format: str  # "text", "RSS 2.0", "Atom"
    products: list[dict[str, Any]]
    places: list[Place]
    ignored: list[str]  # columns or elements nudge does not keep, in the order first met


@dataclass(frozen=True)
class _Kind:
    format: str
    record: str  # what one product is called in messages: "row", "item", "entry"
    unlabelled: str  # how messages name an attribute the product does not give


TEXT = _Kind("text", "row", "column {}")
RSS = _Kind("RSS 2.0", "item", "element g:{}")
ATOM_FEED = _Kind("Atom", "entry", "element g:{}")
# root element -> the feed's kind, and the path of its items from the root
FEED_ROOTS: dict[str, tuple[_Kind, tuple[str, ...]]] = {
    "rss": (RSS, ("rss", "channel", "item")),
    "feed": (ATOM_FEED, ("feed", "entry")),
}


@dataclass
class _Record:
    place: Place
    values: dict[str, Any] = field(default_factory=dict)


class _Problems:
    def __init__(self) -> None:
        self.shown: list[str] = []
        self.total = 0

    def add(self, problem: str) -> None:
        self.total += 1
        if len(self.shown) < SHOWN:
            self.shown.append(problem)

    def raise_any(self, path: Path) -> None:
        if self.total:
            raise FeedError(path, self.shown, self.total)


def read_feed(path: Path) -> Feed:
    """Read and check the Merchant Center feed at ``path``; FeedError names every problem (nothing is posted then)."""
    problems = _Problems()
    ignored: dict[str, None] = {}
    try:
        if _is_markup(path):
            kind, records = _xml_records(path, problems, ignored)
        else:
            kind, records = TEXT, _text_records(path, problems, ignored)
        products, places = _checked(records, problems)
    except OSError as error:
        raise FeedError(path, [f"cannot be read: {error.strerror or error}"]) from error
    except UnicodeDecodeError as error:
        raise FeedError(path, [f"not UTF-8 text ({error.reason}): save the feed as UTF-8"]) from error
    problems.raise_any(path)
    if not products:
        raise FeedError(path, ["holds no products"])
    return Feed(format=kind.format, products=products, places=places, ignored=list(ignored))


def _is_markup(path: Path) -> bool:
    with path.open("rb") as stream:
        start = stream.read(4096)
    if start.startswith(UTF16_BOMS):
        text = start.decode("utf-16", errors="ignore")
    else:
        text = start.decode("utf-8", errors="ignore")
    return text.lstrip("\ufeff \t\r\n").startswith("<")


def _checked(records: Iterator[_Record], problems: _Problems) -> tuple[list[dict[str, Any]], list[Place]]:
    """Each record as ``ProductUpdate`` takes it; every broken attribute and every repeated id a problem."""
    products: list[dict[str, Any]] = []
    places: list[Place] = []
    first: dict[str, Place] = {}
    for record in records:
        given = record.values.get("id")
        place = replace(record.place, product_id=given.strip() if isinstance(given, str) else None)
        try:
            update = ProductUpdate.model_validate(record.values)
        except ValidationError as error:
            for detail in error.errors(include_url=False):
                attribute = str(detail["loc"][0]) if detail["loc"] else None
                position = detail["loc"][1] if len(detail["loc"]) > 1 else None
                where = place.describe(attribute, position if isinstance(position, int) else None)
                problems.add(f"{where}: {_rule(detail)}")
            continue
        if update.id in first:
            problems.add(
                f"{place.describe()}: the same id as {first[update.id].record}; a feed holds each product once"
            )
            continue
        first[update.id] = place
        product = update.model_dump(mode="json", exclude_unset=True)
        for name in AS_WRITTEN:
            if name in product:
                product[name] = record.values[name].strip()
        products.append(product)
        places.append(place)
    return products, places


def _rule(detail: ErrorDetails) -> str:
    """What is wrong, in the model's own words, with the value when the words do not show it."""
    if detail["type"] == "missing":
        return "missing"
    if detail["type"] == "value_error":
        return str(detail.get("ctx", {}).get("error", detail["msg"]))  # the model's words, with the value
    value = detail.get("input")
    shown = f"; got {value[:60]!r}{'...' if len(value) > 60 else ''}" if isinstance(value, str) else ""
    return f"{detail['msg']}{shown}"


def _attribute(header: str) -> str:
    """``" G:Image Link "`` -> ``image_link``: Merchant Center's header spellings of one attribute name."""
    name = header.strip().lower()
    name = name.removeprefix("g:").strip()
    return "_".join(name.split())


def _text_encoding(path: Path) -> str:
    with path.open("rb") as stream:
        start = stream.read(2)
    return "utf-16" if start in UTF16_BOMS else "utf-8-sig"


def _text_records(path: Path, problems: _Problems, ignored: dict[str, None]) -> Iterator[_Record]:
    """The rows of a tab-separated feed; a row's number is its first line in the file (the header's is 1, unless
    blank lines precede it)."""
    with path.open(encoding=_text_encoding(path), newline="") as stream:
        rows = csv.reader(stream, delimiter="\t", strict=True)
        line = 0
        try:
            header: list[str] = []
            while not any(cell.strip() for cell in header):
                header = next(rows)
                line = rows.line_num
        except StopIteration:
            return
        except csv.Error as error:
            raise FeedError(path, [f"line {rows.line_num}: {error}"]) from error
        columns = _columns(header, line, path, ignored)
        while True:
            start = line + 1
            try:
                row = next(rows)
            except StopIteration:
                return
            except csv.Error as error:  # the reader cannot tell where the next row starts: the last problem
                problems.add(
                    f"row {start}: {error} (a cell in quotes ends with its closing quote; a quote inside it is "
                    "written twice)"
                )
                raise FeedError(path, problems.shown, problems.total) from error
            line = rows.line_num
            if not any(cell.strip() for cell in row):
                continue
            yield _text_record(row, start, columns, len(header), problems)


def _columns(header: list[str], line: int, path: Path, ignored: dict[str, None]) -> list[tuple[int, str, str]]:
    """The header's columns nudge keeps: (index, attribute, label); the others go to ``ignored``."""
    kept: list[tuple[int, str, str]] = []
    problems = []
    for index, text in enumerate(header):
        name = _attribute(text)
        if name not in FIELDS:
            if name:
                ignored.setdefault(name, None)
            continue
        twice = [earlier for earlier, other, _ in kept if other == name]
        if twice and name != "related":  # related may be spread over columns; one value a column would be two
            problems.append(
                f"line {line}: column {text.strip()} is given twice (columns {twice[0] + 1} and {index + 1})"
            )
        kept.append((index, name, f"column {text.strip()}"))
    if not any(name == "id" for _, name, _ in kept):
        hint = (
            " (the header holds commas: a Merchant Center text feed is tab separated)" if "," in "".join(header) else ""
        )
        problems.append(f"line {line}: the header has no id column{hint}")
    if problems:
        raise FeedError(path, problems)
    return kept


def _text_record(
    row: list[str], number: int, columns: list[tuple[int, str, str]], width: int, problems: _Problems
) -> _Record:
    record = _Record(Place(f"row {number}", {}, unlabelled=TEXT.unlabelled))
    for index, name, label in columns:
        record.place.labels.setdefault(name, label)  # the header names it, given or not (the API may ask for it)
        cell = row[index].strip() if index < len(row) else ""
        if not cell:
            continue
        if name == "related":
            record.values.setdefault(name, []).extend(_ids(cell))
        else:
            record.values[name] = cell
    extra = [cell for cell in row[width:] if cell.strip()]
    if extra:
        given = record.values.get("id")
        where = f"row {number}" + (f" (id {given})" if given else "")
        problems.add(f"{where}: {len(row)} cells, the header names {width} columns; got {extra[0][:60]!r} past them")
    return record


def _ids(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def _xml_records(path: Path, problems: _Problems, ignored: dict[str, None]) -> tuple[_Kind, Iterator[_Record]]:
    """The feed's kind, from its root element, and its items (read as they are iterated)."""
    stream = path.open("rb")
    try:
        events = ET.iterparse(_from_markup(stream), events=("start", "end"))
        _, root = next(events)
        local = _split(root.tag)[1]
        if local not in FEED_ROOTS:
            raise FeedError(path, [f"the root element is <{local}>: an XML feed is RSS 2.0 (<rss>) or Atom (<feed>)"])
    except ET.ParseError as error:
        stream.close()
        raise FeedError(path, [_parse_problem(error)]) from error
    except BaseException:
        stream.close()
        raise
    kind, item_path = FEED_ROOTS[local]
    return kind, _items(path, stream, events, root, item_path, kind, problems, ignored)


def _items(
    path: Path,
    stream: IO[bytes],
    events: Iterator[tuple[str, Any]],
    root: ET.Element,
    item_path: tuple[str, ...],
    kind: _Kind,
    problems: _Problems,
    ignored: dict[str, None],
) -> Iterator[_Record]:
    """The feed's items, each dropped from the tree once read."""
    open_elements = [root]
    ordinal = 0
    with stream:
        try:
            for event, element in events:
                if event == "start":
                    open_elements.append(element)
                    continue
                open_elements.pop()
                if len(open_elements) + 1 != len(item_path) or not _is_item(open_elements, element, item_path):
                    continue
                ordinal += 1
                yield _item(element, f"{kind.record} {ordinal}", kind, problems, ignored)
                open_elements[-1].remove(element)
        except ET.ParseError as error:  # the parser stops here: the last problem
            problems.add(_parse_problem(error))
            raise FeedError(path, problems.shown, problems.total) from error


def _is_item(parents: list[ET.Element], element: ET.Element, item_path: tuple[str, ...]) -> bool:
    return all(_split(e.tag)[1] == name for e, name in zip((*parents, element), item_path, strict=True))


def _parse_problem(error: ET.ParseError) -> str:
    line, column = error.position
    return f"not well-formed XML at line {line}, column {column + 1}: {error.msg}"


def _from_markup(stream: IO[bytes]) -> IO[bytes]:
    """The stream at its first ``<``: an XML declaration must open the document, and spaces before it often don't.
    A UTF-16 file is left as it is (its byte order mark tells the parser its encoding)."""
    start = stream.read(4096)
    if start.startswith(UTF16_BOMS):
        stream.seek(0)
        return stream
    offset = len(start) - len(start.removeprefix(UTF8_BOM).lstrip(b" \t\r\n"))
    stream.seek(offset)
    return stream


def _item(element: ET.Element, record: str, kind: _Kind, problems: _Problems, ignored: dict[str, None]) -> _Record:
    """One ``<item>`` or ``<entry>``: its attributes by their names in the Google namespace, RSS's or Atom's."""
    item = _Record(Place(record, {}, unlabelled=kind.unlabelled))
    summary: tuple[str, str] | None = None
    twice: list[str] = []
    for child in element:
        namespace, local = _split(child.tag)
        label = f"g:{local}" if namespace == GOOGLE else local
        name = _attribute_of(namespace, local)
        if name is None:
            if namespace == ATOM and local in ("summary", "content"):
                summary = summary or ("".join(child.itertext()).strip(), label)
            elif namespace == "" and local in FIELDS:
                ignored.setdefault(f"{local} (not in the g: namespace)", None)
            elif namespace == ATOM:  # an entry's own id, updated, author: not the product's
                ignored.setdefault(f"atom:{local}", None)
            else:
                ignored.setdefault(local, None)
            continue
        if namespace == ATOM and local == "link":
            if child.get("rel", "alternate") != "alternate":
                continue  # an entry's other links: rel="self", "enclosure", ...
            text = child.get("href", "").strip()
        else:
            text = "".join(child.itertext()).strip()
        if not text:
            continue
        if name == "related":
            item.values.setdefault(name, []).extend(_ids(text))
            item.place.labels.setdefault(name, f"element {label}")
        elif name in item.values:
            twice.append(label)
        else:
            item.values[name] = text
            item.place.labels[name] = f"element {label}"
    if summary is not None and summary[0] and "description" not in item.values:
        item.values["description"] = summary[0]
        item.place.labels["description"] = f"element {summary[1]}"
    given = item.values.get("id")
    for label in twice:
        where = record + (f" (id {given})" if given else "")
        problems.add(f"{where}, element {label}: given twice (an attribute once an item; only related repeats)")
    return item


def _attribute_of(namespace: str, local: str) -> str | None:
    """The ``ProductUpdate`` attribute an element gives, or None for one nudge does not keep."""
    if namespace == GOOGLE:
        return local if local in FIELDS else None
    if namespace == "" and local in (*RSS_PLAIN, *NUDGE_OWN):
        return local
    if namespace == ATOM and local in ("title", "link", *NUDGE_OWN):
        return local
    return None
