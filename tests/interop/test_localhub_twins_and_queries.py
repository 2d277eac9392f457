"""More of the official SDKs against localhub: reported properties, tags, queries, jobs queries.

- The official device SDK patches reported properties and reads its twin; the service SDK
  sees the same twin.
- A tags twin job (service SDK) tags two SDK-run devices; a twin query by tag finds exactly
  them, and a method job over that tag reaches both.
- `devices.jobs` rows filtered by status, as the protocol reference documents.
- `IoTHubJobManager.query_scheduled_jobs` on a hub set to the swagger object form
  (`LOCALHUB_JOBS_QUERY_FORM=object`, see localhub's jobs query), filtered by type and status.
"""

import os
import uuid

import pytest

from azure.iot.hub import IoTHubJobManager
from azure.iot.hub.models import QuerySpecification, Twin
from conftest import start_localhub, stop_localhub
from doorlock import DoorLock
from test_localhub_jobs import device_rows, method_job, utcnow, wait_for


@pytest.fixture()
def jobs(localhub):
    return IoTHubJobManager.from_connection_string(localhub.service_connection_string)


def query(registry, text):
    return registry.query_iot_hub(QuerySpecification(query=text), None, 100).items


def test_reported_properties_from_the_device_sdk_reach_the_service_twin(door, registry):
    device_id, lock = door
    lock.client.patch_twin_reported_properties({"lockState": "locked", "battery": {"level": 87}})
    twin = registry.get_twin(device_id)
    assert twin.properties.reported["lockState"] == "locked"
    assert twin.properties.reported["battery"] == {"level": 87}
    assert twin.properties.reported["$version"] >= 2

    # A null removes a reported property; the device's own twin read agrees with the service's.
    lock.client.patch_twin_reported_properties({"battery": None})
    own = lock.client.get_twin()
    assert own["reported"]["lockState"] == "locked"
    assert "battery" not in own["reported"]
    assert "battery" not in registry.get_twin(device_id).properties.reported
    assert own["reported"]["$version"] == registry.get_twin(device_id).properties.reported["$version"]


def test_a_tags_job_tags_devices_a_query_then_selects_them_for_a_method_job(jobs, registry, localhub):
    building = 900_000 + int(uuid.uuid4().hex[:5], 16) % 99_999  # a building no other test uses
    ids = [f"sdk-tagged-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    locks = [DoorLock(localhub.add_device(i)) for i in ids]
    try:
        for lock in locks:
            lock.client.connect()
        tag = method_job(ids[0])
        tag.type = "scheduleUpdateTwin"
        tag.cloud_to_device_method = None
        tag.update_twin = Twin(etag="*", tags={"building": building, "floor": 3})
        tag.query_condition = "deviceId IN [{}]".format(", ".join(f"'{i}'" for i in ids))
        jobs.create_scheduled_job(tag.job_id, tag)
        assert wait_for(jobs, tag.job_id, {"completed", "failed"}).status == "completed"

        found = query(registry, f"SELECT * FROM devices WHERE tags.building = {building}")
        assert sorted(t.device_id for t in found) == sorted(ids)
        assert all(t.tags == {"building": building, "floor": 3} for t in found)

        lock_all = method_job(ids[0])
        lock_all.query_condition = f"tags.building = {building}"
        jobs.create_scheduled_job(lock_all.job_id, lock_all)
        job = wait_for(jobs, lock_all.job_id, {"completed", "failed"})
        assert job.device_job_statistics.device_count == 2
        assert job.device_job_statistics.succeeded_count == 2
        for lock in locks:
            assert lock.calls.get(timeout=5)[0] == "lockDoor"
    finally:
        for lock in locks:
            lock.close()


def test_device_job_rows_filter_by_status(jobs, registry, door, localhub):
    device_id, lock = door
    offline = f"sdk-offline-{uuid.uuid4().hex[:8]}"
    localhub.add_device(offline)
    request = method_job(device_id)
    request.query_condition = f"deviceId IN ['{device_id}', '{offline}']"
    jobs.create_scheduled_job(request.job_id, request)
    job = wait_for(jobs, request.job_id, {"completed", "failed"})
    assert (job.device_job_statistics.succeeded_count, job.device_job_statistics.failed_count) == (1, 1)

    where = f"devices.jobs.jobId = '{request.job_id}'"
    failed = query(registry, f"SELECT * FROM devices.jobs WHERE {where} AND devices.jobs.status = 'failed'")
    # The SDK keeps only deviceId and status of a devices.jobs row (see the protocol reference).
    assert [(r.device_id, r.status) for r in failed] == [(offline, "failed")]
    done = query(registry, f"SELECT * FROM devices.jobs WHERE {where} AND devices.jobs.status = 'completed'")
    assert [(r.device_id, r.status) for r in done] == [(device_id, "completed")]
    # Values compare case-sensitively (the reference's C# issue #257).
    assert query(registry, f"SELECT * FROM devices.jobs WHERE {where} AND devices.jobs.status = 'Completed'") == []
    assert len(device_rows(registry, request.job_id)) == 2


@pytest.fixture()
def object_form_hub(localhub, tmp_path):
    """A second localhub answering jobs queries in the swagger object form the SDK expects.

    It has its own CA: the service SDK trusts both through one bundle while it runs."""
    proc, hub = start_localhub(tmp_path / "object-form", mqtt_port=0, env={"LOCALHUB_JOBS_QUERY_FORM": "object"})
    bundle = tmp_path / "both-cas.pem"
    bundle.write_text(open(localhub.ca_certificate).read() + open(hub.ca_certificate).read())
    previous = os.environ["REQUESTS_CA_BUNDLE"]
    os.environ["REQUESTS_CA_BUNDLE"] = str(bundle)
    try:
        yield hub
    finally:
        os.environ["REQUESTS_CA_BUNDLE"] = previous
        stop_localhub(proc)


def test_query_scheduled_jobs_filters_by_type_and_status(object_form_hub):
    jobs = IoTHubJobManager.from_connection_string(object_form_hub.service_connection_string)
    object_form_hub.add_device("object-form-door")
    later = method_job("object-form-door", start=utcnow().replace(year=utcnow().year + 1))
    jobs.create_scheduled_job(later.job_id, later)
    assert wait_for(jobs, later.job_id, {"scheduled"}).status == "scheduled"
    cancelled = method_job("object-form-door", start=utcnow().replace(year=utcnow().year + 1))
    jobs.create_scheduled_job(cancelled.job_id, cancelled)
    jobs.cancel_scheduled_job(cancelled.job_id)

    scheduled = jobs.query_scheduled_jobs("scheduleDeviceMethod", "scheduled")
    assert [j["jobId"] for j in scheduled.items] == [later.job_id]
    gone = jobs.query_scheduled_jobs("scheduleDeviceMethod", "cancelled")
    assert [j["jobId"] for j in gone.items] == [cancelled.job_id]
    assert jobs.query_scheduled_jobs("scheduleUpdateTwin", None).items == []
