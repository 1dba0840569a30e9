"""tasklist /fo csv parsing: recorded Windows 10 rows and localized memory columns."""

from pathlib import Path

import pytest

from portfleet.parse.tasklist import Process, parse_mem_kb, parse_tasklist_csv

DATA = Path(__file__).parent / "data" / "windows"


def test_windows_10_capture_with_header_and_spaced_thousands():
    text = (DATA / "tasklist-csv-win10.txt").open(encoding="utf-8", newline="").read()
    assert "\r\n" in text
    procs = parse_tasklist_csv(text)
    # The header line (forgotten /nh) is not a process: its PID column is not a number.
    assert len(procs) == 27
    assert procs[0] == Process("System Idle Process", 0, "Services", 8, 0)
    assert procs[172].name == "Registry" and procs[172].mem_kb == 84496
    assert procs[11124] == Process("rust-analyzer.exe", 11124, "Console", 904396, 1)
    assert procs[9684].name == "NVIDIA Web Helper.exe"  # spaces inside a quoted name


@pytest.mark.parametrize(
    "text, kb",
    [
        ("8 K", 8),
        ("67,968 K", 67968),  # en-US
        ("1.234.567 K", 1234567),  # de-DE
        ("236\u00a0812 Ko", 236812),  # fr-FR, no-break space
        ("236\u202f812 Ko", 236812),  # fr-FR on newer builds, narrow no-break space
        ("236?812 Ko", 236812),  # that space printed through an OEM code page lacking it
        ("16 kB", 16),
        ("N/A", None),
    ],
)
def test_memory_in_any_locale(text, kb):
    assert parse_mem_kb(text) == kb


def test_localized_rows_notices_and_names_with_commas():
    text = "\r\n".join([
        '"System Idle Process","0","Services","0","8 K"',
        '"LeakyApp.exe","6148","Services","0","812.345 K"',
        '"svchost.exe","1392","Dienste","0","12.040 K"',
        '"a,b.exe","777","Console","1","1\u00a0024 Ko"',
        "INFORMATION: Es werden keine Aufgaben mit den angegebenen Kriterien ausgeführt.",
        "",
    ])
    procs = parse_tasklist_csv(text)
    assert sorted(procs) == [0, 777, 1392, 6148]
    assert procs[6148] == Process("LeakyApp.exe", 6148, "Services", 812345, 0)
    assert procs[777].name == "a,b.exe" and procs[777].mem_kb == 1024
    assert parse_tasklist_csv("INFO: No tasks are running which match the specified criteria.\r\n") == {}
    assert parse_tasklist_csv(None) == {}
