"""The one namespace map of the protocol layer (PROTOCOL.md §0).

Every module builds and matches names through these constants; prefixes on the wire never
matter on input, and on output the prefixes below are the conventional ones.
"""

from __future__ import annotations

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSE = "http://schemas.xmlsoap.org/ws/2004/08/eventing"
WSD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
WSDP = "http://schemas.xmlsoap.org/ws/2006/02/devprof"
MEX = "http://schemas.xmlsoap.org/ws/2004/09/mex"
WXF = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
PNPX = "http://schemas.microsoft.com/windows/pnpx/2005/10"
WSP = "http://schemas.xmlsoap.org/ws/2004/09/policy"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
XOP = "http://www.w3.org/2004/08/xop/include"
WSCN = "http://schemas.microsoft.com/windows/2006/08/wdp/scan"
DSD = "http://schemas.microsoft.com/windows/2008/12/wdp/distributedscan/device"
DSP = "http://schemas.microsoft.com/windows/2008/12/wdp/distributedscan/processing"
DSC = "http://schemas.microsoft.com/windows/2008/12/wdp/distributedscan/configuration"
PSP = "http://schemas.microsoft.com/windows/2008/02/imaging/postscan/psp"
EMLF = "http://schemas.microsoft.com/windows/2007/10/imaging/postscan/filter/email"
FSF = "http://schemas.microsoft.com/windows/2007/10/imaging/postscan/filter/fileshare"
SPF = "http://schemas.microsoft.com/windows/2007/10/imaging/postscan/filter/sharepoint"
FTR = "http://schemas.microsoft.com/windows/2007/10/imaging/postscan/filter"
SPX = "http://schemas.microsoft.com/windows/2010/09/imaging/postscan/scanprocess/extensions"
# OpenDSM's own extension namespace (DESIGN.md decision 5: locked ticket settings in the PSP).
ODSM = "urn:opendsm:2026:psp-extensions"

NSMAP: dict[str, str] = {
    "soap": SOAP12,
    "wsa": WSA,
    "wse": WSE,
    "wsd": WSD,
    "wsdp": WSDP,
    "mex": MEX,
    "wxf": WXF,
    "pnpx": PNPX,
    "wsp": WSP,
    "wsu": WSU,
    "xop": XOP,
    "wscn": WSCN,
    "dsd": DSD,
    "dsp": DSP,
    "dsc": DSC,
    "psp": PSP,
    "emlf": EMLF,
    "fsf": FSF,
    "spf": SPF,
    "ftr": FTR,
    "spx": SPX,
    "odsm": ODSM,
}

WSA_ANONYMOUS = WSA + "/role/anonymous"
WSA_FAULT_ACTION = WSA + "/fault"
WSD_MULTICAST_TO = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
WSD_MULTICAST_V4 = "239.255.255.250"
WSD_PORT = 3702


def qn(ns: str, local: str) -> str:
    """Clark notation ``{ns}local`` for lxml."""
    return "{%s}%s" % (ns, local)


def action(ns: str, operation: str) -> str:
    """Action URI of an operation: ``<service namespace>/<OperationName>`` (PROTOCOL.md §0)."""
    return "%s/%s" % (ns, operation)
