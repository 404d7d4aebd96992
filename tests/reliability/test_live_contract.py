"""schemathesis against the live /openapi.json of a real `rag serve`, with and without the key:
no server error, no hang, every response as documented (status, content type, schema, headers).

`positive_data_acceptance` is left out on purpose: some schema-valid requests are refused for
reasons a schema cannot state (a filter on a field no document has, an upload named `x.exe`)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.conftest import record, scale
from tests.server import Server

KEY = "contract-key-0123456789"
CONFIG = Path(__file__).with_name("schemathesis.toml")


def _schemathesis(server: Server, headers: list[str], seed: int) -> tuple[int, str]:
    st = Path(sys.executable).with_name("st")
    cmd = [
        str(st),
        "--config-file",
        str(CONFIG),
        "run",
        f"{server.url}/openapi.json",
        "--max-examples",
        str(scale(25, 300)),
        "--seed",
        str(seed),
        "--request-timeout",
        "10",
        "--exclude-checks",
        "positive_data_acceptance",
        "--no-color",
    ]
    for h in headers:
        cmd += ["-H", h]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "protect_reads,headers",
    [
        (False, [f"Authorization: Bearer {KEY}"]),
        (False, []),
        (True, []),
    ],
)
def test_live_contract_has_no_server_errors_hangs_or_violations(index_copy, protect_reads, headers):
    env = {"RAG_API_KEY": KEY, "RAG_PROTECT_READS": str(protect_reads).lower(), "RAG_AUTH_MAX_FAILURES": "100000"}
    with Server(index_copy, workers=2, env=env) as server:
        if protect_reads:
            assert server.call("/openapi.json").status == 401  # the contract itself is behind the key
            headers_for_schema = [f"Authorization: Bearer {KEY}"]
            # schemathesis reads the schema with the key, then sends its requests without it
            code, out = _schemathesis_unauthenticated(server, headers_for_schema)
        else:
            code, out = _schemathesis(server, headers, seed=1)
        # /ready answers 503 while a worker starts: that is its contract, not a server error.
        errors = server.call("/metrics", headers={"Authorization": f"Bearer {KEY}"}).body
        server_errors = sum(int(float(v)) for v in re.findall(r'rag_requests_total\{(?![^}]*"/ready")[^}]*status="5\d\d"\} (\S+)', errors))
        log = [
            line
            for line in server.log(None).splitlines()
            if ('"status": 5' in line and '"/ready"' not in line) or "Traceback" in line or "ERROR" in line
        ]
    generated = re.search(r"(\d+) generated", out)
    record(
        "schemathesis",
        protect_reads=protect_reads,
        with_key=bool(headers),
        exit_code=code,
        cases=int(generated.group(1)) if generated else None,
        server_errors=server_errors,
    )
    assert code == 0, out[-4000:]
    assert server_errors == 0, log[:20]


def _schemathesis_unauthenticated(server: Server, schema_headers: list[str]) -> tuple[int, str]:
    """Fetch the protected schema with the key, then test every route without it."""
    import json
    import tempfile

    schema = server.call("/openapi.json", headers=dict(h.split(": ", 1) for h in schema_headers)).body
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(schema, f)
    st = Path(sys.executable).with_name("st")
    cmd = [
        str(st),
        "--config-file",
        str(CONFIG),
        "run",
        f.name,
        "--url",
        server.url,
        "--max-examples",
        str(scale(10, 100)),
        "--seed",
        "2",
        "--request-timeout",
        "10",
        "--exclude-checks",
        "positive_data_acceptance",
        "--no-color",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    return proc.returncode, proc.stdout + proc.stderr
