"""Every pod gets its own loopback address, never 127.0.0.1, kept across an agent restart."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest
from localcluster.addresses import NODE_FIRST_OCTET, PodAddresses, address, cluster_block


def test_addresses_are_loopback_unique_and_skip_network_and_broadcast() -> None:
    seen = [address(i) for i in range(3 * 254 + 5)]
    assert len(set(seen)) == len(seen)
    assert "127.0.0.1" not in seen
    for text in seen:
        ip = ipaddress.ip_address(text)
        assert ip.is_loopback
        assert text.split(".")[3] not in ("0", "255")
    assert seen[0] == "127.42.0.1" and seen[254] == "127.42.1.1"


def test_node_range_is_apart_from_pods() -> None:
    assert address(0, NODE_FIRST_OCTET) == "127.41.0.1"
    assert address(256 * 254) == "127.43.0.1"


def test_negative_index_is_refused() -> None:
    with pytest.raises(ValueError, match="index must not be negative"):
        address(-1)


def test_claims_are_exclusive_and_survive_a_restart(tmp_path: Path) -> None:
    first = PodAddresses(tmp_path)
    a, b = first.claim("uid-a", None), first.claim("uid-b", None)
    assert a != b
    restarted = PodAddresses(tmp_path)
    assert restarted.claim("uid-a", a) == a  # its own address back
    c = restarted.claim("uid-c", a)  # someone else's address is not handed over
    assert c not in (a, b)


def test_release_frees_the_address_for_reuse(tmp_path: Path) -> None:
    pool = PodAddresses(tmp_path)
    a = pool.claim("uid-a", None)
    pool.release("uid-other", a)  # not the owner: nothing happens
    assert pool.owner(a) == "uid-a"
    pool.release_uid("uid-a")
    assert pool.owner(a) is None
    assert PodAddresses(tmp_path).claim("uid-d", None) == a


def _running(state: Path) -> Path:
    """A state folder whose API server pid file names a live process (this one)."""
    state.mkdir(parents=True, exist_ok=True)
    (state / "kube-apiserver.pid").write_text(str(os.getpid()))
    return state


def test_clusters_on_one_machine_get_blocks_of_their_own(tmp_path: Path) -> None:
    markers = tmp_path / "blocks"
    first, second = _running(tmp_path / "a"), _running(tmp_path / "b")
    block_a, block_b = cluster_block(first, markers), cluster_block(second, markers)
    assert block_a != block_b
    assert cluster_block(first, markers) == block_a  # kept across an agent restart
    pods_a = PodAddresses(tmp_path / "claims-a", block_a).claim("uid-1")
    pods_b = PodAddresses(tmp_path / "claims-b", block_b).claim("uid-1")
    assert pods_a != pods_b
    assert pods_a.split(".")[1] == str(block_a) and pods_b.split(".")[1] == str(block_b)


def test_a_block_of_a_cluster_that_is_gone_is_taken_over(tmp_path: Path) -> None:
    markers = tmp_path / "blocks"
    stopped = tmp_path / "stopped"
    stopped.mkdir()
    block = cluster_block(stopped, markers)  # its API server is not running
    assert cluster_block(_running(tmp_path / "new"), markers) == block
