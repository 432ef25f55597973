#!/usr/bin/env python3
"""Setup-wizard tool: check the coordinator address.

stdin:  {"tool": "validate_adapter", "input": {"serial_port": "...", "adapter": "..."}}
stdout: one JSON document, {"ok": true, "result": {...}} or
        {"ok": false, "error": {"code", "message", "retriable"}}.

tcp://host:port is probed with a TCP connect; /dev/... paths are only
syntax-checked (the tool runner has no access to host devices).
Standard library only; logs go to stderr; always exits 0.
"""
import re
import socket
import sys

from _action import run

ADAPTERS = ("zstack", "ember", "deconz", "zigate", "zboss")
TIMEOUT_S = 4


def fail(code, message, retriable=False):
    return {"ok": False, "error": {"code": code, "message": message, "retriable": retriable}}


def check(params):
    port = str(params.get("serial_port") or "").strip()
    adapter = str(params.get("adapter") or "").strip().lower()
    if not port:
        return fail("missing_parameter", "serial_port is empty: enter the coordinator address")
    if adapter and adapter not in ADAPTERS:
        return fail("invalid_parameter", "adapter must be one of " + ", ".join(ADAPTERS))
    if port.startswith("/dev/"):
        if not re.fullmatch(r"/dev/\S+", port):
            return fail("invalid_address", "a serial path must not contain spaces")
        return {"ok": True, "result": {"kind": "serial", "path": port, "checked": "syntax-only"}}
    m = re.fullmatch(r"tcp://(\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+):([0-9]{1,5})", port)
    if not m:
        return fail("invalid_address", "use tcp://host:port or a /dev/... path")
    host, tcp_port = m.group(1).strip("[]"), int(m.group(2))
    if not 1 <= tcp_port <= 65535:
        return fail("invalid_address", "the port must be 1-65535")
    try:
        with socket.create_connection((host, tcp_port), timeout=TIMEOUT_S):
            pass
    except OSError as exc:
        print("connect %s:%d failed: %s" % (host, tcp_port, exc), file=sys.stderr)
        return fail("unreachable", "cannot connect to %s:%d (%s)" % (host, tcp_port, exc.strerror or exc), True)
    return {"ok": True, "result": {"kind": "tcp", "host": host, "port": tcp_port, "reachable": True}}


if __name__ == "__main__":
    run(check)
