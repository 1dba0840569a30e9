"""The mutable inventory the format parsers fill in: groups, hosts, their own vars, and where
each came from. Mirrors Ansible's InventoryData / Group / Host bookkeeping
(``add_group``, ``add_host``, ``add_child``, ``set_variable``, ``reconcile_inventory``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portfleet.inventory.errors import InventoryError
from portfleet.inventory.numbers import ascii_int

GROUP_PRIORITY_VAR = "ansible_group_priority"
# Bounds on what an inventory may expand to, checked before the memory is spent (a range such as
# web[0:100000000], or many ranges, or a range line carrying many vars): a million hosts is past any
# fleet portfleet is meant for, and each (host, var) pair a range stamps out costs a dict slot.
MAX_HOSTS = 1_000_000
MAX_RANGE_EXPANSION = 5_000_000  # hosts x (1 + vars) created by ranges, over the whole inventory


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a var (or a host, or a group) was defined; ``level`` orders merge layers (higher wins);
    ``vault_id`` is set for a var of a vault-encrypted vars file."""

    path: Path
    line: int | None = None
    level: int = 0
    vault_id: str | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else str(self.path)


@dataclass
class RawGroup:
    name: str
    origin: Origin | None = None
    hosts: list[str] = field(default_factory=list)
    host_set: set[str] = field(default_factory=set, repr=False)  # membership of ``hosts`` in O(1)
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)
    var_origins: dict[str, Origin] = field(default_factory=dict)
    priority: int = 1  # Ansible's default ansible_group_priority


@dataclass(slots=True)  # a million of them must stay small
class RawHost:
    name: str
    origin: Origin
    groups: list[str] = field(default_factory=list)  # direct memberships, in order
    vars: dict[str, Any] = field(default_factory=dict)
    var_origins: dict[str, Origin] = field(default_factory=dict)


