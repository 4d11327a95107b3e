"""A store damaged in every way ``dalcore check`` knows, and the scenario proving it is found and
repaired by the real command. Used by dalcore's SQLite tests and by store plugins' tests.

The damage is done with raw writes to the store (``rt.store``), as a crash between two writes
or a bug in another program would leave it; dalcore's own saves never produce it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

import dalcore
from dalcore import DataObject, Property, Relation, _layout

MODULE = __name__


class CheckShelf(DataObject):
    __properties = [Property("name", str, unique=True)]


class CheckCover(DataObject):
    __properties = [Property("colour", str)]


class CheckBook(DataObject):
    __properties = [
        Property("title", str),
        Property("isbn", str, unique=True),
        Property("genre", str, indexed=True),
    ]
    __relations = [
        Relation("shelf", CheckShelf, "books", mandatory=False),
        Relation("cover", CheckCover, "book", onetoone=True, mandatory=False),
    ]


# What check finds in the damaged store; the last two need a person and stay after repair.
FOUND = {
    "invalid-document": 1,
    "unknown-fields": 1,
    "relation-to-missing-object": 1,
    "reverse-entry-missing": 2,
    "reverse-entry-orphan": 2,  # a book that does not exist, book 8's old cover
    "index-entry-missing": 1,
    "index-entry-orphan": 2,  # book 6's old genre, and the deleted shelf's name
    "unique-entry-missing": 1,
    "unique-entry-orphan": 1,
    "link-marker-orphan": 1,
    "unique-value-shared": 1,
    "one-to-one-conflict": 1,
    "unreadable-entry": 1,
}
NEEDS_PERSON = {
    "invalid-document": 1,
    "unique-value-shared": 1,
    "one-to-one-conflict": 1,
    "unreadable-entry": 1,
}


@dataclasses.dataclass
class Damaged:
    books: list[str]  # guids of the books, in creation order
    orphaned_book: str  # its shelf was deleted behind dalcore's back


def damage(rt: Any) -> Damaged:
    """Objects saved through dalcore, then broken one kind at a time with raw writes."""
    store = rt.store
    shelves = [CheckShelf(name=f"shelf-{i}") for i in range(2)]
    for shelf in shelves:
        shelf.save()
    books = []
    for i in range(10):
        cover = CheckCover(colour="red")
        cover.save()
        book = CheckBook(title=f"book {i}", isbn=f"isbn-{i}", genre="poetry" if i % 2 else "prose")
        book.shelf = shelves[i % 2]
        book.cover = cover
        book.save()
        books.append(book)
    shelf_meta, book_meta = CheckShelf._meta, CheckBook._meta
    book_key = [_layout.prefix(rt, book_meta) + b.guid for b in books]

    def doc(i: int) -> dict[str, Any]:
        loaded: dict[str, Any] = orjson.loads(store.get(book_key[i]).value)
        return loaded

    # invalid-document: isbn is not a str (book 0)
    store.set(book_key[0], orjson.dumps(dict(doc(0), isbn=5)))
    # unknown-fields (book 1)
    store.set(book_key[1], orjson.dumps(dict(doc(1), legacy=True)))
    # A shelf deleted without its links: relation-to-missing-object (book 3 is on shelf 1; the
    # other books on it are moved off first, book 1 among them because a document with unknown
    # fields has its links checked only once it is rewritten), unique-entry-orphan (its name),
    # index-entry-orphan (its name) and link-marker-orphan.
    for i in (1, 5, 7, 9):
        data = doc(i)
        store.delete(
            _layout.reverse_key(rt, book_meta, book_meta.relations["shelf"], shelves[1].guid,
                                  books[i].guid)
        )  # fmt: skip
        data["shelf_guid"] = None
        store.set(book_key[i], orjson.dumps(data))
    store.delete(_layout.prefix(rt, shelf_meta) + shelves[1].guid)
    # reverse-entry-missing: book 2's shelf entry and book 4's one-to-one cover entry
    store.delete(
        _layout.reverse_key(rt, book_meta, book_meta.relations["shelf"], shelves[0].guid,
                              books[2].guid)
    )  # fmt: skip
    store.delete(
        _layout.reverse_key(rt, book_meta, book_meta.relations["cover"], books[4].cover_guid,
                              books[4].guid)
    )  # fmt: skip
    # reverse-entry-orphan: a book that does not exist on shelf 0
    store.set(
        _layout.reverse_key(rt, book_meta, book_meta.relations["shelf"], shelves[0].guid,
                              "no-such-book")
    , b"")  # fmt: skip
    # index-entry-missing (book 6's genre) and index-entry-orphan (an old genre of book 6)
    store.delete(_layout.index_prefix(rt, book_meta, "genre", "prose") + books[6].guid)
    store.set(_layout.index_prefix(rt, book_meta, "genre", "drama") + books[6].guid, b"")
    # unique-entry-missing: book 5's isbn owner
    store.delete(_layout.unique_key(rt, book_meta, "isbn", "isbn-5"))
    # unique-value-shared: book 7 given book 2's isbn behind dalcore's back, index entries kept
    # consistent so that only the shared value is wrong
    data = doc(7)
    store.delete(_layout.unique_key(rt, book_meta, "isbn", "isbn-7"))
    store.delete(_layout.index_prefix(rt, book_meta, "isbn", "isbn-7") + books[7].guid)
    store.set(_layout.index_prefix(rt, book_meta, "isbn", "isbn-2") + books[7].guid, b"")
    store.set(book_key[7], orjson.dumps(dict(data, isbn="isbn-2")))
    # one-to-one-conflict: book 8 given book 9's cover behind dalcore's back (the reverse entry
    # of that cover names book 9); book 8's own cover keeps an entry naming it: an orphan
    store.set(book_key[8], orjson.dumps(dict(doc(8), cover_guid=books[9].cover_guid)))
    # unreadable-entry: an index key whose value part is not JSON
    store.set(f"{_layout.internal_prefix(rt, '.idx')}checkbook/genre/not-json/{books[2].guid}", b"")
    return Damaged([b.guid for b in books], books[3].guid)


def _run(env: dict[str, str], *args: str) -> tuple[int, Any, str]:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("dalcore")), "check", "--hybrids", MODULE, *args,
         "--json"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def _dump(store: Any) -> list[tuple[str, bytes, int]]:
    return [(e.key, e.value, e.revision) for e in store.scan("")]


def check_and_repair(persistent: str, namespace: str) -> None:
    """Damage a store, then prove with the real command that check finds every kind without
    writing, that an interrupted repair resumes, and that repair fixes everything it can."""
    rt = dalcore.configure(persistent, "memory://", namespace=namespace)
    damaged = damage(rt)
    env = dict(
        os.environ,
        DALCORE_PERSISTENT=persistent,
        DALCORE_VOLATILE="memory://",
        DALCORE_NAMESPACE=namespace,
    )
    before = _dump(rt.store)
    status, report, _ = _run(env)
    assert status == 1
    assert report["found"] == FOUND, report
    assert report["unchecked"]["count"] == 0, report["unchecked"]
    assert _dump(rt.store) == before, "check without --repair wrote to the store"

    # An interrupted repair: the position says the object areas are done, so only the entry
    # areas after it are scanned and repaired, and the run says where it resumed.
    cursor = _layout.internal_prefix(rt, ".check") + "cursor"
    last = sorted(k for k in rt.store.keys(_layout.prefix(rt, CheckShelf._meta)))[-1]
    rt.store.set(cursor, orjson.dumps({"area": "CheckShelf objects", "key": last}))
    status, resumed, _ = _run(env, "--repair")
    assert resumed["resumed_after"] == {"area": "CheckShelf objects", "key": last}
    # The books' (earlier) objects area was skipped: nothing found there was repaired.
    assert (
        "unknown-fields" not in resumed["found"] and "index-entry-missing" not in resumed["found"]
    )
    assert resumed["repaired"]["reverse-entry-orphan"] == FOUND["reverse-entry-orphan"]
    assert not rt.store.exists(cursor), "a finished repair leaves no position behind"

    status, repaired, _ = _run(env, "--repair")
    assert status == 1  # two findings need a person
    assert repaired["needs_a_person"] == NEEDS_PERSON
    assert repaired["changed_meanwhile"] == {}
    # Everything found that a program may fix was fixed, each in its own commit.
    assert repaired["repaired"] == {
        k: v for k, v in repaired["found"].items() if k not in NEEDS_PERSON
    }
    fixed = Counter(resumed["repaired"]) + Counter(repaired["repaired"])
    assert fixed == Counter({k: v for k, v in FOUND.items() if k not in NEEDS_PERSON})
    status, after, _ = _run(env)
    assert after["found"] == NEEDS_PERSON, after

    # The repaired store works through dalcore again.
    dalcore.configure(persistent, "memory://", namespace=namespace)
    orphan = CheckBook(damaged.orphaned_book)
    assert orphan.shelf is None
    prose = [damaged.books[i] for i in (0, 2, 4, 6, 8)]  # book 0 is the invalid one
    assert sorted(CheckBook.where(genre="prose").guids) == sorted(prose)
    assert CheckBook.where(genre="drama").guids == []
    assert CheckBook.where(isbn="isbn-5").guids == [damaged.books[5]]
    assert CheckBook(damaged.books[4]).cover.book.guid == damaged.books[4]
