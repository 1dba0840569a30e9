"""The lab: simulated Windows hosts behind a real WS-Management endpoint."""

