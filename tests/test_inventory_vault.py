"""Ansible Vault in inventories: data made by the real ansible-vault, read back by portfleet, and what
Ansible itself reads from the same files; passwords from files, scripts, vault ids and variables.
Every failure is an InventoryError naming file:line and the vault id, never quoting a secret."""

from __future__ import annotations

import binascii
import json
from pathlib import Path

import pytest

from portfleet.inventory import InventoryError, Secret, load_inventory, masked
from portfleet.inventory.vault_secrets import keyring_from_options, vault_id_sources
from test_inventory_vault_tools import Ansible, AnsibleFailure, vault_yaml, write

PASSWORD = "correct horse battery staple"
OTHER = "another-Pa55word"
PLAINS = {
    "ascii": "Winrm-Pa55!",
    "unicode": "pässwörd-ünïcode-✓",
    "multiline": "line one\nline two\n",
    "template_like": "{{ inventory_hostname }}-literal",
    "long": "x" * 2000,
}


@pytest.fixture(scope="module")
def ansible(tmp_path_factory: pytest.TempPathFactory) -> Ansible:
    return Ansible(tmp_path_factory.mktemp("ansible-home"))


@pytest.fixture(scope="module")
def pw(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("passwords")
    return {
        "main": write(d / "main.txt", PASSWORD + "\n"),
        "other": write(d / "other.txt", OTHER + "\n"),
        "wrong": write(d / "wrong.txt", "not-the-password\n"),
    }


@pytest.fixture(scope="module")
def encrypted(ansible: Ansible, pw: dict[str, Path]) -> dict[str, str]:
    """Each plaintext as 1.1 (no vault id) and one as 1.2 with vault id 'prod' / 'dev'."""
    texts = ansible.encrypt_strings(PLAINS, "--vault-password-file", str(pw["main"]))
    texts.update(ansible.encrypt_strings({"prod_value": "prod-secret"}, "--vault-id", f"prod@{pw['main']}"))
    texts.update(ansible.encrypt_strings({"dev_value": "dev-secret"}, "--vault-id", f"dev@{pw['other']}"))
    return texts


def keyring(*vault_ids: str, files: tuple[Path, ...] = (), environ: dict[str, str] | None = None):
    return keyring_from_options(list(vault_ids), list(files), environ=environ or {})


def inline_inventory(tmp_path: Path, texts: dict[str, str], extra: str = "") -> Path:
    body = "all:\n  hosts:\n    web01:\n" + "".join(vault_yaml(k, v, 6) for k, v in texts.items()) + extra
    return write(tmp_path / "hosts.yml", body)


def test_inline_values_decrypt_to_what_ansible_decrypts(tmp_path, ansible, pw, encrypted):
    inv_path = inline_inventory(tmp_path, encrypted)
    host = load_inventory(inv_path, keyring(f"prod@{pw['main']}", f"dev@{pw['other']}")).host("web01")
    ours = {k: host.vars[k].reveal() for k in encrypted}
    assert ours == {**PLAINS, "prod_value": "prod-secret", "dev_value": "dev-secret"}
    theirs = ansible.debug(inv_path, "{" + ", ".join(f"'{k}': {k}" for k in encrypted) + "}",
                           "--vault-id", f"prod@{pw['main']}", "--vault-id", f"dev@{pw['other']}")["web01"]
    assert theirs == ours  # template-looking plaintext stays literal in both
    for key in encrypted:
        value = host.vars[key]
        assert isinstance(value, Secret) and str(value) == repr(value) == f"{value}" == "***"
        assert masked({"k": value}) == {"k": "***"}
        with pytest.raises(TypeError):
            json.dumps(value)
        src = host.var_source(key)
        assert src["vault"] == {"prod_value": "prod", "dev_value": "dev"}.get(key, "default") and src["file"] == str(inv_path)


def test_a_vault_id_label_is_a_hint_the_other_passwords_are_tried_as_ansible_does(tmp_path, ansible, pw, encrypted):
    # 'prod' was encrypted with the main password; given only under another label it still decrypts ...
    inv_path = inline_inventory(tmp_path, {"prod_value": encrypted["prod_value"]})
    host = load_inventory(inv_path, keyring(f"other@{pw['other']}", f"elsewhere@{pw['main']}")).host("web01")
    assert host.vars["prod_value"].reveal() == "prod-secret"
    args = ("--vault-id", f"other@{pw['other']}", "--vault-id", f"elsewhere@{pw['main']}")
    assert ansible.debug(inv_path, "prod_value", *args)["web01"] == "prod-secret"
    # ... unless ANSIBLE_VAULT_ID_MATCH demands the label: then both refuse.
    strict = keyring_from_options([f"other@{pw['other']}", f"elsewhere@{pw['main']}"], environ={"ANSIBLE_VAULT_ID_MATCH": "1"})
    with pytest.raises(InventoryError) as info:
        load_inventory(inv_path, strict).host("web01").vars["prod_value"].reveal()
    assert "vault id 'prod'" in info.value.message and "ANSIBLE_VAULT_ID_MATCH" in info.value.message
    assert isinstance(ansible.debug(inv_path, "prod_value", *args, env={"ANSIBLE_VAULT_ID_MATCH": "1"})["web01"], AnsibleFailure)


def test_wrong_or_missing_password_names_file_line_and_vault_id_never_the_secret(tmp_path, ansible, pw, encrypted):
    inv_path = inline_inventory(tmp_path, {"ascii": encrypted["ascii"], "prod_value": encrypted["prod_value"]})
    line_of = {k: n for n, text in enumerate(inv_path.read_text().splitlines(), 1) for k in ("ascii", "prod_value") if text.strip().startswith(k + ":")}
    for ring, expect in (
        (keyring(files=(pw["wrong"],)), "does not fit"),
        (None, "no vault password was given"),
        (keyring(), "no vault password was given"),
    ):
        host = load_inventory(inv_path, ring).host("web01")  # loading needs no password: nothing is decrypted yet
        for key, vault_id in (("ascii", "default"), ("prod_value", "prod")):
            with pytest.raises(InventoryError) as info:
                host.vars[key].reveal()
            err = info.value
            assert (err.path, err.line) == (inv_path, line_of[key]), str(err)
            assert expect in err.message and f"vault id {vault_id!r}" in err.message, err.message
            for secret in (PASSWORD, "not-the-password", PLAINS["ascii"], "prod-secret"):
                assert secret not in str(err)
    # Ansible refuses the same wrong password.
    assert isinstance(ansible.debug(inv_path, "ascii", "--vault-password-file", str(pw["wrong"]))["web01"], AnsibleFailure)


def test_an_unused_vault_value_needs_no_password(tmp_path, encrypted):
    inv_path = inline_inventory(tmp_path, {"vault_db_password": encrypted["dev_value"]},
                                extra="      ansible_host: 10.1.2.3\n      ansible_user: ops\n")
    host = load_inventory(inv_path).host("web01")
    assert (host.address, host.user, host.port) == ("10.1.2.3", "ops", 22)
    assert host.vars["vault_db_password"] == host.raw_vars["vault_db_password"]  # still encrypted, masked
    assert str(host.vars["vault_db_password"]) == "***"


def test_tampered_ciphertext_fails_the_hmac_check(tmp_path, pw, encrypted):
    header, *body = encrypted["ascii"].splitlines()
    salt, mac, ciphertext = binascii.unhexlify("".join(body)).split(b"\n")
    flipped = ciphertext[:-1] + (b"0" if ciphertext[-1:] != b"0" else b"1")  # one hex digit of the ciphertext
    tampered = binascii.hexlify(b"\n".join([salt, mac, flipped])).decode()
    inv_path = inline_inventory(tmp_path, {"ascii": header + "\n" + tampered + "\n"})
    with pytest.raises(InventoryError) as info:
        load_inventory(inv_path, keyring(files=(pw["main"],))).host("web01").vars["ascii"].reveal()
    assert "does not fit" in info.value.message and info.value.line == 4


def test_malformed_vault_text_is_refused_at_load_with_its_line(tmp_path, encrypted):
    good = encrypted["ascii"].splitlines()
    cases = {
        "not hex": [good[0], "zz" + good[1][2:]] + good[2:],
        "truncated": good[:2],
        "unknown cipher": [good[0].replace("AES256", "AES128")] + good[1:],
    }
    for why, lines in cases.items():
        inv_path = inline_inventory(tmp_path, {"ansible_password": "\n".join(lines) + "\n"})
        with pytest.raises(InventoryError) as info:
            load_inventory(inv_path)
        assert (info.value.path, info.value.line) == (inv_path, 4), (why, str(info.value))
        assert "not Ansible Vault text" in info.value.message, why


def test_encrypted_group_vars_file_values_are_secrets_templated_as_ansible_does(tmp_path, ansible, pw):
    write(tmp_path / "hosts.ini", "[windows]\nweb01.corp ansible_host=10.0.0.1\nweb02.corp\n")
    vault_file = write(tmp_path / "group_vars/windows/vault.yml",
                       'vault_winrm_password: "Sup3r-S3cret"\nvault_note: "{{ inventory_hostname_short }}-note"\nvault_port: 5986\n')
    write(tmp_path / "group_vars/windows/vars.yml",
          'ansible_password: "{{ vault_winrm_password }}"\nansible_connection: winrm\nansible_port: "{{ vault_port }}"\n')
    ansible.encrypt_file(vault_file, "--vault-id", f"lab@{pw['main']}")
    inv = load_inventory(tmp_path / "hosts.ini", keyring(f"lab@{pw['main']}"))
    theirs = ansible.debug(tmp_path / "hosts.ini", "[vault_winrm_password, vault_note, ansible_password]",
                           "--vault-id", f"lab@{pw['main']}")
    for host in inv.hosts:
        ours = [host.vars[k] for k in ("vault_winrm_password", "vault_note", "ansible_password")]
        assert all(isinstance(v, Secret) for v in ours)
        assert [v.reveal() for v in ours] == theirs[host.name]
        assert host.var_source("vault_note") == {"file": str(vault_file), "line": 2, "vault": "lab", "template": True}
        assert host.password.reveal() == "Sup3r-S3cret" and host.password_source == "inventory:ansible_password"
    # A port that comes from the vault is refused: ports are shown in portfleet's output.
    with pytest.raises(InventoryError) as info:
        inv.host("web01.corp").check()
    assert "ansible_port" in info.value.message and "secret" in info.value.message and "5986" not in str(info.value)
    # Without the password the whole file can't be read: an encrypted file is decrypted when loaded.
    with pytest.raises(InventoryError) as info:
        load_inventory(tmp_path / "hosts.ini")
    assert (info.value.path, info.value.line) == (vault_file, 1) and "vault id 'lab'" in info.value.message
    refused = ansible.run("ansible-inventory", "-i", str(tmp_path / "hosts.ini"), "--list", check=False)
    assert refused.returncode != 0 and "no vault secrets" in refused.stderr  # Ansible can't either


def test_encrypted_inventory_files_yaml_and_ini(tmp_path, ansible, pw):
    yml = write(tmp_path / "a" / "hosts.yml", "all:\n  children:\n    web:\n      hosts:\n        web01:\n          ansible_host: 10.9.0.1\n")
    ini = write(tmp_path / "b" / "hosts", "[db]\ndb01 ansible_host=10.9.0.2 ansible_port=2222\n")
    for path in (yml, ini):
        ansible.encrypt_file(path, "--vault-password-file", str(pw["main"]))
    a = load_inventory(yml, keyring(files=(pw["main"],)))
    b = load_inventory(ini, keyring(files=(pw["main"],)))
    assert [(h.name, h.address) for h in a.hosts] == [("web01", "10.9.0.1")]
    assert [(h.name, h.address, h.port) for h in b.hosts] == [("db01", "10.9.0.2", 2222)]
    listed = ansible.inventory_list(ini, "--vault-password-file", str(pw["main"]))
    assert listed["_meta"]["hostvars"]["db01"] == {"ansible_host": "10.9.0.2", "ansible_port": 2222}
    for path in (yml, ini):
        with pytest.raises(InventoryError) as info:
            load_inventory(path, keyring(files=(pw["wrong"],)))
        assert (info.value.path, info.value.line) == (path, 1) and "vault id 'default'" in info.value.message


# -- password sources ------------------------------------------------------------------------------

def test_password_files_scripts_and_client_scripts(tmp_path, ansible, pw, encrypted):
    inv_path = inline_inventory(tmp_path, {"ascii": encrypted["ascii"], "prod_value": encrypted["prod_value"]})
    script = write(tmp_path / "vault-pass.sh", f"#!/bin/sh\necho '{PASSWORD}'\n", mode=0o700)
    client = write(tmp_path / "vault-client.sh",
                   f"#!/bin/sh\n[ \"$1\" = --vault-id ] && [ \"$2\" = prod ] && echo '{PASSWORD}' && exit 0\nexit 2\n", mode=0o700)
    for ring in (keyring(files=(script,)), keyring(f"prod@{client}")):
        host = load_inventory(inv_path, ring).host("web01")
        assert host.vars["prod_value"].reveal() == "prod-secret"
    # Ansible runs the very same script and client script.
    assert ansible.debug(inv_path, "ascii", "--vault-password-file", str(script))["web01"] == PLAINS["ascii"]
    assert ansible.debug(inv_path, "prod_value", "--vault-id", f"prod@{client}")["web01"] == "prod-secret"
    with pytest.raises(InventoryError) as info:
        keyring(f"dev@{client}")
    assert info.value.path == client and "no password for vault id 'dev'" in info.value.message


def test_a_multi_line_password_file_is_used_whole_as_ansible_does(tmp_path, ansible):
    multi = write(tmp_path / "multi.txt", "first line\nsecond line\n\n")
    text = ansible.encrypt_strings({"v": "plain"}, "--vault-password-file", str(multi))["v"]
    inv_path = inline_inventory(tmp_path, {"v": text})
    assert load_inventory(inv_path, keyring(files=(multi,))).host("web01").vars["v"].reveal() == "plain"
    first_only = write(tmp_path / "first.txt", "first line\n")
    with pytest.raises(InventoryError):
        load_inventory(inv_path, keyring(files=(first_only,))).host("web01").vars["v"].reveal()


def test_a_vault_encrypted_password_file_is_opened_with_an_earlier_password(tmp_path, ansible, pw, encrypted):
    inner = write(tmp_path / "inner.txt", OTHER + "\n")
    ansible.encrypt_file(inner, "--vault-password-file", str(pw["main"]))
    inv_path = inline_inventory(tmp_path, {"dev_value": encrypted["dev_value"]})
    ring = keyring(f"outer@{pw['main']}", f"dev@{inner}")
    assert load_inventory(inv_path, ring).host("web01").vars["dev_value"].reveal() == "dev-secret"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "missing.txt", "does not exist"),
        (lambda d: d, "is a directory"),
        (lambda d: write(d / "empty.txt", "\n\n"), "holds nothing"),
        (lambda d: write(d / "fail.sh", f"#!/bin/sh\necho '{PASSWORD}' >&2\nexit 3\n", mode=0o700), "failed with exit status 3"),
        (lambda d: write(d / "quiet.sh", "#!/bin/sh\nexit 0\n", mode=0o700), "script printed nothing"),
        (lambda d: write(d / "notascript", "no shebang here\n", mode=0o700), "can't run the vault password script"),
    ],
)
def test_bad_password_sources_name_the_file_never_a_secret(tmp_path, make, message, capfd):
    source = make(tmp_path)
    with pytest.raises(InventoryError) as info:
        keyring(f"prod@{source}")
    assert info.value.path == Path(source) and message in info.value.message, str(info.value)
    assert PASSWORD not in str(info.value)


