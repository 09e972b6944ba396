#!/usr/bin/env python3
"""Runs moto's server on loopback for the dev stack and tests.

moto's own server (werkzeug's development server) closes the connection after every response,
so each AWS call paid a TCP connect and a new thread. We serve moto's WSGI application with
waitress instead: keep-alive connections and a fixed pool of worker threads. The pool is large
because the dev stack's queue pollers hold a thread for up to 1 s each (long polls), and
tests run several stacks at once.

Prints `ready http://127.0.0.1:PORT` once it accepts connections, and stops by itself when the
process that started it goes away (so a killed test run never leaves a server behind).

Usage: run_moto.py [--port N] (0 picks a free port)
"""
import argparse
import os
import socket
import sys
import time

import threading

import waitress
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from moto_patches import apply as apply_moto_patches


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(server) -> None:
    """Runs the server's loop; if the loop dies, so does moto, loudly, instead of leaving its
    clients waiting on a port nobody accepts on."""
    try:
        server.run()
    except BaseException as e:  # noqa: BLE001 - any death of the loop ends the process
        print(f"moto's server loop died: {e!r}", file=sys.stderr, flush=True)
        os._exit(70)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    apply_moto_patches()
    port = args.port or free_port()
    parent = os.getppid()
    app = DomainDispatcherApplication(create_backend_app)
    server = waitress.create_server(
        app,
        host="127.0.0.1",
        port=port,
        threads=128,
        # The SDK's connection pools open one connection per concurrent call and keep it: at the
        # limit waitress stops accepting, and the calls beyond it wait in the listen backlog for
        # ever (the load benchmark at 80 msg/s hung that way with ~1,900 connections open).
        # AWS has no such limit; the process's descriptor limit (ulimit -n) is the real one.
        connection_limit=15000,
        backlog=4096,
        # select() cannot watch a descriptor past 1,024 (FD_SETSIZE): with more connections open
        # waitress's loop died with "filedescriptor out of range in select()" and every call
        # waited in the backlog for ever (the 80 msg/s benchmark hung with 1,025 descriptors
        # open, all 128 workers idle). poll() has no such limit.
        asyncore_use_poll=True,
        channel_timeout=300,
        # Large request bodies (media uploads) are spooled to disk above this size.
        inbuf_overflow=16 * 1024 * 1024,
    )
    threading.Thread(target=serve, args=(server,), daemon=True).start()
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    print(f"ready http://127.0.0.1:{port}", flush=True)
    try:
        while os.getppid() == parent:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    # Exit at once: a graceful stop waits for open keep-alive connections that will never close.
    os._exit(0)


if __name__ == "__main__":
    main()
