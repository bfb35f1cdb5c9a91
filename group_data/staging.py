# Thin shim: pyinfra loads only .py group data; the declared state lives in staging.yml.
from mooring.declare.layers import shim

globals().update(shim(__file__))
