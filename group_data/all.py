# Thin shim: pyinfra loads only .py group data; the declared state lives in all.yml.
# It also makes strict host-key checking the default of every inventory (group data applies to
# all of them; a host may still override it) and, before pyinfra connects, refuses an inventory
# that weakens it without the first-contact opt-out (see mooring.declare.model.host_key_problems).
from mooring.declare.layers import shim
from mooring.declare.model import STRICT_HOST_KEYS, check_inventory_host_keys

check_inventory_host_keys()
ssh_strict_host_key_checking = STRICT_HOST_KEYS

globals().update(shim(__file__))
