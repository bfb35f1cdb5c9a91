"""mooring: keep small docker-compose backends in their declared state."""

__version__ = "0.1.0"
