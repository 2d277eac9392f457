"""The official service SDK's IoTHubJobManager against localhub, the tutorial's jobs.

A device run by the official device SDK (the tutorial's door lock) gets a `lockDoor` method
job and a desired-properties twin job; the tests poll `get_scheduled_job` until `completed`
and read the per-device rows with `query_iot_hub`, as the tutorial does.
"""

import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from azure.iot.hub import IoTHubJobManager
from azure.iot.hub.models import CloudToDeviceMethod, JobRequest, QuerySpecification, Twin, TwinProperties


@pytest.fixture()
def jobs(localhub):
    return IoTHubJobManager.from_connection_string(localhub.service_connection_string)


def utcnow():
    return datetime.now(timezone.utc).replace(tzinfo=None)


def wait_for(jobs, job_id, statuses, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        job = jobs.get_scheduled_job(job_id)
        if job.status in statuses:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job.status}"
        time.sleep(0.5)


def method_job(device_id, start=None):
    request = JobRequest()
    request.job_id = str(uuid.uuid4())
    request.type = "scheduleDeviceMethod"
    request.start_time = (start or utcnow()).isoformat()
    # The tutorial passes the payload as a JSON string.
    request.cloud_to_device_method = CloudToDeviceMethod(method_name="lockDoor", payload='{"lockTime":"10m"}')
    request.max_execution_time_in_seconds = 60
    request.query_condition = f"DeviceId in ['{device_id}']"
    return request


def device_rows(registry, job_id):
    query = QuerySpecification(query=f"SELECT * FROM devices.jobs WHERE devices.jobs.jobId = '{job_id}'")
    return registry.query_iot_hub(query, None, 100).items


def test_a_method_job_reaches_the_device_and_completes(jobs, registry, door):
    device_id, lock = door
    request = method_job(device_id)
    created = jobs.create_scheduled_job(request.job_id, request)
    assert created.job_id == request.job_id
    assert created.type == "scheduleDeviceMethod"

    job = wait_for(jobs, request.job_id, {"completed", "failed"})
    assert job.status == "completed"
    assert job.device_job_statistics.device_count == 1
    assert job.device_job_statistics.succeeded_count == 1
    assert lock.calls.get(timeout=5) == ("lockDoor", '{"lockTime":"10m"}')

    rows = device_rows(registry, request.job_id)
    assert [(r.device_id, r.status) for r in rows] == [(device_id, "completed")]


def test_a_twin_job_sets_desired_properties_the_device_receives(jobs, registry, door):
    device_id, lock = door
    request = JobRequest()
    request.job_id = str(uuid.uuid4())
    request.type = "scheduleUpdateTwin"
    request.start_time = utcnow().isoformat()
    request.update_twin = Twin(etag="*", properties=TwinProperties(desired={"building": 43, "floor": 3}))
    request.max_execution_time_in_seconds = 60
    request.query_condition = f"DeviceId in ['{device_id}']"
    jobs.create_scheduled_job(request.job_id, request)

    assert wait_for(jobs, request.job_id, {"completed", "failed"}).status == "completed"
    lock.next_patch({"building": 43, "floor": 3})
    twin = registry.get_twin(device_id)
    assert twin.properties.desired["building"] == 43


def test_a_scheduled_job_can_be_cancelled_before_it_starts(jobs, door):
    device_id, lock = door
    request = method_job(device_id, start=utcnow() + timedelta(minutes=5))
    jobs.create_scheduled_job(request.job_id, request)
    assert wait_for(jobs, request.job_id, {"scheduled"}).status == "scheduled"
    jobs.cancel_scheduled_job(request.job_id)
    assert jobs.get_scheduled_job(request.job_id).status == "cancelled"
    assert lock.calls.empty(), "a cancelled job calls nobody"


def test_a_method_job_over_an_offline_device_fails_that_device(jobs, registry, localhub):
    device_id = f"sdk-offline-{uuid.uuid4().hex[:8]}"
    localhub.add_device(device_id)
    request = method_job(device_id)
    jobs.create_scheduled_job(request.job_id, request)
    job = wait_for(jobs, request.job_id, {"completed", "failed"})
    assert job.device_job_statistics.failed_count == 1
    rows = device_rows(registry, request.job_id)
    assert [(r.device_id, r.status) for r in rows] == [(device_id, "failed")]


def test_an_unknown_job_is_404(jobs):
    from msrest.exceptions import HttpOperationError

    with pytest.raises(HttpOperationError) as missing:
        jobs.get_scheduled_job(str(uuid.uuid4()))
    assert missing.value.response.status_code == 404
