"""The official Azure IoT Python SDKs, installed from PyPI, load and accept our connection strings.

This is the seat of the interop suite: later tests point these same SDKs at localhub. For now
the SDKs are exercised without a hub: they parse connection strings of each shape Lockstep
hands out (a service string with `HostName=host:port`, a device string) and build their
clients, which does no I/O.
"""

import pytest

from azure.iot.device import IoTHubDeviceClient
from azure.iot.hub import IoTHubJobManager, IoTHubRegistryManager

# 32 bytes of test data (0x00..0x1F), the key of the protocol reference's test vectors.
TEST_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
SERVICE = f"HostName=localhost:8443;SharedAccessKeyName=iothubowner;SharedAccessKey={TEST_KEY}"
DEVICE = f"HostName=localhost;DeviceId=door-1;SharedAccessKey={TEST_KEY}"


def test_device_client_builds_from_a_device_connection_string():
    client = IoTHubDeviceClient.create_from_connection_string(DEVICE)
    try:
        assert client.connected is False
    finally:
        client.shutdown()


def test_device_client_rejects_a_malformed_connection_string():
    with pytest.raises(ValueError):
        IoTHubDeviceClient.create_from_connection_string("HostName=localhost;DeviceId=door-1")


def test_service_clients_build_from_a_service_connection_string_with_a_port():
    registry = IoTHubRegistryManager.from_connection_string(SERVICE)
    jobs = IoTHubJobManager.from_connection_string(SERVICE)
    # The service SDK builds its base URL from HostName as is, port included.
    assert registry.protocol.config.base_url == "https://localhost:8443"
    assert jobs.protocol.config.base_url == "https://localhost:8443"


def test_service_sas_token_is_signed_for_the_host_with_its_port():
    from azure.iot.hub.auth import ConnectionStringAuthentication

    auth = ConnectionStringAuthentication(SERVICE)
    header = auth.signed_session().headers["Authorization"]
    assert header.startswith("SharedAccessSignature sr=localhost%3A8443&sig=")
    assert header.endswith("&skn=iothubowner")
