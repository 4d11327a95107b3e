"""`dalcore check [--repair]` on SQLite: every kind of damage found, then repaired."""

from __future__ import annotations

from pathlib import Path

import orjson

import dalcore
from dalcore import _objcache
from dalcore._ops.check import _Scanner, check
from dalcore.testing import damage


def test_check_finds_and_repairs_every_kind_of_damage(tmp_path: Path) -> None:
    damage.check_and_repair(f"sqlite://{tmp_path}/damaged.db", "chk")


def test_a_fix_is_not_applied_when_the_object_changed_meanwhile(tmp_path: Path) -> None:
    rt = dalcore.configure(f"sqlite://{tmp_path}/race.db", "memory://", namespace="race")
    book = damage.CheckBook(title="t", isbn="i-1", genre="prose")
    book.save()
    index = _objcache.index_prefix(rt, damage.CheckBook._meta, "genre", "prose") + book.guid
    rt.store.delete(index)
    area = next(
        a for a in _Scanner(rt, [damage.CheckBook]).areas() if a.label == "CheckBook objects"
    )
    (finding,) = area.handler(list(rt.store.scan(area.prefix)))
    assert finding.kind == "index-entry-missing"
    # A save between the scan and the repair: its own commit wrote the (new) entry.
    book.genre = "drama"
    book.save()
    from dalcore._ops.check import CheckReport, _repair

    report = CheckReport()
    _repair(rt, report, finding)
    assert report.changed == {"index-entry-missing": 1} and not report.repaired
    assert not rt.store.exists(index), "the fix for the old value was written anyway"
    assert check(rt, [damage.CheckBook]).clean


def test_check_json_on_a_sound_store_is_clean(tmp_path: Path) -> None:
    rt = dalcore.configure(f"sqlite://{tmp_path}/ok.db", "memory://", namespace="ok")
    shelf = damage.CheckShelf(name="s")
    shelf.save()
    damage.CheckBook(title="t", isbn="i", genre="g", shelf=shelf).save()
    report = check(rt, [damage.CheckShelf, damage.CheckBook, damage.CheckCover])
    assert report.clean and report.scanned > 0
    assert orjson.loads(orjson.dumps(report.as_json()))["clean"] is True
