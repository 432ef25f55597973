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
c = case("ikea-bulb-dim-and-colour-temperature", ["ikea_led1545g12"],
         "IKEA TRADFRI LED1545G12: state, brightness 0-254 → 0-100, mired → Kelvin; power and brightness commands confirmed by the echo")
c.states(0)
c.cmd(0, {"power": False}, "c-off")
c.echo(0, 0)
c.cmd(0, {"power": True, "brightness": 50}, "c-dim")
c.echo(0, 1)
c.cmd(0, {"color_temp": 4000}, "c-ct")
c.echo(0, 2)
c.cmd(0, {"power": "toggle"}, "c-toggle")
c.echo(0, 3)

c = case("hue-colour-light", ["philips_9290012573a"],
         "Philips Hue 9290012573A: colour {x,y} → rgb, colour temperature; an rgb command becomes a colour xy set")
c.states(0)
c.cmd(0, {"rgb": "#0000FF", "brightness": 100}, "c-blue")
c.echo(0, 1)
c.cmd(0, {"power": False}, "c-off")
c.echo(0, 3)

# Plugs, switches and relays.
c = case("tuya-plug-metering", ["tuya_ts011f_plug_1"],
         "Tuya TS011F plug: state → power, power (W) → power_w, energy, voltage, current")
c.states(0)
c.cmd(0, {"power": False}, "p-off")
c.echo(0, 0)

c = case("aqara-plug-metering", ["aqara_sp_euc01"], "Aqara SP-EUC01 plug with metering and device temperature")
c.states(0)
c.cmd(0, {"power": True})
c.echo(0, 1)

c = case("sonoff-relay", ["sonoff_basiczbr3"], "Sonoff BASICZBR3 relay: on/off and a flat command form")
c.states(0)
c.raw(P + "devices/" + c.devs[0]["device"]["ieee_address"] + "/cmd", {"id": "flat-1", "power": True}, qos=1)
c.echo(0, 0)

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

c = case("sonoff-sensors", ["sonoff_snzb_02", "sonoff_snzb_03"], "Sonoff SNZB-02 climate and SNZB-03 occupancy")
c.states(0)
c.states(1)

c = case("contact-and-leak", ["xiaomi_mccgq11lm", "xiaomi_sjcgq11lm"], "Aqara door contact and water leak sensors")
c.states(0)
c.states(1)

c = case("hue-motion-sensor", ["philips_9290012607"], "Philips Hue motion sensor: occupancy, illuminance, temperature; a get for readable properties")
c.states(0)
c.raw(P + "devices/" + c.devs[0]["device"]["ieee_address"] + "/get", {"properties": ["occupancy_timeout", "motion_sensitivity"]}, qos=1)

# Buttons and remotes: actions become events.
c = case("ikea-remotes-actions", ["ikea_e1743", "ikea_e1524_e1810"], "IKEA E1743 and E1524/E1810: every action is an event, never state")
c.states(0)
c.states(1)

c = case("aqara-and-hue-buttons", ["xiaomi_wxkg11lm", "philips_324131092621"], "Aqara WXKG11LM and Hue dimmer: actions with siblings such as action_duration")
c.states(0)
c.states(1)

# Covers, locks, thermostats.
c = case("ikea-blind-cover", ["ikea_e1757"], "IKEA E1757 blind: position and state; position command")
c.states(0)
c.cmd(0, {"position": 40}, "b-pos")
c.echo(0, 0)

c = case("yale-lock", ["yale_yrd226ha2619"], "Yale lock: state LOCK/UNLOCK → locked; the lock command's confirmation comes with the lock's report")
c.states(0)
c.cmd(0, {"lock": False}, "l-unlock")
# Locks publish no optimistic echo; the confirmation is the lock's own report.
c.state(0, dict(c.devs[0]["states"][-1], state="UNLOCK", lock_state="unlocked"))