class InventoryBuilder:
    def __init__(self) -> None:
        self.groups: dict[str, RawGroup] = {}
        self.hosts: dict[str, RawHost] = {}
        self.warnings: list[str] = []
        self.range_expansion = 0  # see MAX_RANGE_EXPANSION
        # Ansible's InventoryData starts with 'all' and its child 'ungrouped'.
        self.groups["all"] = RawGroup("all")
        self.groups["ungrouped"] = RawGroup("ungrouped", parents=["all"])
        self.groups["all"].children.append("ungrouped")

    # -- groups ------------------------------------------------------------------------------
    def add_group(self, name: str, origin: Origin) -> RawGroup:
        if not name or not name.strip():
            raise InventoryError("empty group name", origin.path, origin.line)
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = RawGroup(name, origin)
        elif group.origin is None:
            group.origin = origin
        return group

    def ancestors(self, name: str) -> list[str]:
        seen: dict[str, None] = {}  # ordered set
        todo = list(self.groups[name].parents)
        while todo:
            g = todo.pop()
            if g not in seen:
                seen[g] = None
                todo.extend(self.groups[g].parents)
        return list(seen)

    def _path_down(self, start: str, goal: str) -> list[str]:
        """Names from ``start`` down the child links to ``goal`` (for a loop's error message)."""
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, path = stack.pop()
            if node == goal:
                return path
            if node in seen:
                continue
            seen.add(node)
            for child in self.groups[node].children:
                stack.append((child, path + [child]))
        return [start, goal]

    def add_child(self, parent: str, child: str, origin: Origin) -> None:
        where = (origin.path, origin.line)
        if child == "all":
            raise InventoryError(
                f"group 'all' can't be a child of {parent!r}: 'all' is the implicit root of every inventory",
                *where,
            )
        if parent == child:
            raise InventoryError(f"group {parent!r} can't be its own child", *where)
        p, c = self.groups[parent], self.groups[child]
        if child in p.children:
            return
        if child in self.ancestors(parent):
            loop = " -> ".join(self._path_down(child, parent) + [child])
            raise InventoryError(
                f"making {child!r} a child of {parent!r} creates a loop ({loop}); "
                f"a group can't contain itself, remove one of these children links",
                *where,
            )
        p.children.append(child)
        c.parents.append(parent)

    def set_group_var(self, group: str, key: str, value: Any, origin: Origin) -> None:
        g = self.groups[group]
        if key == GROUP_PRIORITY_VAR:
            # Ansible keeps this one out of the group's vars: it only orders the merge.
            if isinstance(value, bool) or not _is_int(value):
                raise InventoryError(
                    f"{GROUP_PRIORITY_VAR} of group {group!r} must be a whole number (higher merges later), "
                    f"got {value!r}",
                    origin.path,
                    origin.line,
                )
            g.priority = ascii_int(value)  # type: ignore[assignment]  # _is_int checked it
            return
        g.vars[key] = value
        g.var_origins[key] = origin

    # -- hosts -------------------------------------------------------------------------------
    def charge_expansion(self, hosts: int, variables: int, origin: Origin) -> None:
        """Account for a range that stands for ``hosts`` names each given ``variables`` vars; refuse
        before expanding when the inventory's ranges would stamp out more than MAX_RANGE_EXPANSION."""
        self.range_expansion += hosts * (1 + variables)
        if self.range_expansion > MAX_RANGE_EXPANSION or len(self.hosts) + hosts > MAX_HOSTS:
            raise InventoryError(
                f"host ranges expand this inventory past portfleet's bound ({MAX_HOSTS:,} hosts, "
                f"{MAX_RANGE_EXPANSION:,} host variables from ranges): check the range bounds",
                origin.path,
                origin.line,
            )

    def add_host(self, name: str, group: str, origin: Origin, port: int | None = None) -> RawHost:
        if not name or not name.strip():
            raise InventoryError("empty host name", origin.path, origin.line)
        host = self.hosts.get(name)
        if host is None:
            if len(self.hosts) >= MAX_HOSTS:
                raise InventoryError(
                    f"the inventory holds more than {MAX_HOSTS:,} hosts, portfleet's bound", origin.path, origin.line
                )
            host = self.hosts[name] = RawHost(name, origin)
        g = self.groups[group]
        if name not in g.host_set:
            g.host_set.add(name)
            g.hosts.append(name)
        if group not in host.groups:
            host.groups.append(group)
        if port is not None:
            self.set_host_var(name, "ansible_port", port, origin)
        return host

    def set_host_var(self, host: str, key: str, value: Any, origin: Origin) -> None:
        h = self.hosts[host]
        h.vars[key] = value
        h.var_origins[key] = origin

    # -- after all sources are read ----------------------------------------------------------
    def reconcile(self) -> None:
        """Ansible's reconcile_inventory: parentless groups go under 'all'; hosts in no group
        but 'all' go to 'ungrouped'; a host in a real group leaves 'ungrouped'."""
        for name, group in self.groups.items():
            if name != "all" and not group.parents:
                group.parents.append("all")
                self.groups["all"].children.append(name)
        ungrouped = self.groups["ungrouped"]
        for host in self.hosts.values():
            real = any(g not in ("all", "ungrouped") for g in host.groups)
            if real and "ungrouped" in host.groups:
                host.groups.remove("ungrouped")
                ungrouped.host_set.discard(host.name)
            elif not real and "ungrouped" not in host.groups:
                host.groups.append("ungrouped")
                ungrouped.host_set.add(host.name)
        # One pass (list.remove per host would be quadratic): keep the order, drop who left.
        kept = [h for h in ungrouped.hosts if h in ungrouped.host_set]
        present = set(kept)
        kept.extend(h for h in self.hosts if h in ungrouped.host_set and h not in present)
        ungrouped.hosts = kept

    def depths(self) -> dict[str, int]:
        """Longest path from 'all' (depth 0), as Ansible's Group.depth after add_child_group."""
        depth: dict[str, int] = {}
        for name in self.groups:
            # Iterative (a chain of thousands of nested groups must not hit the recursion limit);
            # the child links have no loop (add_child refuses one), so this ends.
            stack = [name]
            while stack:
                top = stack[-1]
                if top in depth:
                    stack.pop()
                    continue
                parents = self.groups[top].parents
                missing = [p for p in parents if p not in depth]
                if missing:
                    stack.extend(missing)
                    continue
                depth[top] = 1 + max((depth[p] for p in parents), default=-1)
                stack.pop()
        return depth


def _is_int(value: Any) -> bool:
    return ascii_int(value) is not None


def ansible_groups(groups: Mapping[str, Any]) -> dict[str, list[str]]:
    """Ansible's ``groups`` magic var from groups with ``.hosts`` and ``.children``: each group's
    hosts and its descendants' hosts, the group's own first, then its children's level by level
    (Group.get_hosts with preserve_ordering)."""
    out: dict[str, list[str]] = {}
    for name in groups:
        seen: set[str] = set()
        hosts: list[str] = []
        level, visited = [name], {name}
        while level:
            following: list[str] = []
            for group in level:
                for host in groups[group].hosts:
                    if host not in seen:
                        seen.add(host)
                        hosts.append(host)
                for child in groups[group].children:
                    if child not in visited:
                        visited.add(child)
                        following.append(child)
            level = following
        out[name] = hosts
    return out
