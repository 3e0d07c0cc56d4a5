"""The CoAP lamp as libcoap's `coap-client-notls` sees it."""

from __future__ import annotations

import json
import subprocess
import time

from conformance_peers import Bench, coap


def test_well_known_core_lists_the_ipso_resources_with_types(bench: Bench) -> None:
    result = coap("-m", "get", f"{bench.coap.base}/.well-known/core")
    assert result.code == 0 and not result.err, result.text
    links = result.out.strip().split(",")
    paths = {link.split(">")[0].lstrip("<"): link for link in links}
    obj = bench.coap.uri.removeprefix(bench.coap.base)
    for rid in ("5850", "5851"):
        link = paths[f"{obj}/{rid}"]
        assert ";rt=" in link and ";obs" in link, link
    assert ";rt=" in paths[obj]


def test_resource_paths_get_and_put(bench: Bench) -> None:
    uri = bench.coap.uri
    assert coap("-m", "put", "-e", "1", f"{uri}/5850").code == 0
    put = coap("-m", "put", "-e", "40", f"{uri}/5851")
    assert put.code == 0 and not put.err, put.text
    assert coap("-m", "get", f"{uri}/5851").out.strip() == "40"
    assert coap("-m", "get", f"{uri}/5850").out.strip() == "1"
    body = json.loads(coap("-m", "get", "-A", "50", uri).out)
    assert body["5851"] == 40 and body["5850"] in (True, 1)


def test_unsupported_accept_is_4_06_and_content_format_is_4_15(bench: Bench) -> None:
    uri = bench.coap.uri
    assert coap("-m", "get", "-A", "60", f"{uri}/5851").err.startswith("4.06")  # CBOR
    assert coap("-m", "get", "-A", "60", uri).err.startswith("4.06")
    assert coap("-m", "put", "-t", "60", "-e", "1", f"{uri}/5850").err.startswith("4.15")
    assert coap("-m", "put", "-t", "41", "-e", "<x/>", uri).err.startswith("4.15")  # XML


def test_wrong_types_and_out_of_range_are_4_00_and_change_nothing(bench: Bench) -> None:
    uri = bench.coap.uri
    coap("-m", "put", "-e", "30", f"{uri}/5851")
    before = json.loads(coap("-m", "get", uri).out)
    for args in (
        ["-e", "2", f"{uri}/5850"],
        ["-e", "on", f"{uri}/5850"],
        ["-e", "999", f"{uri}/5851"],  # no clamping to the maximum
        ["-e", "-1", f"{uri}/5851"],
        ["-t", "50", "-e", '{"5711": "warm"}', uri],
        ["-t", "50", "-e", '{"5851": 9999}', uri],
        ["-t", "50", "-e", '{"5850": "yes"}', uri],
        ["-t", "50", "-e", '{"5850": ', uri],  # malformed
        ["-t", "50", "-e", "[1, 2]", uri],
    ):
        result = coap("-m", "put", *args)
        assert result.err.startswith("4.00"), (args, result.text)
    after = json.loads(coap("-m", "get", uri).out)
    for rid in ("5850", "5851", "5711"):
        assert after[rid] == before[rid], rid


def test_observe_notifies_each_change(bench: Bench) -> None:
    uri = bench.coap.uri
    coap("-m", "put", "-e", "10", f"{uri}/5851")
    watcher = subprocess.Popen(
        ["coap-client-notls", "-s", "4", "-m", "get", f"{uri}/5851"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(1.0)
        for level in ("55", "66"):
            assert coap("-m", "put", "-e", level, f"{uri}/5851").code == 0
            time.sleep(0.3)
        out, _ = watcher.communicate(timeout=10)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.communicate()
    # coap-client prints each notification's body, unseparated: "10", "55", "66" (RFC 7641
    # lets a server skip an intermediate state, never the latest one)
    seen = out.decode().replace("\n", "")
    assert seen.startswith("10") and seen.endswith("66") and len(seen) > 2, seen
