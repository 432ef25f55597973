#!/usr/bin/env python3
"""Builds the replay cases in test/testdata/<case>/input.jsonl from the
device catalog (payloads captured from Zigbee2MQTT 2.14.1 by gen.js).

    python3 test/catalog/make_cases.py && go test ./test -update

Each case starts like a real session: bridge/state, a trimmed bridge/info,
the retained bridge/devices of the case's devices, their availability, and
then their recorded state payloads and injected IoT2MQTT commands.
Command echoes are the payloads Zigbee2MQTT published after the same set.
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "testdata")
P = "IoT2mqtt/v1/instances/zb/"
BRIDGE = json.load(open(os.path.join(HERE, "bridge.json")))
COORD = json.load(open(os.path.join(HERE, "coordinator.json")))


def dev(slug):
    return json.load(open(os.path.join(HERE, slug + ".json")))


class Case:
    def __init__(self, name, slugs, note):
        self.name, self.slugs, self.note = name, slugs, note
        self.devs = [dev(s) for s in slugs]
        self.lines, self.t = [], 0.0
        self.z2m("bridge/state", {"state": "online"}, retain=True, qos=1)
        info = BRIDGE["bridge/info"]["payload"]
        self.z2m("bridge/info", {"version": info["version"], "commit": info["commit"],
                                 "coordinator": info.get("coordinator"), "log_level": info.get("log_level"),
                                 "permit_join": False}, retain=True, qos=1)
        self.devices([d["device"] for d in self.devs])
        for d in self.devs:
            self.raw(d["topic"] + "/availability", {"state": "online"}, retain=True, qos=1)

    def step(self, dt=0.5):
        self.t = round(self.t + dt, 3)

    def raw(self, topic, payload, retain=False, qos=0, text=None):
        line = {"t": self.t, "topic": topic, "qos": qos, "retain": retain}
        if text is not None:
            line["payload_text"] = text
        else:
            line["payload"] = payload
        self.lines.append(line)
        self.step()

    def z2m(self, sub, payload, **kw):
        self.raw("zigbee2mqtt/" + sub, payload, **kw)

    def devices(self, entries):
        self.z2m("bridge/devices", [COORD["device"] if "device" in COORD else COORD] + entries, retain=True, qos=1)

    def states(self, i, count=None):
        d = self.devs[i]
        for s in d["states"][:count] if count else d["states"]:
            self.raw(d["topic"], s)

    def state(self, i, payload):
        self.raw(self.devs[i]["topic"], payload)

    def cmd(self, i, values, cid=None, **extra):
        body = {"values": values}
        if cid:
            body["id"] = cid
        body.update(extra)
        ieee = self.devs[i]["device"]["ieee_address"]
        self.raw(P + "devices/" + ieee + "/cmd", body, qos=1)

    def echo(self, i, set_index):
        for p in self.devs[i]["set_examples"][set_index]["published"]:
            self.raw(self.devs[i]["topic"], p)

    def tick(self, dt):
        self.t = round(self.t + dt, 3)
        self.lines.append({"t": self.t, "tick": True})

    def write(self):
        # End every session well past the longest command timeout, so every
        # command has its outcome in the expectations.
        self.tick(70)
        d = os.path.join(OUT, self.name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "input.jsonl"), "w") as f:
            f.write("# " + self.note + "\n")
            for l in self.lines:
                f.write(json.dumps(l, ensure_ascii=False, separators=(",", ":")) + "\n")


cases = []


def case(name, slugs, note):
    c = Case(name, slugs, note)
    cases.append(c)
    return c


# Lights.
c = case("aqara-plug-metering", ["aqara_sp_euc01"], "Aqara SP-EUC01 plug with metering and device temperature")
c.states(0)
c.cmd(0, {"power": True})
c.echo(0, 1)

c = case("multi-gang-switches", ["tuya_ts0012", "tuya_ts0002", "aqara_qbkg12lm"],
         "Endpoint-suffixed properties: state_left/state_right and state_l1/state_l2 become power_left, power_l1, ...")
c.states(0)
c.states(1)
c.states(2)
c.cmd(1, {"power_l2": True}, "g-l2")
c.echo(1, 0)
c.cmd(0, {"power_right": True}, "g-right")
c.echo(0, 0)

# Sensors.
c = case("aqara-climate-sensor", ["aqara_wsdcgq11lm"], "Aqara WSDCGQ11LM: temperature, humidity, pressure, battery, voltage")
c.states(0)

c = case("aqara-and-hue-buttons", ["xiaomi_wxkg11lm", "philips_324131092621"], "Aqara WXKG11LM and Hue dimmer: actions with siblings such as action_duration")
c.states(0)
c.states(1)

# Covers, locks, thermostats.
c = case("tuya-thermostat", ["tuya_ts0601_thermostat"], "Tuya TS0601 thermostat: local_temperature → current_temp, setpoint → target_temp")
c.states(0)
c.cmd(0, {"target_temp": 22.5}, "t-set")
c.echo(0, 0)

# Lifecycle scenarios.
c = case("availability-flapping", ["sonoff_basiczbr3"], "A relay's availability flaps online/offline in both payload forms")
c.states(0, 2)
for i, s in enumerate(["offline", "online", "offline", "online"]):
    if i % 2:
        c.raw(c.devs[0]["topic"] + "/availability", None, retain=True, qos=1, text=s)
    else:
        c.raw(c.devs[0]["topic"] + "/availability", {"state": s}, retain=True, qos=1)
c.raw(c.devs[0]["topic"] + "/availability", {"state": "online"}, retain=True, qos=1)

c = case("command-timeout", ["ikea_led1545g12"], "A command whose echo never arrives: timeout after the command's own timeout")
c.states(0, 4)
c.cmd(0, {"brightness": 10}, "t-1", timeout=3000)
c.tick(2)
c.tick(2)

c = case("bad-input", ["ikea_led1545g12"], "Malformed payloads, unknown devices, stale and retained commands, meta requests")
c.states(0, 2)
c.raw(c.devs[0]["topic"], None, text='{"state":"ON",')
c.raw(P + "devices/0xffffffffffffffff/cmd", {"id": "u-1", "values": {"power": True}}, qos=1)
c.raw(P + "devices/" + c.devs[0]["device"]["ieee_address"] + "/cmd", {"id": "s-1", "timestamp": "2025-12-31T23:00:00", "values": {"power": True}}, qos=1)
c.raw(P + "devices/" + c.devs[0]["device"]["ieee_address"] + "/cmd", {"values": {"power": True}}, qos=1, retain=True)
c.raw(P + "devices/" + c.devs[0]["device"]["ieee_address"] + "/cmd", {"values": {"linkquality": 3}}, qos=1)
c.raw(P + "meta/request/info", None, qos=1, text="")
c.raw(P + "meta/request/bogus", None, qos=1, text="")

for c in cases:
    c.write()
print("wrote %d cases under %s" % (len(cases), os.path.normpath(OUT)))
