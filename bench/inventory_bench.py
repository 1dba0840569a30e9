"""Load generated inventories of 10,000 and 100,000 hosts and print load time and peak memory; then
feed portfleet the bombs (a huge host range, a YAML alias bomb, a merge-key bomb) and print how fast
each is refused. Figures, not assertions (docs/benchmarks.md has the latest).

    python bench/inventory_bench.py [--repeat N] [--sizes 10000,100000]

Every figure comes from a fresh process (`python -c`), so a peak is that load's alone (VmHWM of the
process); the best of N runs is kept (the others paid for a busy machine). The fleets: hosts in 100
site groups under 'windows', an ansible_host each, group vars at three levels, group_vars/ and
host_vars/ files; the "aliases" YAML variant gives every host its connection vars by `<<: *winrm`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

SITES = 100
CHILD = textwrap.dedent("""\
    import json, sys, time
    from portfleet.inventory import InventoryError, load_inventory
    started = time.perf_counter()
    try:
        inv = load_inventory(sys.argv[1])
        outcome = f"{len(inv.hosts)} hosts"
    except InventoryError as exc:
        outcome = "refused: " + exc.message[:70]
    seconds = time.perf_counter() - started
    hwm = int([l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1])
    print(json.dumps({"seconds": seconds, "peak_mb": hwm / 1024, "outcome": outcome}))
    """)


def yaml_fleet(path: Path, hosts: int, aliases: bool = False) -> None:
    per = hosts // SITES
    out = ["all:", "  vars:", "    ansible_connection: winrm", "    defaults: &winrm",
           "      ansible_port: 5986", "      ansible_winrm_transport: ntlm", "      ansible_winrm_server_cert_validation: validate",
           "  children:", "    windows:", "      vars:", "        portfleet_platform: windows", "      children:"]
    for s in range(SITES):
        out += [f"        site{s:03d}:", "          vars:", f"            site: s{s}", "          hosts:"]
        for i in range(per):
            k = s * per + i
            out.append(f"            web{k:06d}.corp.example.com:")
            if aliases:
                out.append("              <<: *winrm")
            out.append(f"              ansible_host: 10.{k >> 16 & 255}.{k >> 8 & 255}.{k & 255}")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def ini_fleet(path: Path, hosts: int) -> None:
    per = hosts // SITES
    out: list[str] = []
    for s in range(SITES):
        out.append(f"[site{s:03d}]")
        for i in range(per):
            k = s * per + i
            out.append(f"web{k:06d}.corp.example.com ansible_host=10.{k >> 16 & 255}.{k >> 8 & 255}.{k & 255}")
        out += [f"[site{s:03d}:vars]", f"site=s{s}"]
    out += ["[windows:children]", *(f"site{s:03d}" for s in range(SITES)),
            "[windows:vars]", "ansible_connection=winrm", "portfleet_platform=windows"]
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def vars_files(directory: Path) -> None:
    (directory / "group_vars").mkdir(exist_ok=True)
    (directory / "host_vars").mkdir(exist_ok=True)
    (directory / "group_vars" / "windows.yml").write_text("ansible_user: svc_portfleet\n", encoding="utf-8")
    (directory / "group_vars" / "site042.yml").write_text("ansible_winrm_transport: kerberos\n", encoding="utf-8")
    (directory / "host_vars" / "web000007.corp.example.com.yml").write_text("ansible_port: 5985\n", encoding="utf-8")


BOMBS = {
    "host range web[0:100000000]": ("hosts.ini", "[web]\nweb[0:100000000]\n"),
    "418-byte YAML alias bomb (billion laughs)": ("hosts.yml", "all:\n  vars:\n    a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        + "".join(f"    {c}: &{c} [{','.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
        + "  hosts:\n    web01:\n"),
    "merge-key bomb (<<: [*m, *m, ...] x 8 levels)": ("hosts.yml", "all:\n  vars:\n    m0: &m0 {k: v}\n"
        + "".join(f"    m{i}: &m{i}\n      <<: [{', '.join([f'*m{i - 1}'] * 10)}]\n" for i in range(1, 9))
        + "  hosts:\n    web01:\n"),
    "12 ranges of 100,000 hosts": ("hosts.ini", "[web]\n" + "".join(f"s{i}-[0:99999]\n" for i in range(12))),
}


def measure(path: Path, repeat: int) -> dict[str, object]:
    runs = []
    for _ in range(repeat):
        done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout))
    best = min(runs, key=lambda r: r["seconds"])
    return {**best, "peak_mb": min(r["peak_mb"] for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="10000,100000")
    args = parser.parse_args()
    import yaml

    print(f"Python {sys.version.split()[0]}, PyYAML {yaml.__version__}, libyaml: {'yes' if getattr(yaml, '__with_libyaml__', False) else 'no'}")
    print(f"{'inventory':<48} {'load':>8} {'peak RSS':>9}  outcome")
    with tempfile.TemporaryDirectory(prefix="portfleet-bench-") as tmp:
        root = Path(tmp)
        for size in (int(s) for s in args.sizes.split(",")):
            for kind in ("yaml", "yaml-aliases", "ini"):
                directory = root / f"{kind}-{size}"
                directory.mkdir()
                path = directory / ("hosts.ini" if kind == "ini" else "hosts.yml")
                (ini_fleet(path, size) if kind == "ini" else yaml_fleet(path, size, aliases=kind == "yaml-aliases"))
                vars_files(directory)
                size_mb = path.stat().st_size / 1e6
                r = measure(directory, args.repeat)
                label = f"{kind.upper().replace('-ALIASES', ' (<<: *alias per host)')}, {size:,} hosts ({size_mb:.1f} MB)"
                print(f"{label:<48} {r['seconds']:>7.2f}s {r['peak_mb']:>6.0f} MB  {r['outcome']}")
        for name, (filename, text) in BOMBS.items():
            directory = root / f"bomb-{len(name)}"
            directory.mkdir()
            path = directory / filename
            path.write_text(text, encoding="utf-8")
            r = measure(path, args.repeat)
            label = f"{name} ({len(text.encode()):,} bytes)"
            print(f"{label:<48} {r['seconds']:>7.3f}s {r['peak_mb']:>6.0f} MB  {r['outcome']}")


if __name__ == "__main__":
    main()
