"""Pulling a WSD "scan to computer" job: CreateScanJob + RetrieveImage (PROTOCOL.md §4.3, §4.4).

WDD:createscanjobrequest.md (ScanIdentifier + DestinationToken + the process's ScanTicket),
WDD:createscanjobresponse.md (RetrieveImage within 60 s, and between images),
WDD:retrieveimageresponse.md (one image per response until ``ClientErrorNoImagesAvailable``
or ImagesToTransfer reached). Each image is spooled exactly like a pushed SendImage
(:func:`scanserver.ingest.store_document`), then the job goes to ``pending`` and processing is
queued. Any failure aborts the job with the reason on the row.

Where it runs: :func:`start` runs :func:`pull` on a daemon thread of the scan-server process,
right after the ScanAvailableEvent is acknowledged — the device's 60 s deadlines leave no room
for a broker round trip. If the process dies mid-pull, the device has aborted its own job by the
time anything could resume it; the job stays ``receiving`` and the reaper times it out.
"""

from __future__ import annotations

import logging
import threading

from django.db import connection, transaction

from devices.protocols import psp, soap, transport, xmlsafe
from devices.protocols.wsscan import actions as a
from devices.protocols.wsscan import messages as m
from devices.protocols.wsscan.ticket import ScanTicket
from scanserver import conf, dispatch, ingest
from scanserver.models import JobState, ScanJob

logger = logging.getLogger(__name__)

TIMEOUT = 55.0  # inside the device's 60 s window between RetrieveImage calls
MAX_IMAGES = 10_000


def start(job_id: int, scan_identifier: str, destination_token: str) -> threading.Thread:
    def run() -> None:
        try:
            pull(job_id, scan_identifier, destination_token)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=run, name="wsd-pull-%s" % job_id, daemon=True)
    thread.start()
    return thread


def _call(url: str, message: m.CreateScanJobRequest | m.RetrieveImageRequest) -> soap.Envelope:
    envelope = soap.build_envelope(soap.Headers(action=message.ACTION, to=url), message.to_element())
    return transport.post_soap(url, envelope, timeout=TIMEOUT)


def _abort(job_id: int, error: str) -> None:
    with transaction.atomic():
        job = ScanJob.objects.select_for_update().get(pk=job_id)
        if job.state == JobState.RECEIVING:
            job.abort("SendImageFailed", error[:2000])


def pull(job_id: int, scan_identifier: str, destination_token: str) -> ScanJob:
    """Create the device job, retrieve every image into the spool, end the transfer."""
    job = ScanJob.objects.select_related("device", "process_version").get(pk=job_id)
    try:
        assert job.device is not None and job.process_version is not None
        url = job.device.scan_service_url
        published = psp.from_xml(job.process_version.psp_xml)
        ticket = ScanTicket.from_element(xmlsafe.parse(published.scan_ticket))
        created_env = _call(
            url,
            m.CreateScanJobRequest(
                ticket=ticket, scan_identifier=scan_identifier, destination_token=destination_token
            ),
        )
        assert created_env.body is not None
        created = m.CreateScanJobResponse.from_element(created_env.body)
        fmt = created.document_final_parameters.format or ticket.document_parameters.format or "unknown"  # type: ignore[union-attr]
        # ImagesToTransfer is the device's word: never more pulls (and DocumentIds) than MAX_IMAGES.
        wanted = min(created.document_final_parameters.images_to_transfer or MAX_IMAGES, MAX_IMAGES)
        count = 0
        while count < wanted:
            request = m.RetrieveImageRequest(created.job_id, created.job_token, "%d" % (count + 1))
            envelope = soap.build_envelope(soap.Headers(action=request.ACTION, to=url), request.to_element())
            try:
                message = transport.post_soap_receive_mtom(
                    url, envelope, conf.incoming_dir(), conf.mtom_limits(), timeout=TIMEOUT
                )
            except soap.SoapFault as fault:
                if fault.subcode == a.FAULT_CLIENT_ERROR_NO_IMAGES_AVAILABLE:
                    break
                raise
            try:
                parts = list(message.parts.values())
                if len(parts) != 1:
                    raise soap.SoapFault.sender(None, "RetrieveImageResponse carried %d images" % len(parts))
                ingest.store_document(job.pk, count + 1, fmt, parts[0])
            finally:
                message.discard()
            count += 1
        if count == 0:
            raise RuntimeError("the device delivered no image")
        with transaction.atomic():
            job = ScanJob.objects.select_for_update().get(pk=job_id)
            job.end_transfer()
            dispatch.queue_processing(job_id)
        logger.info("WSD job %s: %d images pulled from %s", job.token, count, url)
        return job
    except Exception as exc:  # noqa: BLE001 - every failure ends the job with its reason
        logger.warning("WSD pull of job %s failed: %s", job.token, exc)
        _abort(job_id, "pull from the device failed: %s" % exc)
        return ScanJob.objects.get(pk=job_id)
