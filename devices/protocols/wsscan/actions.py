"""WS-Scan Action URIs and fault subcodes (PROTOCOL.md §0 and §4; WDD:
common-wsd-scan-service-operation-error-codes.md, retrieveimagerequest.md).

Requests are ``<wscn>/<Operation>``, responses ``<wscn>/<Operation>Response``, events
``<wscn>/<EventName>`` (also for DSD event bodies written in the dsd namespace).
"""

from __future__ import annotations

from devices.protocols.namespaces import WSA, WSCN, action

ACTION_GET_SCANNER_ELEMENTS = action(WSCN, "GetScannerElements")
ACTION_GET_SCANNER_ELEMENTS_RESPONSE = action(WSCN, "GetScannerElementsResponse")
ACTION_VALIDATE_SCAN_TICKET = action(WSCN, "ValidateScanTicket")
ACTION_VALIDATE_SCAN_TICKET_RESPONSE = action(WSCN, "ValidateScanTicketResponse")
ACTION_CREATE_SCAN_JOB = action(WSCN, "CreateScanJob")
ACTION_CREATE_SCAN_JOB_RESPONSE = action(WSCN, "CreateScanJobResponse")
ACTION_RETRIEVE_IMAGE = action(WSCN, "RetrieveImage")
ACTION_RETRIEVE_IMAGE_RESPONSE = action(WSCN, "RetrieveImageResponse")
ACTION_CANCEL_JOB = action(WSCN, "CancelJob")
ACTION_CANCEL_JOB_RESPONSE = action(WSCN, "CancelJobResponse")
ACTION_GET_JOB_ELEMENTS = action(WSCN, "GetJobElements")
ACTION_GET_JOB_ELEMENTS_RESPONSE = action(WSCN, "GetJobElementsResponse")
ACTION_GET_ACTIVE_JOBS = action(WSCN, "GetActiveJobs")
ACTION_GET_ACTIVE_JOBS_RESPONSE = action(WSCN, "GetActiveJobsResponse")
ACTION_GET_JOB_HISTORY = action(WSCN, "GetJobHistory")
ACTION_GET_JOB_HISTORY_RESPONSE = action(WSCN, "GetJobHistoryResponse")

ACTION_SCANNER_ELEMENTS_CHANGE_EVENT = action(WSCN, "ScannerElementsChangeEvent")
ACTION_SCANNER_STATUS_SUMMARY_EVENT = action(WSCN, "ScannerStatusSummaryEvent")
ACTION_SCANNER_STATUS_CONDITION_EVENT = action(WSCN, "ScannerStatusConditionEvent")
ACTION_SCANNER_STATUS_CONDITION_CLEARED_EVENT = action(WSCN, "ScannerStatusConditionClearedEvent")
ACTION_JOB_STATUS_EVENT = action(WSCN, "JobStatusEvent")
ACTION_JOB_END_STATE_EVENT = action(WSCN, "JobEndStateEvent")
ACTION_SCAN_AVAILABLE_EVENT = action(WSCN, "ScanAvailableEvent")

# Request action -> response action, for a dispatcher that answers by table.
RESPONSE_ACTIONS: dict[str, str] = {
    ACTION_GET_SCANNER_ELEMENTS: ACTION_GET_SCANNER_ELEMENTS_RESPONSE,
    ACTION_VALIDATE_SCAN_TICKET: ACTION_VALIDATE_SCAN_TICKET_RESPONSE,
    ACTION_CREATE_SCAN_JOB: ACTION_CREATE_SCAN_JOB_RESPONSE,
    ACTION_RETRIEVE_IMAGE: ACTION_RETRIEVE_IMAGE_RESPONSE,
    ACTION_CANCEL_JOB: ACTION_CANCEL_JOB_RESPONSE,
    ACTION_GET_JOB_ELEMENTS: ACTION_GET_JOB_ELEMENTS_RESPONSE,
    ACTION_GET_ACTIVE_JOBS: ACTION_GET_ACTIVE_JOBS_RESPONSE,
    ACTION_GET_JOB_HISTORY: ACTION_GET_JOB_HISTORY_RESPONSE,
}
EVENT_ACTIONS: tuple[str, ...] = (
    ACTION_SCANNER_ELEMENTS_CHANGE_EVENT,
    ACTION_SCANNER_STATUS_SUMMARY_EVENT,
    ACTION_SCANNER_STATUS_CONDITION_EVENT,
    ACTION_SCANNER_STATUS_CONDITION_CLEARED_EVENT,
    ACTION_JOB_STATUS_EVENT,
    ACTION_JOB_END_STATE_EVENT,
    ACTION_SCAN_AVAILABLE_EVENT,
)

# Fault subcodes as (namespace, local name). Sender = the client's fault, Receiver = ours.
FAULT_ACTION_NOT_SUPPORTED = (WSA, "ActionNotSupported")  # Sender
FAULT_INVALID_ARGS = (WSCN, "InvalidArgs")  # Sender
FAULT_CLIENT_ERROR_NO_IMAGES_AVAILABLE = (WSCN, "ClientErrorNoImagesAvailable")  # Sender
FAULT_CLIENT_ERROR_JOB_ID_NOT_FOUND = (WSCN, "ClientErrorJobIdNotFound")  # Sender
FAULT_CLIENT_ERROR_INVALID_JOB_TOKEN = (WSCN, "ClientErrorInvalidJobToken")  # Sender
FAULT_CLIENT_ERROR_JOB_CANCELLED = (WSCN, "ClientErrorJobCancelled")  # Sender
FAULT_OPERATION_FAILED = (WSCN, "OperationFailed")  # Receiver
FAULT_SERVER_ERROR_TEMPORARY_ERROR = (WSCN, "ServerErrorTemporaryError")  # Receiver
FAULT_SERVER_ERROR_INTERNAL_ERROR = (WSCN, "ServerErrorInternalError")  # Receiver
FAULT_SERVER_ERROR_NOT_ACCEPTING_JOBS = (WSCN, "ServerErrorNotAcceptingJobs")  # Receiver

# soap:Code value ("Sender" or "Receiver") for each subcode.
FAULT_CODES: dict[tuple[str, str], str] = {
    FAULT_ACTION_NOT_SUPPORTED: "Sender",
    FAULT_INVALID_ARGS: "Sender",
    FAULT_CLIENT_ERROR_NO_IMAGES_AVAILABLE: "Sender",
    FAULT_CLIENT_ERROR_JOB_ID_NOT_FOUND: "Sender",
    FAULT_CLIENT_ERROR_INVALID_JOB_TOKEN: "Sender",
    FAULT_CLIENT_ERROR_JOB_CANCELLED: "Sender",
    FAULT_OPERATION_FAILED: "Receiver",
    FAULT_SERVER_ERROR_TEMPORARY_ERROR: "Receiver",
    FAULT_SERVER_ERROR_INTERNAL_ERROR: "Receiver",
    FAULT_SERVER_ERROR_NOT_ACCEPTING_JOBS: "Receiver",
}
