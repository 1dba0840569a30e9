"""split_sections: the batched read's output back into one text per command."""

from portfleet.parse.sections import END_KEY, begin_marker, split_sections


def test_markers_with_echo_trailing_space_and_crlf():
    out = (
        "PORTFLEET:BEGIN:facts.ver \r\n\r\nMicrosoft Windows [Version 10.0.20348.2340]\r\n"
        "PORTFLEET:BEGIN:MaxUserPort \r\n\r\nHKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters\r\n"
        "    MaxUserPort    REG_DWORD    0xfffe\r\n\r\n"
        "PORTFLEET:END \r\n"
    )
    sections = split_sections(out)
    assert sections["facts.ver"] == "Microsoft Windows [Version 10.0.20348.2340]"
    assert sections["MaxUserPort"].splitlines()[1] == "    MaxUserPort    REG_DWORD    0xfffe"
    assert END_KEY in sections


def test_marker_after_output_without_final_newline():
    sections = split_sections("PORTFLEET:BEGIN:a \r\nlast line without newlinePORTFLEET:BEGIN:b \r\nb text\r\nPORTFLEET:END\r\n")
    assert sections["a"] == "last line without newline"
    assert sections["b"] == "b text"


def test_cut_short_output_keeps_what_arrived_and_has_no_end():
    sections = split_sections("PORTFLEET:BEGIN:a\r\nA\r\nPORTFLEET:BEGIN:b\r\nB partial")
    assert sections == {"a": "A", "b": "B partial"}


def test_empty_sections_text_before_first_marker_and_nothing_at_all():
    sections = split_sections("noise\r\nPORTFLEET:BEGIN:a \r\nPORTFLEET:BEGIN:b \r\n\r\nPORTFLEET:END \r\n")
    assert sections == {"a": "", "b": "", END_KEY: ""}
    assert split_sections("") == {}
    assert split_sections(None) == {}


def test_begin_marker_refuses_names_cmd_would_mangle():
    assert begin_marker("dynamicport.ipv4.tcp") == "PORTFLEET:BEGIN:dynamicport.ipv4.tcp"
    for bad in ("a b", "a&b", "a>b", ""):
        try:
            begin_marker(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} accepted")
