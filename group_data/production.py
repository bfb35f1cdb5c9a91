# Thin shim: pyinfra loads only .py group data; the declared state lives in production.yml.
from mooring.declare.layers import shim

globals().update(shim(__file__))
