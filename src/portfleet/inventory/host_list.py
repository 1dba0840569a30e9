"""``-i host1,host2,``: a comma-separated host list, as Ansible's host_list inventory plugin reads it.

https://docs.ansible.com/ansible/latest/collections/ansible/builtin/host_list_inventory.html
A source that is not an existing path and holds a comma is a list of hosts (``-i web01,`` -- the
trailing comma makes a single host a list). Each entry may carry a port (``web01:5986``,
``[fe80::1]:5986``); no ranges (that is the advanced_host_list plugin, off by default: ``web[1:3]``
stays one name, as in Ansible). Every host goes to 'ungrouped'; there is no group_vars/ for a list.
"""

from __future__ import annotations

from pathlib import Path

from portfleet.inventory.builder import InventoryBuilder, Origin
from portfleet.inventory.ranges import split_port


def is_host_list(source: str) -> bool:
    """Ansible's host_list verify_file: not an existing path, and a comma in it."""
    return "," in source and not Path(source).exists()


def parse_host_list(source: str, builder: InventoryBuilder) -> None:
    origin = Origin(Path(source))
    for entry in source.split(","):
        entry = entry.strip()
        if not entry:
            continue
        # parse_address(allow_ranges=False): brackets only as [address]:port; 'web[1:3]' is a name.
        host, port = split_port(entry) if entry.startswith("[") or "[" not in entry else (entry, None)
        if host in builder.hosts:
            continue  # Ansible adds a host of the list once (its port from the first mention)
        builder.add_host(host, "ungrouped", origin, port)
