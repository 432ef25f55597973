#!/usr/bin/env python3
"""Setup-wizard tool: complete the Zigbee network identity.

stdin:  {"tool": "generate_network", "input": {"channel", "pan_id", "ext_pan_id", "network_key"}}
stdout: {"ok": true, "result": {"channel": 11, "pan_id": "0x1a62",
         "ext_pan_id": "<16 hex>", "network_key": "<32 hex>"}}
        or {"ok": false, "error": {"code": "invalid_parameter", ...}}.

Values the user typed are kept (normalised); blanks are generated with the
secrets module; a blank channel becomes 11. Standard library only; always
exits 0.
"""
import re
import secrets

from _action import run

DEFAULT_CHANNEL = 11
Z2M_DEFAULT_PAN_ID = 0x1A62


class Invalid(Exception):
    pass


def blank(value):
    return value is None or (isinstance(value, str) and value.strip() == "")


def channel(value):
    if blank(value):
        return DEFAULT_CHANNEL
    try:
        number = int(str(value).strip())
    except ValueError:
        raise Invalid("channel must be a number from 11 to 26")
    if not 11 <= number <= 26:
        raise Invalid("channel must be from 11 to 26")
    return number


def pan_id(value):
    if blank(value):
        while True:
            number = secrets.randbelow(0xFFFE) + 1  # 0x0001-0xFFFE
            if number != Z2M_DEFAULT_PAN_ID:
                return "0x%04x" % number
    text = str(value).strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    if not re.fullmatch(r"[0-9a-f]{1,4}", text):
        raise Invalid("pan_id must be 1-4 hex digits, e.g. 0x1a62")
    number = int(text, 16)
    if not 0x0001 <= number <= 0xFFFE:
        raise Invalid("pan_id must be from 0x0001 to 0xfffe")
    return "0x%04x" % number


def hex_value(name, value, nbytes):
    if blank(value):
        return secrets.token_hex(nbytes)
    text = str(value).strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    if not re.fullmatch(r"[0-9a-f]{%d}" % (2 * nbytes), text):
        raise Invalid("%s must be %d hex characters" % (name, 2 * nbytes))
    return text


def generate(params):
    try:
        return {"ok": True, "result": {
            "channel": channel(params.get("channel")),
            "pan_id": pan_id(params.get("pan_id")),
            "ext_pan_id": hex_value("ext_pan_id", params.get("ext_pan_id"), 8),
            "network_key": hex_value("network_key", params.get("network_key"), 16),
        }}
    except Invalid as exc:
        return {"ok": False, "error": {"code": "invalid_parameter", "message": str(exc), "retriable": False}}


if __name__ == "__main__":
    run(generate)
