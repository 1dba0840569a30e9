"""The environment variables a WinRS cmd shell sees, dynamic ones (%ERRORLEVEL%, %DATE%, ...) included.

Used by cmd.exe's %VAR% expansion and `set`, and by PowerShell's $env:VAR."""

from __future__ import annotations

import random

from .. import intl
from . import messages
from .base import Ctx


def environment(ctx: Ctx, errorlevel: int) -> dict[str, str]:
    """The variables a WinRS cmd shell sees (names matched case-insensitively)."""
    h = ctx.host
    local = ctx.local()
    user = ctx.user
    env = {
        "ALLUSERSPROFILE": r"C:\ProgramData",
        "APPDATA": rf"C:\Users\{user}\AppData\Roaming",
        "COMPUTERNAME": h.name.upper(),
        "ComSpec": r"C:\Windows\system32\cmd.exe",
        "HOMEDRIVE": "C:",
        "HOMEPATH": rf"\Users\{user}",
        "LOCALAPPDATA": rf"C:\Users\{user}\AppData\Local",
        "NUMBER_OF_PROCESSORS": "4",
        "OS": "Windows_NT",
        "Path": r"C:\Windows\system32;C:\Windows;C:\Windows\System32\Wbem;C:\Windows\System32\WindowsPowerShell\v1.0\\",
        "PATHEXT": ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC",
        "PROCESSOR_ARCHITECTURE": "AMD64",
        "ProgramData": r"C:\ProgramData",
        "ProgramFiles": r"C:\Program Files",
        "PROMPT": "$P$G",
        "PUBLIC": r"C:\Users\Public",
        "SystemDrive": "C:",
        "SystemRoot": r"C:\Windows",
        "TEMP": rf"C:\Users\{user}\AppData\Local\Temp",
        "TMP": rf"C:\Users\{user}\AppData\Local\Temp",
        "USERDOMAIN": h.name.upper(),
        "USERNAME": user,
        "USERPROFILE": rf"C:\Users\{user}",
        "windir": r"C:\Windows",
    }
    if h.is_legacy:  # Server 2003 profile paths (no C:\Users before Vista)
        env["USERPROFILE"] = rf"C:\Documents and Settings\{user}"
        env["APPDATA"] = rf"C:\Documents and Settings\{user}\Application Data"
        env["HOMEPATH"] = rf"\Documents and Settings\{user}"
        env["TEMP"] = env["TMP"] = rf"C:\Documents and Settings\{user}\Local Settings\Temp"
        del env["LOCALAPPDATA"], env["ProgramData"], env["PUBLIC"]
        env["ALLUSERSPROFILE"] = r"C:\Documents and Settings\All Users"
    env.update(ctx.env)
    # Dynamic variables (https://learn.microsoft.com/windows-server/administration/windows-commands/set_1)
    env["ERRORLEVEL"] = str(errorlevel)
    env["DATE"] = intl.cmd_date(h, local)
    env["TIME"] = messages.cmd_time(local, ctx.locale)
    env["CD"] = env["USERPROFILE"]
    env["RANDOM"] = str(random.randint(0, 32767))
    return env
