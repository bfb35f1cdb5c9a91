"""pyinfra inventory of the local sandbox boxes (``mooring sandbox up`` makes them).

    pyinfra inventories/sandbox.py deploy/bootstrap.py --limit docker_boxes

Every host is reached as root on 127.0.0.1 with the sandbox key, and with strict host-key
checking against the sandbox's own known_hosts (``up`` recorded each box's host keys).
"""

from pyinfra.api.exceptions import InventoryError

from mooring.sandbox.boxes import host_data, load_state, state_path

_state = load_state()
if _state is None:
    raise InventoryError(f"no sandbox state at {state_path()}: run `mooring sandbox up` first")

docker_boxes = [(box.name, host_data(_state, box)) for box in _state.group("docker")]
lite_boxes = [(box.name, host_data(_state, box)) for box in _state.group("lite")]
sandbox = docker_boxes + lite_boxes
