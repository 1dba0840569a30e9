"""portfleet reboot: maintenance windows, rolling-reboot plans and their calendar export, execution."""