c = case("tuya-thermostat", ["tuya_ts0601_thermostat"], "Tuya TS0601 thermostat: local_temperature → current_temp, setpoint → target_temp")
c.states(0)
c.cmd(0, {"target_temp": 22.5}, "t-set")
c.echo(0, 0)

# Lifecycle scenarios.
c = case("join-interview-rename-remove", ["ikea_led1545g12"],
         "A device joins, is interviewed, renamed and removed: events, devices_list, and cleanup of its retained topics")
ev = BRIDGE["bridge/event"]
snzb = dev("sonoff_snzb_02")["device"]
new_ieee = ev["device_joined"]["data"]["ieee_address"]
joined = dict(snzb, ieee_address=new_ieee, friendly_name=new_ieee)
c.z2m("bridge/event", ev["device_joined"])
c.z2m("bridge/event", ev["device_interview_started"])
c.z2m("bridge/event", ev["device_interview_successful"])
c.devices([c.devs[0]["device"], joined])
c.raw("zigbee2mqtt/" + new_ieee, {"battery": 100, "humidity": 51.2, "linkquality": 96, "temperature": 20.9, "voltage": 3100})
c.raw(P + "devices/bridge/cmd", {"id": "rn-1", "values": {"rename": {"device_id": new_ieee, "friendly_name": "kitchen/fridge sensor"}}}, qos=1)
c.z2m("bridge/response/device/rename", {"data": {"from": new_ieee, "homeassistant_rename": False, "to": "kitchen/fridge sensor"}, "status": "ok", "transaction": "rn-1"})
c.devices([c.devs[0]["device"], dict(joined, friendly_name="kitchen/fridge sensor")])
c.raw("zigbee2mqtt/kitchen/fridge sensor", {"battery": 100, "humidity": 50.8, "linkquality": 99, "temperature": 21.0, "voltage": 3100})
c.raw(P + "devices/bridge/cmd", {"id": "rm-1", "values": {"remove": new_ieee}}, qos=1)
c.z2m("bridge/response/device/remove", {"data": {"block": False, "clear_cache": False, "force": False, "id": new_ieee, "keep_config": False}, "status": "ok", "transaction": "rm-1"})
c.devices([c.devs[0]["device"]])

c = case("group-command", ["ikea_led1545g12", "philips_9290012573a"],
         "A Zigbee2MQTT group (id 1) command, an instance-JSON fan-out group, and an unknown group")
c.z2m("bridge/groups", BRIDGE["bridge/groups"]["payload"], retain=True, qos=1)
c.states(0, 3)
c.states(1, 3)
c.raw(P + "groups/1/cmd", {"values": {"power": True, "brightness": 60}}, qos=1)
c.raw(P + "groups/evening/cmd", {"values": {"color_temp": 2700}}, qos=1)
c.raw(P + "groups/nope/cmd", {"values": {"power": True}}, qos=1)

c = case("bridge-restart", ["ikea_led1545g12", "sonoff_snzb_02"],
         "Zigbee2MQTT restarts: bridge offline marks every device offline keeping last values; online restores them")
c.states(0, 4)
c.states(1)
c.z2m("bridge/state", {"state": "offline"}, retain=True, qos=1)
c.tick(5)
c.z2m("bridge/state", {"state": "online"}, retain=True, qos=1)
c.devices([d["device"] for d in c.devs])
c.raw(c.devs[0]["topic"] + "/availability", {"state": "online"}, retain=True, qos=1)
c.state(0, c.devs[0]["states"][3])

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

c = case("failed-command-logging", ["sonoff_basiczbr3"], "Zigbee2MQTT reports the failed set in bridge/logging: error response and COMMAND_ERROR")
c.states(0, 2)
c.cmd(0, {"power": True}, "f-1")
for p in BRIDGE["failed_set_requests"]["set"]["published"]:
    c.raw(p["topic"], p["payload"], retain=p.get("retain", False))

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