def test_a_hanging_password_script_is_stopped_by_the_timeout(tmp_path):
    script = write(tmp_path / "hang.sh", "#!/bin/sh\nexec sleep 60\n", mode=0o700)
    with pytest.raises(InventoryError) as info:
        keyring_from_options([str(script)], environ={}, timeout=0.5)
    assert "did not finish within 0.5 s" in info.value.message and info.value.path == script


def test_sources_in_ansibles_order_with_the_environment_variables(tmp_path):
    environ = {
        "ANSIBLE_VAULT_IDENTITY_LIST": "ops@/x/ops.txt, dev@prompt",
        "ANSIBLE_VAULT_PASSWORD_FILE": "~/vault.txt",
    }
    got = [(s.label, s.source, s.given_by) for s in vault_id_sources(["prod@/x/prod.txt", "/x/plain.txt"], ["/x/file.txt"], True, environ)]
    assert got == [
        ("ops", "/x/ops.txt", "ANSIBLE_VAULT_IDENTITY_LIST"),
        ("dev", "prompt", "ANSIBLE_VAULT_IDENTITY_LIST"),
        ("prod", "/x/prod.txt", "--vault-id"),
        ("default", "/x/plain.txt", "--vault-id"),
        ("default", "/x/file.txt", "--vault-password-file"),
        ("default", str(Path("~/vault.txt").expanduser()), "ANSIBLE_VAULT_PASSWORD_FILE"),
        ("default", "prompt_ask_vault_pass", "--ask-vault-pass"),
    ]
    relabelled = vault_id_sources(["/x/a.txt"], environ={"ANSIBLE_VAULT_IDENTITY": "site"})
    assert [(s.label, s.source) for s in relabelled] == [("site", "/x/a.txt")]
    with pytest.raises(InventoryError):
        keyring_from_options(["dev@prompt"], environ={})  # no terminal to prompt on


def test_environment_variables_supply_the_passwords(tmp_path, pw, encrypted):
    inv_path = inline_inventory(tmp_path, {"prod_value": encrypted["prod_value"], "dev_value": encrypted["dev_value"]})
    ring = keyring(environ={"ANSIBLE_VAULT_PASSWORD_FILE": str(pw["main"]), "ANSIBLE_VAULT_IDENTITY_LIST": f"dev@{pw['other']}"})
    host = load_inventory(inv_path, ring).host("web01")
    assert (host.vars["prod_value"].reveal(), host.vars["dev_value"].reveal()) == ("prod-secret", "dev-secret")
