"""The official device SDK (azure-iot-device) against localhub over MQTT/TLS on port 8883.

The tutorial's device code, unmodified: it answers `lockDoor` and receives desired patches,
and keeps doing so after localhub drops its connection. SSL_CERT_FILE points the SDK at
localhub's CA (see conftest.py).
"""

import uuid

import pytest

from azure.iot.device import IoTHubDeviceClient
from azure.iot.hub.models import CloudToDeviceMethod, Twin, TwinProperties
from msrest.exceptions import HttpOperationError


def invoke_lock(registry, device_id, connect_timeout=0):
    return registry.invoke_device_method(
        device_id,
        CloudToDeviceMethod(
            method_name="lockDoor",
            payload={"lockTime": "10m"},
            response_timeout_in_seconds=30,
            connect_timeout_in_seconds=connect_timeout,
        ),
    )


def test_the_device_answers_a_direct_method(door, registry):
    device_id, lock = door
    result = invoke_lock(registry, device_id)
    assert result.status == 200
    assert result.payload == {"locked": True}
    assert lock.calls.get(timeout=5) == ("lockDoor", {"lockTime": "10m"})

    unknown = registry.invoke_device_method(device_id, CloudToDeviceMethod(method_name="openWindow"))
    assert unknown.status == 404


def test_a_device_that_answers_too_late_is_a_504(door, registry):
    device_id, lock = door
    with pytest.raises(HttpOperationError) as late:
        registry.invoke_device_method(
            device_id, CloudToDeviceMethod(method_name="slowLock", response_timeout_in_seconds=5)
        )
    assert late.value.response.status_code == 504
    assert "504101" in late.value.response.text
    # The late answer is dropped; the device still answers the next call.
    assert invoke_lock(registry, device_id, connect_timeout=10).status == 200


def test_the_device_receives_a_desired_patch_with_its_version(door, registry):
    device_id, lock = door
    registry.update_twin(device_id, Twin(properties=TwinProperties(desired={"building": 43, "floor": 3})), "*")
    patch = lock.next_patch({"building": 43, "floor": 3})
    assert patch["$version"] >= 2


def test_the_device_keeps_working_after_the_hub_drops_it(door, registry):
    device_id, lock = door
    assert invoke_lock(registry, device_id).status == 200
    # Another connection with the same device id makes the hub close the SDK's connection
    # (one connection per device); the SDK reconnects and never re-subscribes, so this only
    # works if localhub keeps its subscriptions.
    intruder = IoTHubDeviceClient.create_from_connection_string(lock.connection_string)
    intruder.connect()
    intruder.shutdown()
    # Give the SDK time to notice and reconnect: the hub waits for it (connectTimeout).
    result = invoke_lock(registry, device_id, connect_timeout=30)
    assert result.status == 200
    registry.update_twin(device_id, Twin(properties=TwinProperties(desired={"floor": 7})), "*")
    assert lock.next_patch({"floor": 7})["floor"] == 7
