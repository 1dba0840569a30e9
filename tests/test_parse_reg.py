"""reg query parser against recorded outputs: 2003 (reg.exe 3.0) and Vista+ layouts, localized errors."""

from pathlib import Path

import pytest

from portfleet.parse.reg import error_lines, find_value, key_lines, only_errors, parse_reg_query

DATA = Path(__file__).parent / "data" / "windows"


def sample(name: str) -> str:
    return open(DATA / name, encoding="utf-8", newline="").read()


def test_xp_2003_layout_with_banner():
    values = parse_reg_query(sample("reg-query-xp-regexe3.txt"))
    assert list(values) == ["DevicePath"]
    v = values["DevicePath"]
    assert (v.type, v.value) == ("REG_EXPAND_SZ", r"%SystemRoot%\inf")
    assert v.key == r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion"


def test_xp_2003_tab_separated_fields():
    # reg.exe 3.0 separates the fields with TABs (the published sample shows them expanded).
    text = "! REG.EXE VERSION 3.0\r\n\r\nHKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters\r\n" \
           "    MaxUserPort\tREG_DWORD\t0xfffe\r\n"
    assert find_value(parse_reg_query(text), "MaxUserPort").value == 65534


def test_vista_layout_default_value_names_are_kept():
    en = parse_reg_query(sample("reg-query-default-en-US.txt"))
    assert en["(Default)"].value == "(value not set)"
    zh = parse_reg_query(sample("reg-query-default-zh-CN.txt"))
    assert zh["(默认)"].type == "REG_SZ"


def test_dword_qword_multi_sz_and_value_names_with_spaces():
    text = (
        "\r\nHKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters\r\n"
        "    MaxUserPort    REG_DWORD    0xfffe\r\n"
        "    TcpTimedWaitDelay    REG_DWORD    0x1e\r\n"
        "    Some Name With Spaces    REG_QWORD    0x100000000\r\n"
        "    PendingFileRenameOperations    REG_MULTI_SZ    \\??\\C:\\a.tmp\\0\\0\\??\\C:\\b.dll\\0\r\n"
        "    Empty    REG_SZ    \r\n\r\n"
    )
    values = parse_reg_query(text)
    assert values["MaxUserPort"].value == 65534
    assert values["TcpTimedWaitDelay"].value == 30
    assert values["Some Name With Spaces"].value == 1 << 32
    assert values["PendingFileRenameOperations"].value == ["\\??\\C:\\a.tmp", "\\??\\C:\\b.dll"]
    assert values["Empty"].value == ""
    assert find_value(values, "maxuserport").value == 65534
    assert find_value(values, "Nope") is None


@pytest.mark.parametrize("name,message", [
    ("reg-query-absent-en-US.txt", "The system was unable to find the specified registry key or value."),
    ("reg-query-absent-fr-FR.txt", "le système n’a pas trouvé la clé ou la valeur de Registre spécifiée."),
    ("reg-error-zh-CN.txt", "无效语法。"),
])
def test_error_only_outputs_in_any_language(name, message):
    text = sample(name)
    assert parse_reg_query(text) == {}
    assert only_errors(text)
    assert error_lines(text) == [message]


def test_error_followed_by_a_value_is_not_error_only():
    text = sample("reg-query-absent-then-value-de-DE.txt")
    assert not only_errors(text)
    assert error_lines(text) == ["Der angegebene Registrierungsschlüssel bzw. Wert wurde nicht gefunden."]
    assert parse_reg_query(text)["LongPathsEnabled"].value == 1
    assert key_lines(text) == [r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\FileSystem"]


@pytest.mark.parametrize("garbage", [
    "", "'reg' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n",
    "Microsoft Windows [Version 10.0.20348.2340]\r\n", "    REG_DWORD\r\n", "\x00\x01\x02",
])
def test_garbage_is_neither_values_nor_errors(garbage):
    assert parse_reg_query(garbage) == {}
    assert not only_errors(garbage)
