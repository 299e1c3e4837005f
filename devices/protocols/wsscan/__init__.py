"""WS-Scan (WSD Scan Service) message bodies, scanner elements, events and ticket checking
(PROTOCOL.md §3.3 and §4; WDD: scan-service--ws-scan--schema.md and its element pages).

Modules: ``ticket`` (ScanTicket and its enumerations), ``elements`` (scanner description,
configuration, status), ``messages`` (operations), ``events`` (notifications and the
ScanAvailableEvent subscription extensions), ``actions`` (Action URIs, fault subcodes),
``validation`` (a ticket against a configuration). Only the soap:Body content lives here.
"""
