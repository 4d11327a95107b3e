"""`dalcore check [--repair]` on SQLite: every kind of damage found, then repaired."""

from __future__ import annotations

from pathlib import Path

import orjson

import dalcore
from dalcore import _layout
from dalcore._ops.check import check
from dalcore._ops.findings import _Scanner
from dalcore.testing import damage


def test_check_finds_and_repairs_every_kind_of_damage(tmp_path: Path) -> None:
    damage.check_and_repair(f"sqlite://{tmp_path}/damaged.db", "chk")


def test_a_fix_is_not_applied_when_the_object_changed_meanwhile(tmp_path: Path) -> None:
    rt = dalcore.configure(f"sqlite://{tmp_path}/race.db", "memory://", namespace="race")
    book = damage.CheckBook(title="t", isbn="i-1", genre="prose")
    book.save()
    index = _layout.index_prefix(rt, damage.CheckBook._meta, "genre", "prose") + book.guid
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


def _check_command(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    import os
    import sys

    url = f"sqlite://{tmp_path}/bar.db"
    rt = dalcore.configure(url, "memory://", namespace="bar")
    for i in range(30):
        damage.CheckShelf(name=f"s{i}").save()
    rt.close()
    env = dict(os.environ, DALCORE_PERSISTENT=url, DALCORE_NAMESPACE="bar")
    command = [str(Path(sys.executable).with_name("dalcore")), "check", "--hybrids", damage.MODULE]
    return command, env


def test_check_shows_a_progress_bar_on_a_terminal_only(tmp_path: Path) -> None:
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import termios

    command, env = _check_command(tmp_path)
    piped = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr == ""  # quiet when stderr is not a terminal
    leader, follower = pty.openpty()
    # A new pseudo-terminal is 0 columns wide, and tqdm draws nothing in that.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    try:
        done = subprocess.run(
            command, env=env, stdout=subprocess.PIPE, stderr=follower, timeout=120, text=True
        )
        os.close(follower)
        follower = -1
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal is closed once everything is read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    assert done.returncode == 0
    text = shown.decode(errors="replace")
    assert "check: 100%" in text and "key/s" in text, text  # tqdm's bar: rate and ETA


def test_keys_of_hybrids_not_imported_are_reported_as_unchecked(tmp_path: Path) -> None:
    rt = dalcore.configure(f"sqlite://{tmp_path}/u.db", "memory://", namespace="u")
    shelf = damage.CheckShelf(name="s")
    shelf.save()
    damage.CheckBook(title="t", isbn="i", genre="g", shelf=shelf).save()
    # Only the shelves are checked: the book, its index and unique entries and its reverse
    # entry belong to a hybrid not given; the shelf's link marker is checked.
    report = check(rt, [damage.CheckShelf])
    assert report.clean
    assert report.unchecked == 5, report.unchecked_examples
    assert all("checkbook" in key for key in report.unchecked_examples)
    full = check(rt, [damage.CheckShelf, damage.CheckBook, damage.CheckCover])
    assert full.clean and full.unchecked == 0
