"""Shared entry point of the setup-wizard tools.

The platform's tool runner starts `python actions/<tool>.py` with
{"tool": ..., "input": {...}} on stdin and reads exactly one JSON document
from stdout. The script's own directory is on sys.path, so tools import this
module directly. Standard library only.
"""
import json
import sys


def run(handler):
    """Read the request (tolerating a bare input object), call handler with
    the input dict and print its result as the one JSON document."""
    try:
        request = json.loads(sys.stdin.read() or "{}")
    except ValueError:
        request = {}
    params = request.get("input", request) if isinstance(request, dict) else {}
    if not isinstance(params, dict):
        params = {}
    print(json.dumps(handler(params)))
