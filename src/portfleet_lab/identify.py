"""WS-Management Identify (DSP0226 section 11; MS-WSMV 3.1.4.1.6 "wsmid:Identify"), as WinRM answers it.

`winrm id -r:HOST -a:none` and `Test-WSMan HOST` send the Identify request without credentials and with the HTTP
header `WSMANIDENTIFY: unauthenticated`:

    <s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
                xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">
      <s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>

Windows answers it without authentication, and then hides the product version ("If the request is sent with
WSManFlagUseNoAuthentication ... no product version information is returned":
https://learn.microsoft.com/windows/win32/winrm/detecting-whether-a-remote-computer-supports-ws-management-protocol):

    ProductVersion: OS: 0.0.0 SP: 0.0 Stack: 3.0

An authenticated Identify gets the real OS version. Pure functions: no sockets, no state.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_WSMID = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"
PROTOCOL_VERSION = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
UNAUTHENTICATED_HEADER = "WSMANIDENTIFY"
HIDDEN_VERSION = "OS: 0.0.0 SP: 0.0 Stack: 3.0"


def is_identify(body: bytes) -> bool:
    """True when `body` is a SOAP envelope whose Body holds a wsmid:Identify element (never raises)."""
    if not body or b"Identify" not in body:
        return False
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return False
    soap_body = root.find(f"{{{NS_SOAP}}}Body") if root.tag == f"{{{NS_SOAP}}}Envelope" else None
    return soap_body is not None and soap_body.find(f"{{{NS_WSMID}}}Identify") is not None


def wants_unauthenticated(header_value: str) -> bool:
    return header_value.strip().lower() == "unauthenticated"


def product_version(os_version: str | None) -> str:
    """'OS: 10.0.17763 SP: 0.0 Stack: 3.0' from a `ver`-style version ('10.0.17763.1'); hidden when unknown."""
    if not os_version:
        return HIDDEN_VERSION
    parts = os_version.strip().split(".")
    if len(parts) < 3 or not all(p.isdigit() for p in parts[:3]):
        return HIDDEN_VERSION
    return f"OS: {'.'.join(parts[:3])} SP: 0.0 Stack: 3.0"


def identify_response(version: str = HIDDEN_VERSION) -> bytes:
    return (
        f'<s:Envelope xmlns:s="{NS_SOAP}"><s:Header/><s:Body>'
        f'<wsmid:IdentifyResponse xmlns:wsmid="{NS_WSMID}">'
        f"<wsmid:ProtocolVersion>{PROTOCOL_VERSION}</wsmid:ProtocolVersion>"
        "<wsmid:ProductVendor>Microsoft Corporation</wsmid:ProductVendor>"
        f"<wsmid:ProductVersion>{version}</wsmid:ProductVersion>"
        "</wsmid:IdentifyResponse></s:Body></s:Envelope>"
    ).encode("utf-8")
