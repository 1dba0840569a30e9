"""portfleet: keep a fleet tuned against ephemeral TCP port exhaustion."""

__version__ = "0.1.0"
