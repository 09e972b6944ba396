#!/usr/bin/env python3
"""Runs moto's server on loopback for the dev stack and tests.

Prints `ready http://127.0.0.1:PORT` once it accepts connections, and stops by itself when the
process that started it goes away (so a killed test run never leaves a server behind).

Usage: run_moto.py [--port N] (0 picks a free port)
"""
import argparse
import os
import socket
import sys
import time

from moto.server import ThreadedMotoServer

from moto_patches import apply as apply_moto_patches


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    apply_moto_patches()
    port = args.port or free_port()
    parent = os.getppid()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
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
