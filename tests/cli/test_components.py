"""`imi components list|get|relate|graph|import` against a real server."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.cli.conftest import Live, failed, ok, run

TOML = """[components]
bloodbank = { path = "bloodbank", kind = "submodule", enabled = true }
iMi       = { path = "iMi", kind = "submodule", enabled = true }
"""
YAML = """components:
  bloodbank: {path: bloodbank, kind: submodule, enabled: false}
  holyfields: {path: holyfields, kind: local}
"""


def project(live: Live) -> str:
    body = {"remote_origin": "https://github.com/acme/33god"}
    return str(live.data("POST", "/projects", json=body)["id"])


def imported(live: Live, tmp_path: Path, text: str, name: str = "components.toml") -> str:
    pid = project(live)
    manifest = tmp_path / name
    manifest.write_text(text)
    ok(live, "components", "import", str(manifest), "--project", pid)
    return pid


def test_import_toml_then_yaml(live: Live, tmp_path: Path) -> None:
    pid = project(live)
    manifest = tmp_path / "components.toml"
    manifest.write_text(TOML)
    shown = ok(live, "components", "import", str(manifest), "--project", pid)
    assert "imported components.toml" in shown.stdout
    assert "created 2, updated 0, unchanged 0" in shown.stdout
    assert "bloodbank" in shown.stdout and "iMi" in shown.stdout

    again = ok(live, "components", "import", str(manifest), "--project", pid, "--json").json()
    assert (again["created"], again["updated"], again["unchanged"]) == (
        [],
        [],
        ["bloodbank", "iMi"],
    )

    yaml = tmp_path / "components.yml"  # the format follows the file name
    yaml.write_text(YAML)
    report = ok(live, "components", "import", str(yaml), "--project", pid, "--json").json()
    assert (report["created"], report["updated"]) == (["holyfields"], ["bloodbank"])
    listed = live.data("GET", "/components", params={"project_id": pid})
    assert {c["name"]: c["enabled"] for c in listed} == {
        "bloodbank": False,
        "holyfields": True,
        "iMi": True,
    }


def test_a_big_import_and_its_progress_stays_off_stdout(live: Live, tmp_path: Path) -> None:
    pid = project(live)
    lines = ["[components]"] + [
        f'c{n:04d} = {{ path = "c{n:04d}", kind = "local", note = "{"x" * 150}" }}'
        for n in range(1000)
    ]
    manifest = tmp_path / "big.toml"
    manifest.write_text("\n".join(lines) + "\n")
    assert manifest.stat().st_size > 200_000  # several upload chunks
    # A terminal on stderr (forced: the test has none) shows the progress; stdout stays JSON.
    ran = run(
        live,
        *("components", "import", str(manifest), "--project", pid, "--json"),
        TTY_INTERACTIVE="1",
        TTY_COMPATIBLE="1",
        TERM="xterm",
    )
    assert ran.exit_code == 0, ran.stderr
    assert len(ran.json()["created"]) == 1000
    assert "sent big.toml" in ran.stderr and "server working" in ran.stderr
    assert f"{manifest.stat().st_size / 1000:.1f}/{manifest.stat().st_size / 1000:.1f} kB" in (
        ran.stderr
    )  # every byte counted as it went out
    assert live.data("GET", "/stats")["total_components"] == 1000


def test_import_refusals(live: Live, tmp_path: Path) -> None:
    pid = project(live)
    broken = tmp_path / "broken.toml"
    broken.write_text("[components]\nbloodbank = { path = \n")
    err = failed(live, "components", "import", str(broken), "--project", pid)
    assert err.startswith("error: VALIDATION_ERROR: ")

    good = tmp_path / "components.toml"
    good.write_text(TOML)
    missing = str(uuid.uuid4())
    assert "NOT_FOUND" in failed(live, "components", "import", str(good), "--project", missing)
    # Past the server's body limit: refused on the announced size, with its message.
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"#" * 2_000_000)
    err = failed(live, "components", "import", str(huge), "--project", pid)
    assert "VALIDATION_ERROR" in err and "larger than" in err

    assert failed(
        live, "components", "import", str(tmp_path / "absent.toml"), "--project", pid, code=2
    )
    assert failed(live, "components", "import", str(tmp_path), "--project", pid, code=2)
    assert failed(live, "components", "import", str(good), code=2)  # --project required
    assert failed(live, "components", "import", str(good), "--project", "x", code=2)
    err = failed(
        live, "components", "import", str(good), "--project", pid, "--format", "ini", code=2
    )
    assert "toml or yaml" in err
    assert live.data("GET", "/components") == []


def test_list_get_relate_and_graph(live: Live, tmp_path: Path) -> None:
    pid = imported(live, tmp_path, TOML)
    listed = ok(live, "components", "list", "--json").json()
    assert listed == live.data("GET", "/components")
    ids = {c["name"]: c["id"] for c in listed}
    table = ok(live, "components", "list", "--project", pid).stdout
    assert "bloodbank" in table and "submodule" in table and ids["iMi"] in table
    assert ok(live, "components", "list", "--kind", "local", "--json").json() == []
    page = ok(live, "components", "list", "--limit", "1")
    assert "showing 1-1 of 2" in page.stderr
    assert ok(live, "components", "list", "--limit", "1", "--all", "--json").json() == listed

    got = ok(live, "components", "get", ids["iMi"], "--json").json()
    assert got == live.data("GET", f"/components/{ids['iMi']}")
    assert "submodule" in ok(live, "components", "get", ids["iMi"]).stdout

    text = ok(live, "components", "relate", ids["iMi"], ids["bloodbank"]).stdout
    assert text.startswith("related: ")
    assert ok(live, "components", "relate", ids["iMi"], ids["bloodbank"]).stdout.startswith(
        "already related: "
    )
    ok(live, "components", "relate", ids["bloodbank"], ids["iMi"], "--type", "produces_events_for")

    tree = ok(live, "components", "graph", ids["iMi"]).stdout.splitlines()
    assert tree == [
        f"iMi (submodule) {ids['iMi']}",
        f"└── bloodbank (submodule) [depends_on] {ids['bloodbank']}",
        "    └── iMi [produces_events_for] (see above)",
    ]
    dependents = ok(live, "components", "graph", ids["bloodbank"], "--dependents", "--depth", "1")
    assert dependents.stdout.splitlines()[1] == f"└── iMi (submodule) [depends_on] {ids['iMi']}"
    graph = ok(live, "components", "graph", ids["iMi"], "--relation", "depends_on", "--json").json()
    assert graph == live.data(
        "GET", f"/components/{ids['iMi']}/graph", params={"relation_types": "depends_on"}
    )
    assert len(graph["edges"]) == 1


def test_component_refusals(live: Live, tmp_path: Path) -> None:
    imported(live, tmp_path, TOML)
    missing = str(uuid.uuid4())
    assert failed(live, "components", "get", missing).startswith("error: NOT_FOUND: ")
    assert failed(live, "components", "graph", missing).startswith("error: NOT_FOUND: ")
    err = failed(live, "components", "relate", missing, str(uuid.uuid4()))
    assert err.startswith("error: NOT_FOUND: ")
    ids = [c["id"] for c in live.data("GET", "/components")]
    err = failed(live, "components", "relate", ids[0], ids[1], "--type", "likes")
    assert "VALIDATION_ERROR" in err and "relation_type" in err
    err = failed(live, "components", "graph", ids[0], "--depth", "99")
    assert "VALIDATION_ERROR" in err and "depth" in err
    assert "VALIDATION_ERROR" in failed(live, "components", "list", "--kind", "sparkly")
    assert failed(live, "components", "get", "nope", code=2)
