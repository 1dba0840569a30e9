"""cmd.exe's own texts per display language (en-US, de-DE, fr-FR).

Only labels and sentences are translated; numbers and layout stay as in en-US, as on real localized
Windows. German/French strings are the ones those Windows editions print (cmd.exe resources).
"""

from __future__ import annotations

from datetime import datetime


def lang(locale: str) -> str:
    return locale.split("-")[0].lower()


def not_recognized(name: str, locale: str) -> str:
    l = lang(locale)
    if l == "de":
        return f'Der Befehl "{name}" ist entweder falsch geschrieben oder\r\nkonnte nicht gefunden werden.\r\n'
    if l == "fr":
        return (
            f"'{name}' n'est pas reconnu en tant que commande interne\r\n"
            "ou externe, un programme ex\u00e9cutable ou un fichier de commandes.\r\n"
        )
    return f"'{name}' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"


def unexpected(token: str, locale: str) -> str:
    l = lang(locale)
    if l == "de":
        return f'"{token}" kann syntaktisch an dieser Stelle nicht verarbeitet werden.\r\n'
    if l == "fr":
        return f"{token} \u00e9tait inattendu.\r\n"
    return f"{token} was unexpected at this time.\r\n"


def file_not_found(locale: str) -> str:
    l = lang(locale)
    if l == "de":
        return "Das System kann die angegebene Datei nicht finden.\r\n"
    if l == "fr":
        return "Le fichier sp\u00e9cifi\u00e9 est introuvable.\r\n"
    return "The system cannot find the file specified.\r\n"


def echo_is_on(locale: str) -> str:
    l = lang(locale)
    if l == "de":
        return "ECHO ist eingeschaltet (ON).\r\n"
    if l == "fr":
        return "ECHO est activ\u00e9.\r\n"
    return "ECHO is on.\r\n"


def ver(os_version: str, locale: str) -> str:
    # `ver` prints an empty line, then "Microsoft Windows [Version 10.0.20348.2340]"; the French edition
    # spells "version" in lower case.
    word = "version" if lang(locale) == "fr" else "Version"
    return f"\r\nMicrosoft Windows [{word} {os_version}]\r\n"


def cmd_time(local: datetime, locale: str) -> str:
    """%TIME%: hour padded with a space, hundredths after the locale's decimal separator."""
    sep = "," if lang(locale) in ("de", "fr") else "."
    return f"{local.hour:2d}:{local.minute:02d}:{local.second:02d}{sep}{local.microsecond // 10000:02d}"


def group_thousands(n: int, locale: str) -> str:
    """Digit grouping of the locale (en-US 1,234 / de-DE 1.234 / fr-FR 1 234 with a no-break space)."""
    s = f"{n:,}"
    l = lang(locale)
    if l == "de":
        return s.replace(",", ".")
    if l == "fr":
        return s.replace(",", "\u00a0")
    return s
