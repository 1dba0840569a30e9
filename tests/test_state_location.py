"""--state values: a path or a PostgreSQL URL; any text is either taken or refused with StateError,
and the URL's password never shows in what portfleet prints of it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portfleet.state import StateError, parse_location


@pytest.mark.parametrize("value, shown", [
    ("postgresql://ops:s3cret@db.example:5433/portfleet", "postgresql://ops:***@db.example:5433/portfleet"),
    ("postgres://ops@db.example/portfleet", "postgresql://ops@db.example/portfleet"),
    ("postgresql+psycopg://ops:s3cret@db/pf?sslmode=require", "postgresql://ops:***@db/pf?sslmode=require"),
    # typer's Path folds // into /: the URL is put back together
    (Path("postgresql://ops:s3cret@db.example/portfleet"), "postgresql://ops:***@db.example/portfleet"),
    ("postgresql:///portfleet?host=/run/postgresql", "postgresql:///portfleet?host=%2Frun%2Fpostgresql"),
])
def test_postgresql_urls_are_recognised_and_shown_masked(value, shown):
    location = parse_location(value)
    assert location.is_postgresql and str(location) == shown and "s3cret" not in repr(location)


@pytest.mark.parametrize("value, path", [("state.db", "state.db"), ("/var/lib/pf/state.db", "/var/lib/pf/state.db"),
                                         ("C:/pf/state.db", "C:/pf/state.db"), ("sqlite:////tmp/x.db", "/tmp/x.db"),
                                         ("sqlite:///rel.db", "rel.db")])
def test_paths_are_sqlite_files(value, path):
    location = parse_location(value)
    assert not location.is_postgresql and location.path == Path(path)


def test_the_password_is_scrubbed_from_error_texts_in_both_spellings():
    location = parse_location("postgresql://ops:p%40ss%2Fw0rd@db/pf")
    assert location.secret() == "p@ss/w0rd"
    assert location.scrub("failed for p@ss/w0rd and p%40ss%2Fw0rd") == "failed for *** and ***"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.text(alphabet="abc:/@%?=+.-_ \x00é", max_size=40))
def test_any_value_is_taken_or_refused_and_never_shows_its_password(noise, tail):
    secret = "S3cr3tT0ken"
    for value in (noise, "postgresql://" + tail, f"postgresql://u:{secret}@h{tail}/" + noise, "mysql:" + tail):
        try:
            location = parse_location(value)
        except StateError as exc:
            assert secret not in str(exc)
            continue
        assert secret not in str(location) and secret not in repr(location)
        if location.is_postgresql and location.secret():
            assert ":***@" in str(location)
