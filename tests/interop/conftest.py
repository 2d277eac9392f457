"""Fixtures that start a real localhub for the official SDKs to talk to.

`localhub` runs the built binary (`LOCALHUB_BIN`, default target/debug/localhub) in a temp
data dir with the HTTPS port picked by the OS and MQTT on 8883, because the official Python
device SDK always dials 8883 (tests using it run serially). The SDKs trust localhub's CA through
REQUESTS_CA_BUNDLE (service SDK) and SSL_CERT_FILE (device SDK), exactly as a user would
point an unmodified app at it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from azure.iot.hub import IoTHubRegistryManager
from doorlock import DoorLock

ROOT = Path(__file__).resolve().parents[2]


def _localhub_bin() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return Path(os.environ.get("LOCALHUB_BIN", target / "debug" / "localhub"))


@dataclass
class LocalHub:
    data_dir: Path
    host_name: str
    https_port: int
    mqtt_port: int
    service_connection_string: str
    ca_certificate: str

    def add_device(self, device_id: str) -> str:
        """Registers a device with `localhub device add` and returns its connection string."""
        out = subprocess.run(
            [str(_localhub_bin()), "--data-dir", str(self.data_dir), "device", "add", device_id],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
        line = next(l for l in out.stdout.splitlines() if l.startswith("HostName="))
        return line.strip()


def start_localhub(data_dir: Path, mqtt_port: int = 8883, env: dict | None = None):
    """Starts the localhub binary on `data_dir`; returns (process, LocalHub) once it is ready."""
    binary = _localhub_bin()
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `cargo build -p localhub` first")
    proc = subprocess.Popen(
        [str(binary), "--data-dir", str(data_dir), "--https-port", "0", "--mqtt-port", str(mqtt_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    ready = data_dir / "localhub.json"
    deadline = time.monotonic() + 30
    while not ready.exists():
        if proc.poll() is not None:
            pytest.fail(f"localhub exited with {proc.returncode}:\n{proc.stdout.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("localhub did not write localhub.json within 30 s")
        time.sleep(0.1)
    info = json.loads(ready.read_text())
    hub = LocalHub(
        data_dir=data_dir,
        host_name=info["hostName"],
        https_port=info["httpsPort"],
        mqtt_port=info["mqttPort"],
        service_connection_string=info["serviceConnectionString"],
        ca_certificate=info["caCertificate"],
    )
    return proc, hub


def stop_localhub(proc) -> None:
    """SIGTERM, and localhub must exit 0 within 20 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert code == 0, f"localhub exited with {code} on SIGTERM"


@pytest.fixture(scope="session")
def localhub(tmp_path_factory):
    proc, hub = start_localhub(tmp_path_factory.mktemp("localhub"))
    previous = {k: os.environ.get(k) for k in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")}
    os.environ["REQUESTS_CA_BUNDLE"] = hub.ca_certificate
    os.environ["SSL_CERT_FILE"] = hub.ca_certificate
    try:
        yield hub
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        stop_localhub(proc)


@pytest.fixture()
def registry(localhub):
    """The official service SDK's registry manager, for localhub's iothubowner policy."""
    return IoTHubRegistryManager.from_connection_string(localhub.service_connection_string)


@pytest.fixture()
def door(localhub):
    """A fresh device run by the official device SDK (the tutorial's door lock)."""
    import uuid

    device_id = f"sdk-door-{uuid.uuid4().hex[:8]}"
    connection_string = localhub.add_device(device_id)
    lock = DoorLock(connection_string)
    lock.connection_string = connection_string
    try:
        yield device_id, lock
    finally:
        lock.close()
