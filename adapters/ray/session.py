"""Joining or starting a Ray cluster for one job, with clear errors and no unbounded waits.

Addresses, as ``ray.init`` and ``retrieval index --ray`` take them:

* ``None`` / ``"local"`` - the Ray session this process already runs, else a new local
  cluster for this job (shut down when the job ends).
* ``"auto"`` - the cluster started on this machine with ``ray start --head``.
* ``"HOST:PORT"`` (the head's GCS port, 6379 by default) or ``"ray://HOST:10001"`` (Ray
  Client) - a remote cluster. Its port is probed with a plain TCP connection first, so an
  unreachable address fails within ``connect_timeout`` seconds instead of Ray's own retries.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from retrieval.errors import ConfigError, MissingDependencyError

CONNECT_TIMEOUT_S = 10.0
"""Seconds to wait for a remote Ray head's port before giving up."""
LOCAL_ADDRESSES = (None, "local")


def import_ray() -> Any:
    """``ray`` with its Data API, or ``MissingDependencyError`` naming the ``ray`` extra."""
    try:
        import ray
        import ray.data  # registers the Data API
    except ImportError as err:
        package = "ray"
        raise MissingDependencyError(package, "ray") from err
    return ray


@contextmanager
def ray_session(
    ray: Any,
    address: str | None,
    init_kwargs: Mapping[str, Any] | None = None,
    *,
    connect_timeout: float = CONNECT_TIMEOUT_S,
) -> Iterator[None]:
    """Use the running Ray session, or start / join one for the ``with`` block only."""
    remote = address not in LOCAL_ADDRESSES and address != "auto"
    if remote:
        check_reachable(str(address), connect_timeout)
    if ray.is_initialized():
        if remote:
            _check_same_cluster(ray, str(address))
        yield
        return
    target = None if address == "local" else address
    try:
        ray.init(address=target, **dict(init_kwargs or {}))
    except (ConnectionError, RuntimeError, TimeoutError) as err:
        raise ConfigError(_join_failed(address, err)) from err
    try:
        yield
    finally:
        ray.shutdown()


def check_reachable(address: str, timeout: float) -> None:
    """Open (and close) a TCP connection to the head at ``address`` within ``timeout`` s."""
    host, port = split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as err:
        reason = "timed out" if isinstance(err, TimeoutError) else (err.strerror or str(err))
        msg = (
            f"Cannot reach the Ray cluster at {address!r} ({reason} after at most "
            f"{timeout:g} s). Check the head's address and that its port is open, start a "
            "cluster with `ray start --head`, or use --ray local for a cluster on this machine."
        )
        raise ConfigError(msg) from None


def split_address(address: str) -> tuple[str, int]:
    """``"ray://host:10001"`` / ``"host:6379"`` -> ``(host, port)``; a bad form is an error."""
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    host = host.strip("[]")  # IPv6 literals: [::1]:6379
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        msg = (
            f"Ray address {address!r} is not HOST:PORT, ray://HOST:PORT, auto or local "
            "(e.g. 10.0.0.5:6379 for a head started with `ray start --head`)."
        )
        raise ConfigError(msg)
    return host, int(port)


def _check_same_cluster(ray: Any, address: str) -> None:
    """A process already connected to Ray cannot switch clusters mid-run."""
    current = str(ray.get_runtime_context().gcs_address)
    if address.startswith("ray://") or current == address:
        return
    msg = (
        f"This process is already connected to the Ray cluster at {current!r}, not "
        f"{address!r}; use that address (or --ray local) or run in a fresh process."
    )
    raise ConfigError(msg)


def _join_failed(address: str | None, err: BaseException) -> str:
    if address == "auto":
        return (
            "No Ray cluster is running on this machine (--ray auto looks for one started "
            f"with `ray start --head`): {str(err).rstrip('.')}. Start one, pass its HOST:PORT, "
            "or use --ray local."
        )
    if address in LOCAL_ADDRESSES:
        return f"Could not start a local Ray cluster: {err}"
    return (
        f"Could not join the Ray cluster at {address!r}: {str(err).rstrip('.')}. Use the "
        "address `ray start --head` printed; a cluster with token authentication (Ray's "
        "default for `ray start`) also needs RAY_AUTH_MODE=token in this shell."
    )
