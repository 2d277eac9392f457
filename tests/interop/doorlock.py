"""The tutorial's door-lock device, on the official device SDK, shared by the interop tests."""

import queue
import time

from azure.iot.device import IoTHubDeviceClient, MethodResponse


class DoorLock:
    """The tutorial's device: answers lockDoor, records desired patches."""

    def __init__(self, connection_string: str):
        self.client = IoTHubDeviceClient.create_from_connection_string(connection_string)
        self.patches: "queue.Queue[dict]" = queue.Queue()
        self.calls: "queue.Queue[tuple[str, object]]" = queue.Queue()
        self.client.on_method_request_received = self._on_method
        self.client.on_twin_desired_properties_patch_received = self.patches.put

    def _on_method(self, request):
        self.calls.put((request.name, request.payload))
        if request.name == "slowLock":
            # Longer than the invoker's 5-second response timeout.
            time.sleep(7)
        status = 200 if request.name == "lockDoor" else 404
        payload = {"locked": True} if status == 200 else {"error": f"no method {request.name}"}
        self.client.send_method_response(MethodResponse.create_from_method_request(request, status, payload))

    def next_patch(self, want: dict, timeout: float = 30) -> dict:
        """The next patch that carries every key of `want` (full-document resyncs included)."""
        while True:
            patch = self.patches.get(timeout=timeout)
            if all(patch.get(k) == v for k, v in want.items()):
                return patch

    def close(self):
        self.client.shutdown()
