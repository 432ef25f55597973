#!/usr/bin/env node
'use strict';
/*
 * Generates the Zigbee2MQTT 2.14.1 device catalog in this directory.
 *
 *   mkdir -p /tmp/z2mcat && cd /tmp/z2mcat && npm install zigbee2mqtt@2.14.1 aedes@0.51
 *   node test/catalog/gen.js [/tmp/z2mcat]          # or Z2M_DIR=/tmp/z2mcat node test/catalog/gen.js
 *
 * How it works: the real Zigbee2MQTT Controller (node_modules/zigbee2mqtt/dist/controller.js, with all its
 * extensions, zigbee-herdsman and zigbee-herdsman-converters) is started against
 *   - a local in-process MQTT broker (aedes, 127.0.0.1, random port) and
 *   - a fake zigbee-herdsman adapter (replaces Adapter.create) that simulates the devices of devices.spec.js:
 *     it answers the ZDO interview (node/active-endpoint/simple descriptors), ZCL reads/writes/configure-reporting,
 *     cluster commands, and injects the devices' own reports/commands.
 * Every MQTT payload written to the catalog is therefore produced by Zigbee2MQTT's own code
 * (bridge.js for bridge/*, controller.js publishEntityState + converters for device state, etc.) and
 * captured from Zigbee2MQTT's event bus (`onMQTTMessagePublished`), which also gives the retain flag.
 * Outbound HTTP (OTA index download) is disabled: a local override OTA index is used instead.
 */
const fs = require('node:fs');
const path = require('node:path');
const net = require('node:net');
const os = require('node:os');

const Z2M_DIR = path.resolve(process.argv[2] || process.env.Z2M_DIR || '/tmp/z2mcat');
const OUT_DIR = path.resolve(process.env.OUT_DIR || __dirname);
const Z2M_PKG = path.join(Z2M_DIR, 'node_modules', 'zigbee2mqtt');
const VERBOSE = !!process.env.VERBOSE;
if (!fs.existsSync(path.join(Z2M_PKG, 'package.json'))) {
    console.error(`zigbee2mqtt not found in ${Z2M_DIR}; run: mkdir -p ${Z2M_DIR} && cd ${Z2M_DIR} && npm install zigbee2mqtt@2.14.1 aedes@0.51`);
    process.exit(2);
}
const rq = (m) => require(require.resolve(m, {paths: [Z2M_PKG, Z2M_DIR]}));

const spec = require('./devices.spec.js');
const BASE = 'zigbee2mqtt';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------------
// No network access: zigbee-herdsman's OTA code would fetch the zigbee-OTA index from GitHub.
globalThis.fetch = async (url) => {
    throw new TypeError(`fetch failed (network disabled by catalog generator: ${url})`);
};

// ---------------------------------------------------------------------------------------------------------------
// Data directory with configuration.yaml (Zigbee2MQTT reads ZIGBEE2MQTT_DATA when its modules are loaded).
const DATA_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'z2mcat-data-'));
process.env.ZIGBEE2MQTT_DATA = DATA_DIR;

const OTA_INDEX = [
    // Local override index (zigbee-herdsman controller/helpers/ota.js getOtaIndex): the IKEA bulb gets a newer image,
    // the Hue bulb an identical one. URLs/sha512 are illustrative (never downloaded).
    {
        fileVersion: 587814449,
        fileSize: 208766,
        manufacturerCode: 4476,
        imageType: 8705,
        sha512: 'f'.repeat(128),
        otaHeaderString: 'GBL tradfri_bulb_ws_opal_980lm',
        url: 'https://github.com/Koenkk/zigbee-OTA/raw/master/images/IKEA/tradfri_bulb_ws_opal_980lm-2.3.095.ota',
    },
    {
        fileVersion: 16785664,
        fileSize: 287658,
        manufacturerCode: 4107,
        imageType: 272,
        sha512: 'e'.repeat(128),
        otaHeaderString: '',
        url: 'https://github.com/Koenkk/zigbee-OTA/raw/master/images/Hue/100B-0110-01002400-ConfLight-Lamps_0012.zigbee',
    },
];
fs.writeFileSync(path.join(DATA_DIR, 'ota_index.json'), JSON.stringify(OTA_INDEX, null, 2));

function yamlQuote(s) {
    return JSON.stringify(s);
}

function writeConfig(port) {
    const lines = [
        'version: 5',
        'homeassistant:',
        '  enabled: false',
        'frontend:',
        '  enabled: false',
        'availability:',
        '  enabled: true',
        'mqtt:',
        `  base_topic: ${BASE}`,
        `  server: mqtt://127.0.0.1:${port}`,
        'serial:',
        '  port: /dev/ttyUSB0',
        '  adapter: ember',
        'ota:',
        '  zigbee_ota_override_index_location: ota_index.json',
        'advanced:',
        '  log_level: info',
        '  log_output:',
        '    - file',
        '  channel: 15',
        '  pan_id: 6754',
        '  ext_pan_id: [221, 221, 221, 221, 221, 221, 221, 221]',
        '  network_key: [1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8, 10, 12, 13]',
        'devices:',
    ];
    for (const d of spec.devices) {
        lines.push(`  '${d.ieee}':`);
        lines.push(`    friendly_name: ${yamlQuote(d.friendly_name)}`);
    }
    lines.push(`  '${spec.extras.leaver.ieee}':`);
    lines.push(`    friendly_name: ${yamlQuote('attic/old switch')}`);
    lines.push('groups:');
    lines.push("  '1':");
    lines.push(`    friendly_name: ${yamlQuote('living room/lights')}`);
    fs.writeFileSync(path.join(DATA_DIR, 'configuration.yaml'), `${lines.join('\n')}\n`);
}

// ---------------------------------------------------------------------------------------------------------------
async function main() {
    // MQTT broker (loopback only).
    const Aedes = rq('aedes');
    const broker = Aedes();
    const server = net.createServer(broker.handle);
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const port = server.address().port;
    writeConfig(port);

    const ZH = rq('zigbee-herdsman');
    const {Zcl, Zdo} = ZH;
    const {Adapter} = rq('zigbee-herdsman/dist/adapter/adapter');
    const ZhDevice = rq('zigbee-herdsman/dist/controller/model/device').default;
    const {stringify} = rq('zigbee2mqtt/dist/util/stringify');

    // ----------------------------------------------------------------------------------------------------------
    // Simulated radio world.
    const world = new Map(); // ieee -> sim device
    const byNwk = new Map();
    let tsn = 0;
    const nextTsn = () => (tsn = (tsn + 1) & 0xff);
    let adapterInstance;
    const outLog = [];

    function simDevice(s) {
        const attrs = {};
        for (const ep of s.endpoints) {
            attrs[ep.id] = JSON.parse(JSON.stringify(s.attrs?.[ep.id] ?? {}));
            if (ep.in.includes(0) || ep === s.endpoints[0]) {
                attrs[ep.id].genBasic = {...(s.basic ?? {}), ...(attrs[ep.id].genBasic ?? {})};
            }
        }
        return {...s, attrs, unreachable: false};
    }

    function addToWorld(s) {
        const d = simDevice(s);
        world.set(d.ieee, d);
        byNwk.set(d.nwk, d);
        return d;
    }

    function customClustersOf(ieee) {
        return ZhDevice.byIeeeAddr(ieee, true)?.customClusters ?? {};
    }

    function defaultForType(type) {
        const T = Zcl.DataType;
        if ([T.CHAR_STR, T.LONG_CHAR_STR].includes(type)) return '';
        if ([T.OCTET_STR, T.LONG_OCTET_STR].includes(type)) return Buffer.alloc(0);
        if (type === T.IEEE_ADDR) return '0x0000000000000000';
        if ([T.ARRAY, T.STRUCT, T.SET, T.BAG].includes(type)) return undefined;
        if ([T.UINT48, T.UINT56, T.UINT64, T.INT48, T.INT56, T.INT64].includes(type)) return 0;
        return 0;
    }

    function emitZcl(dev, epId, buf, clusterID, opts = {}) {
        const header = Zcl.Header.fromBuffer(buf);
        const payload = {
            clusterID,
            address: dev.nwk,
            header,
            data: buf,
            endpoint: epId,
            linkquality: dev.lqi,
            groupID: opts.groupID ?? 0,
            wasBroadcast: false,
            destinationEndpoint: opts.dstEp ?? 1,
        };
        adapterInstance.emit('zclPayload', payload);
        return payload;
    }

    function buildFrame(dev, {frameType, direction, disableDefaultResponse = true, manufCode, tsn: t, command, cluster, payload}) {
        return Zcl.Frame.create(frameType, direction, disableDefaultResponse, manufCode, t ?? nextTsn(), command, cluster, payload, customClustersOf(dev.ieee));
    }

    // Device -> coordinator helpers (used by the scripts).
    function deviceReport(dev, epId, cluster, values, opts = {}) {
        const clusterDef = Zcl.Utils.getCluster(cluster, opts.manufCode, customClustersOf(dev.ieee));
        const payload = [];
        for (const [k, v] of Object.entries(values)) {
            const attr = Zcl.Utils.getClusterAttribute(clusterDef, k, opts.manufCode);
            if (attr) {
                payload.push({attrId: attr.ID, dataType: attr.type, attrData: v});
                dev.attrs[epId][clusterDef.name] ??= {};
                dev.attrs[epId][clusterDef.name][attr.name] = v;
            } else {
                payload.push({attrId: Number(k), dataType: v.type, attrData: v.value});
            }
        }
        const frame = buildFrame(dev, {frameType: Zcl.FrameType.GLOBAL, direction: Zcl.Direction.SERVER_TO_CLIENT, manufCode: opts.manufCode, command: 'report', cluster: clusterDef.name, payload});
        return emitZcl(dev, epId, frame.toBuffer(), clusterDef.ID, opts);
    }

    function deviceCommand(dev, epId, cluster, command, payload, opts = {}) {
        const direction = opts.direction ?? Zcl.Direction.CLIENT_TO_SERVER;
        const frame = buildFrame(dev, {frameType: Zcl.FrameType.SPECIFIC, direction, manufCode: opts.manufCode, command, cluster, payload});
        return emitZcl(dev, epId, frame.toBuffer(), frame.cluster.ID, opts);
    }

    function tuyaDp({dp, type, value}) {
        let data;
        if (type === 2) {
            data = Buffer.alloc(4);
            data.writeInt32BE(value);
        } else if (type === 1 || type === 4) {
            data = Buffer.from([value]);
        } else if (type === 3) {
            data = Buffer.from(value, 'utf8');
        } else {
            data = Buffer.from(value);
        }
        return {dp, datatype: type, data};
    }
    let tuyaSeq = 0;
    function tuyaReport(dev, dps, command = 'dataReport') {
        return deviceCommand(dev, 1, 'manuSpecificTuya', command, {seq: ++tuyaSeq, dpValues: dps.map(tuyaDp)}, {direction: Zcl.Direction.SERVER_TO_CLIENT});
    }

    // Side effects of commands the coordinator sends to a device (what a real device would do).
    function applyCommand(dev, epId, frame) {
        const c = frame.cluster.name;
        const cmd = frame.command.name;
        const p = frame.payload;
        const a = (dev.attrs[epId] ??= {});
        const set = (cluster, values) => {
            a[cluster] = {...(a[cluster] ?? {}), ...values};
            return {cluster, values};
        };
        const changes = [];
        if (c === 'genOnOff') {
            const cur = a.genOnOff?.onOff ?? 0;
            if (cmd === 'on' || cmd === 'onWithTimedOff' || cmd === 'onWithRecallGlobalScene') changes.push(set('genOnOff', {onOff: 1}));
            if (cmd === 'off' || cmd === 'offWithEffect') changes.push(set('genOnOff', {onOff: 0}));
            if (cmd === 'toggle') changes.push(set('genOnOff', {onOff: cur ? 0 : 1}));
        } else if (c === 'genLevelCtrl' && /^moveToLevel/.test(cmd)) {
            changes.push(set('genLevelCtrl', {currentLevel: p.level}));
            if (cmd === 'moveToLevelWithOnOff') changes.push(set('genOnOff', {onOff: p.level > 1 ? 1 : 0}));
        } else if (c === 'lightingColorCtrl') {
            if (cmd === 'moveToColorTemp') changes.push(set('lightingColorCtrl', {colorTemperature: p.colortemp, colorMode: 2}));
            if (cmd === 'moveToColor') changes.push(set('lightingColorCtrl', {currentX: p.colorx, currentY: p.colory, colorMode: 1}));
            if (cmd === 'moveToHueAndSaturation') changes.push(set('lightingColorCtrl', {currentHue: p.hue, currentSaturation: p.saturation, colorMode: 0}));
            if (cmd === 'enhancedMoveToHueAndSaturation') changes.push(set('lightingColorCtrl', {enhancedCurrentHue: p.enhancehue, currentSaturation: p.saturation, colorMode: 0}));
        } else if (c === 'closuresWindowCovering') {
            if (cmd === 'goToLiftPercentage') a.closuresWindowCovering = {...a.closuresWindowCovering, targetLift: p.percentageliftvalue};
            if (cmd === 'downClose') a.closuresWindowCovering = {...a.closuresWindowCovering, targetLift: 100};
            if (cmd === 'upOpen') a.closuresWindowCovering = {...a.closuresWindowCovering, targetLift: 0};
        } else if (c === 'closuresDoorLock') {
            // lock state reported by script
        } else if (c === 'ssIasZone' && cmd === 'enrollRsp') {
            set('ssIasZone', {zoneState: 1});
        }
        return changes;
    }

    function responseFor(dev, epId, frame) {
        const F = Zcl.FrameType;
        const rspDir = frame.header.frameControl.direction === Zcl.Direction.CLIENT_TO_SERVER ? Zcl.Direction.SERVER_TO_CLIENT : Zcl.Direction.CLIENT_TO_SERVER;
        const base = {direction: rspDir, manufCode: frame.header.manufacturerCode, tsn: frame.header.transactionSequenceNumber, cluster: frame.cluster.ID};
        const cmd = frame.command.name;
        const a = (dev.attrs[epId] ??= {});
        if (frame.header.isGlobal) {
            if (cmd === 'read') {
                const payload = [];
                for (const rec of frame.payload) {
                    const attr = Object.values(frame.cluster.attributes).find((x) => x.ID === rec.attrId && (x.manufacturerCode === undefined || x.manufacturerCode === frame.header.manufacturerCode));
                    if (!attr) {
                        payload.push({attrId: rec.attrId, status: 0, dataType: Zcl.DataType.UINT8, attrData: 0});
                        continue;
                    }
                    let value = a[frame.cluster.name]?.[attr.name];
                    if (value === null) {
                        // attribute explicitly not implemented by the simulated device
                        payload.push({attrId: rec.attrId, status: Zcl.Status.UNSUPPORTED_ATTRIBUTE});
                        continue;
                    }
                    if (value === undefined) value = attr.default !== undefined ? attr.default : defaultForType(attr.type);
                    if (value === undefined) payload.push({attrId: rec.attrId, status: Zcl.Status.UNSUPPORTED_ATTRIBUTE});
                    else payload.push({attrId: rec.attrId, status: 0, dataType: attr.type, attrData: value});
                }
                return {...base, frameType: F.GLOBAL, command: 'readRsp', payload};
            }
            if (cmd === 'write' || cmd === 'writeUndiv') {
                for (const rec of frame.payload) {
                    const attr = Object.values(frame.cluster.attributes).find((x) => x.ID === rec.attrId);
                    if (attr) {
                        a[frame.cluster.name] = {...(a[frame.cluster.name] ?? {}), [attr.name]: rec.attrData};
                    }
                }
                return {...base, frameType: F.GLOBAL, command: 'writeRsp', payload: [{status: 0}]};
            }
            if (cmd === 'configReport') {
                return {...base, frameType: F.GLOBAL, command: 'configReportRsp', payload: frame.payload.map((r) => ({status: 0, direction: 0, attrId: r.attrId}))};
            }
            if (cmd === 'discover') {
                return {...base, frameType: F.GLOBAL, command: 'discoverRsp', payload: {discComplete: 1, attrInfos: []}};
            }
            return {...base, frameType: F.GLOBAL, command: 'defaultRsp', payload: {cmdId: frame.command.ID, statusCode: 0}};
        }
        // cluster specific
        if (frame.cluster.name === 'manuSpecificTuya' && ['dataRequest', 'sendData'].includes(cmd)) {
            // Tuya MCU answers with a dataResponse carrying the new datapoint values.
            return {...base, frameType: F.SPECIFIC, command: 'dataResponse', payload: {seq: frame.payload.seq, dpValues: frame.payload.dpValues}};
        }
        if (frame.command.response !== undefined) {
            const rsp = Zcl.Utils.getClusterCommandResponse(frame.cluster, frame.command.response);
            const payload = {status: 0};
            for (const prm of rsp.parameters) {
                if (prm.name === 'status') continue;
                if (frame.payload[prm.name] !== undefined) payload[prm.name] = frame.payload[prm.name];
                else payload[prm.name] = defaultForType(prm.type) ?? 0;
            }
            return {...base, frameType: F.SPECIFIC, command: rsp.name, payload};
        }
        if (!frame.header.frameControl.disableDefaultResponse) {
            return {...base, frameType: F.GLOBAL, command: 'defaultRsp', payload: {cmdId: frame.command.ID, statusCode: 0}};
        }
        return undefined;
    }

    class FakeAdapter extends Adapter {
        constructor(networkOptions, serialPortOptions, backupPath, adapterOptions) {
            super(networkOptions, serialPortOptions, backupPath, adapterOptions);
            this.manufacturerID = Zcl.ManufacturerCode.SILICON_LABORATORIES;
            adapterInstance = this;
        }
        async start() {
            return 'resumed';
        }
        async stop() {}
        async getCoordinatorIEEE() {
            return spec.coordinator.ieee;
        }
        async getCoordinatorVersion() {
            // shape of zigbee-herdsman/dist/adapter/ember/adapter/emberAdapter.js getCoordinatorVersion()
            return {type: 'EmberZNet', meta: {ezsp: 13, revision: '7.4.4 [GA]', build: 0, major: 7, minor: 4, patch: 4, special: 0, type: 170}};
        }
        async reset() {}
        async supportsBackup() {
            return false;
        }
        async backup() {
            throw new Error('not supported');
        }
        async getNetworkParameters() {
            return {panID: 6754, extendedPanID: '0xdddddddddddddddd', channel: 15, nwkUpdateID: 0};
        }
        async addInstallCode() {}
        waitFor() {
            return {promise: new Promise(() => {}), cancel: () => {}};
        }
        async permitJoin() {}
        async sendZdo(ieeeAddress, networkAddress, clusterId, payload, disableResponse) {
            const dev = world.get(ieeeAddress) ?? byNwk.get(networkAddress);
            outLog.push({zdo: clusterId, ieee: ieeeAddress});
            if (!dev || dev.unreachable) {
                await sleep(20);
                throw new Error(`Delivery failed for '${networkAddress}'.`);
            }
            if (disableResponse) return undefined;
            const C = Zdo.ClusterId;
            const OK = Zdo.Status.SUCCESS;
            switch (clusterId) {
                case C.NODE_DESCRIPTOR_REQUEST:
                    return [
                        OK,
                        {
                            nwkAddress: dev.nwk,
                            logicalType: dev.type === 'Coordinator' ? 0 : dev.type === 'Router' ? 1 : 2,
                            fragmentationSupported: undefined,
                            apsFlags: 0,
                            frequencyBand: 8,
                            capabilities: {alternatePANCoordinator: 0, deviceType: dev.type === 'EndDevice' ? 0 : 1, powerSource: dev.type === 'EndDevice' ? 0 : 1, rxOnWhenIdle: dev.type === 'EndDevice' ? 0 : 1, reserved1: 0, reserved2: 0, securityCapability: 0, allocateAddress: 1},
                            manufacturerCode: dev.manufCode,
                            maxBufSize: 82,
                            maxIncTxSize: 128,
                            serverMask: {primaryTrustCenter: 0, backupTrustCenter: 0, deprecated1: 0, deprecated2: 0, deprecated3: 0, deprecated4: 0, networkManager: 0, reserved1: 0, reserved2: 0, stackComplianceRevision: 22},
                            maxOutTxSize: 128,
                            deprecated1: 0,
                            tlvs: [],
                        },
                    ];
                case C.ACTIVE_ENDPOINTS_REQUEST:
                    return [OK, {nwkAddress: dev.nwk, endpointList: dev.endpoints.map((e) => e.id)}];
                case C.SIMPLE_DESCRIPTOR_REQUEST: {
                    const epId = payload[payload.length - 1];
                    const ep = dev.endpoints.find((e) => e.id === epId);
                    if (!ep) return [Zdo.Status.NOT_ACTIVE, undefined];
                    return [OK, {nwkAddress: dev.nwk, length: 0, endpoint: ep.id, profileId: ep.profile, deviceId: ep.deviceId, deviceVersion: 1, inClusterList: ep.in, outClusterList: ep.out}];
                }
                default:
                    return [OK, undefined];
            }
        }
        async sendZclFrameToEndpoint(ieeeAddr, networkAddress, endpoint, zclFrame, timeout, disableResponse, disableRecovery, sourceEndpoint) {
            const dev = world.get(ieeeAddr) ?? byNwk.get(networkAddress);
            outLog.push({ieee: ieeeAddr, ep: endpoint, cluster: zclFrame.cluster.name, command: zclFrame.command.name, payload: zclFrame.payload});
            if (VERBOSE) console.error('->', ieeeAddr, endpoint, zclFrame.cluster.name, zclFrame.command.name, JSON.stringify(zclFrame.payload));
            if (!dev || dev.unreachable) {
                await sleep(20);
                // Message of zigbee-herdsman/dist/adapter/ember/adapter/oneWaitress.js deliveryFailedFor()
                throw new Error(`Delivery failed for '${networkAddress}'.`);
            }
            const changes = zclFrame.header.isSpecific ? applyCommand(dev, endpoint, zclFrame) : [];
            const r = responseFor(dev, endpoint, zclFrame);
            let result;
            if (r) {
                const frame = buildFrame(dev, {...r, disableDefaultResponse: true});
                const buf = frame.toBuffer();
                result = {clusterID: frame.cluster.ID, address: dev.nwk, header: Zcl.Header.fromBuffer(buf), data: buf, endpoint, linkquality: dev.lqi, groupID: 0, wasBroadcast: false, destinationEndpoint: sourceEndpoint ?? 1};
                // Real adapters resolve the waiter *and* emit the frame (emberAdapter.js onZclPayload / zStackAdapter.js)
                setImmediate(() => this.emit('zclPayload', result));
            }
            // Mains powered devices report changed attributes (configured reporting)
            if (changes.length && dev.type === 'Router') {
                setTimeout(() => {
                    for (const ch of changes) deviceReport(dev, endpoint, ch.cluster, {...ch.values, ...(dev.autoReportExtra?.[ch.cluster] ?? {})});
                }, 150);
            }
            return disableResponse ? undefined : result;
        }
        async sendZclFrameToGroup() {}
        async sendZclFrameToAll() {}
        async setChannelInterPAN() {}
        async sendZclFrameInterPANToIeeeAddr() {}
        async sendZclFrameInterPANBroadcast() {
            throw new Error('not supported');
        }
        async restoreChannelInterPAN() {}
    }
    Adapter.create = async (...args) => new FakeAdapter(...args);

    addToWorld(spec.coordinator);

    // ----------------------------------------------------------------------------------------------------------
    // Start Zigbee2MQTT.
    const {Controller} = rq('zigbee2mqtt/dist/controller');
    let restartRequested = 0;
    const controller = new Controller(
        async () => {
            restartRequested++;
        },
        async (code) => {
            if (VERBOSE) console.error('z2m exit', code);
        },
    );
    const published = []; // everything Zigbee2MQTT publishes, in order
    controller.eventBus.onMQTTMessagePublished('catalog', (data) => {
        let payload = data.payload;
        published.push({n: published.length, topic: data.topic, payload, retain: !!data.options.clientOptions.retain, qos: data.options.clientOptions.qos ?? 0});
        if (VERBOSE) console.error('PUB', data.topic, payload.length > 300 ? `${payload.slice(0, 300)}...` : payload);
    });
    await controller.start();

    const mqtt = rq('mqtt');
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {clientId: 'catalog-generator'});

    const mark = () => published.length;
    const since = (m, pred = () => true) => published.slice(m).filter(pred);
    async function settle(quietMs = 400, maxMs = 8000) {
        const start = Date.now();
        let last = published.length;
        let lastChange = Date.now();
        while (Date.now() - start < maxMs) {
            await sleep(50);
            if (published.length !== last) {
                last = published.length;
                lastChange = Date.now();
            } else if (Date.now() - lastChange >= quietMs) {
                return;
            }
        }
    }
    async function waitForPub(pred, m = 0, timeout = 30000) {
        const start = Date.now();
        while (Date.now() - start < timeout) {
            const hit = published.slice(m).find(pred);
            if (hit) return hit;
            await sleep(25);
        }
        throw new Error('timeout waiting for publish');
    }
    const parse = (p) => {
        try {
            return JSON.parse(p);
        } catch {
            return p;
        }
    };
    async function request(topic, payload) {
        const m = mark();
        const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
        await client.publishAsync(`${BASE}/${topic}`, body);
        await settle();
        return {topic: `${BASE}/${topic}`, payload: parse(body), published: since(m).map((x) => ({topic: x.topic, payload: parse(x.payload), retain: x.retain}))};
    }
    const isEvent = (type, ieee, status) => (x) => {
        if (x.topic !== `${BASE}/bridge/event`) return false;
        const p = JSON.parse(x.payload);
        return p.type === type && p.data.ieee_address === ieee && (status === undefined || p.data.status === status);
    };

    await settle(600);
    const startupPublished = since(0);

    // ----------------------------------------------------------------------------------------------------------
    // Pair every device (real zigbee-herdsman interview + Zigbee2MQTT configure).
    const pairing = {};
    async function pair(s) {
        const dev = addToWorld(s);
        const m = mark();
        adapterInstance.emit('deviceJoined', {networkAddress: dev.nwk, ieeeAddr: dev.ieee});
        await waitForPub((x) => isEvent('device_interview', dev.ieee, 'successful')(x) || isEvent('device_interview', dev.ieee, 'failed')(x), m, 60000);
        await settle(700, 20000);
        pairing[s.slug] = since(m);
        return dev;
    }
    for (const s of spec.devices) {
        process.stderr.write(`pairing ${s.slug}\n`);
        await pair(s);
    }
    await settle(800);

    // Group with two members (bridge/request/group/members/add, real genGroups add commands)
    const groupRequests = [];
    groupRequests.push(await request('bridge/request/group/members/add', {group: 'living room/lights', device: 'living room/lamp'}));
    groupRequests.push(await request('bridge/request/group/members/add', {group: 'living room/lights', device: 'kitchen/ceiling', endpoint: 11}));

    // ----------------------------------------------------------------------------------------------------------
    // Per device scripts.
    const results = {};
    for (const s of spec.devices) {
        process.stderr.write(`script ${s.slug}\n`);
        const dev = world.get(s.ieee);
        const topic = `${BASE}/${s.friendly_name}`;
        const steps = [];
        for (const step of s.script) {
            const [kind, ...args] = step;
            const m = mark();
            let sent;
            if (kind === 'report') {
                const [ep, cluster, values, opts] = args;
                deviceReport(dev, ep, cluster, values, opts);
                sent = {zigbee: 'attributeReport', endpoint: ep, cluster, attributes: values};
            } else if (kind === 'cmd') {
                const [ep, cluster, command, payload, opts] = args;
                deviceCommand(dev, ep, cluster, command, payload, opts);
                sent = {zigbee: 'command', endpoint: ep, cluster, command, payload};
            } else if (kind === 'raw') {
                const [ep, clusterId, hex] = args;
                emitZcl(dev, ep, Buffer.from(hex, 'hex'), clusterId);
                sent = {zigbee: 'raw', endpoint: ep, cluster: clusterId, frame: hex};
            } else if (kind === 'tuya') {
                tuyaReport(dev, args[0]);
                sent = {zigbee: 'tuya dataReport', datapoints: args[0]};
            } else if (kind === 'ota') {
                const [q] = args;
                deviceCommand(dev, dev.endpoints[0].id, 'genOta', 'queryNextImageRequest', {fieldControl: 0, ...q});
                sent = {zigbee: 'genOta queryNextImageRequest', payload: q};
            } else if (kind === 'set' || kind === 'get') {
                const [payload, endpointName] = args;
                const t = `${s.friendly_name}${endpointName ? `/${endpointName}` : ''}/${kind}`;
                await client.publishAsync(`${BASE}/${t}`, JSON.stringify(payload));
                sent = {mqtt: `${BASE}/${t}`, payload};
                // let the device report back (covers, locks report asynchronously in the script)
            }
            await settle(500);
            const pubs = since(m).map((x) => ({topic: x.topic, payload: parse(x.payload), retain: x.retain}));
            steps.push({input: sent, published: pubs});
        }
        results[s.slug] = {steps, topic};
    }

    // The retained bridge/devices payload as it stands after pairing all catalog devices (a real publish, unmodified).
    const devicesSnapshot = [...published].reverse().find((x) => x.topic === `${BASE}/bridge/devices`);

    // ----------------------------------------------------------------------------------------------------------
    // Failed set: device stops answering (zigbee-herdsman throws the Ember adapter's delivery failure).
    const lamp = world.get(spec.devices[0].ieee);
    const failed = {};
    {
        const plug = world.get(spec.devices.find((d) => d.slug === 'sonoff_basiczbr3').ieee);
        plug.unreachable = true;
        failed.set = await request('garden/pump/set', {state: 'ON'});
        failed.set_attribute_topic = await request('garden/pump/set/state', 'OFF');
        failed.unknown_entity = await request('garden/nothing/set', {state: 'ON'});
        failed.no_converter = await request('bathroom/climate/set', {temperature: 20});
        plug.unreachable = false;
    }

    // ----------------------------------------------------------------------------------------------------------
    // Bridge requests and events.
    const bridge = {};
    bridge.permit_join = [];
    bridge.permit_join.push(await request('bridge/request/permit_join', {time: 254}));
    bridge.info_permit_join = [...published].reverse().find((x) => x.topic === `${BASE}/bridge/info`);
    bridge.permit_join.push(await request('bridge/request/permit_join', {time: 60, device: 'living room/lamp'}));

    // New device joins while permit join is active: device_joined, device_interview started/successful, announce.
    const joinerMark = mark();
    const joiner = await pair(spec.extras.joiner);
    bridge.join_sequence = since(joinerMark).map((x) => ({topic: x.topic, payload: parse(x.payload), retain: x.retain}));
    // device announce (ZDO end device announce indication from the adapter)
    {
        const m = mark();
        adapterInstance.emit('zdoResponse', Zdo.ClusterId.END_DEVICE_ANNOUNCE, [Zdo.Status.SUCCESS, {nwkAddress: joiner.nwk, eui64: joiner.ieee, capabilities: {alternatePANCoordinator: 0, deviceType: 0, powerSource: 0, rxOnWhenIdle: 0, reserved1: 0, reserved2: 0, securityCapability: 0, allocateAddress: 1}}]);
        await settle();
        bridge.announce_sequence = since(m).map((x) => ({topic: x.topic, payload: parse(x.payload), retain: x.retain}));
    }
    bridge.permit_join.push(await request('bridge/request/permit_join', {time: 0}));
    bridge.permit_join.push(await request('bridge/request/permit_join', {value: true}));

    bridge.rename = [];
    bridge.rename.push(await request('bridge/request/device/rename', {from: joiner.ieee, to: 'kitchen/fridge sensor', transaction: 'a1b2c'}));
    bridge.rename.push(await request('bridge/request/device/rename', {last: true, to: 'kitchen/fridge climate', homeassistant_rename: false}));
    bridge.rename.push(await request('bridge/request/device/rename', {from: 'does/not exist', to: 'whatever'}));
    bridge.rename.push(await request('bridge/request/device/rename', {from: 'kitchen/fridge climate', to: 'living room/lamp'}));
    bridge.rename.push(await request('bridge/request/device/rename', {to: 'missing from'}));

    // Leave: a paired device leaves the network on its own.
    {
        const leaver = await pair(spec.extras.leaver);
        const m = mark();
        adapterInstance.emit('deviceLeave', {networkAddress: leaver.nwk, ieeeAddr: leaver.ieee});
        await settle();
        bridge.leave_sequence = since(m).map((x) => ({topic: x.topic, payload: parse(x.payload), retain: x.retain}));
    }

    bridge.remove = [];
    bridge.remove.push(await request('bridge/request/device/remove', {id: 'kitchen/fridge climate', transaction: 'r-42'}));
    bridge.remove.push(await request('bridge/request/device/remove', {id: 'does/not exist'}));
    // removing a device that does not answer the leave request fails unless force=true
    {
        const again = await pair({...spec.extras.joiner, slug: 'extra_joiner_again'});
        await request('bridge/request/device/rename', {from: again.ieee, to: 'kitchen/fridge sensor'});
        again.unreachable = true;
        bridge.remove.push(await request('bridge/request/device/remove', {id: 'kitchen/fridge sensor'}));
        bridge.remove.push(await request('bridge/request/device/remove', {id: 'kitchen/fridge sensor', force: true}));
    }

    // Interview failure (device does not answer the node descriptor request).
    {
        const ghost = addToWorld({...spec.extras.joiner, slug: 'ghost', ieee: '0x00124b0029aabbcc', nwk: 0x7777});
        ghost.unreachable = true;
        const m = mark();
        adapterInstance.emit('deviceJoined', {networkAddress: ghost.nwk, ieeeAddr: ghost.ieee});
        await waitForPub(isEvent('device_interview', ghost.ieee, 'failed'), m, 60000);
        await settle();
        bridge.interview_failed_sequence = since(m).map((x) => ({topic: x.topic, payload: parse(x.payload), retain: x.retain}));
        ghost.unreachable = false;
        bridge.remove.push(await request('bridge/request/device/remove', {id: ghost.ieee, force: true, block: false}));
    }

    bridge.health_check = await request('bridge/request/health_check', '');
    bridge.restart = await request('bridge/request/restart', '');
    bridge.restart.restart_callback_invoked = restartRequested > 0 || (await sleep(700), restartRequested > 0);

    // Final snapshots (retained topics): take the last publish of each.
    const last = (topic) => [...published].reverse().find((x) => x.topic === `${BASE}/${topic}`);

    const devicesPayload = JSON.parse(devicesSnapshot.payload);
    if (devicesPayload.length !== spec.devices.length + 1) throw new Error(`unexpected bridge/devices length ${devicesPayload.length}`);

    await client.endAsync();
    await controller.stop();
    await new Promise((r) => broker.close(r));
    server.close();

    // ----------------------------------------------------------------------------------------------------------
    // Write catalog.
    writeCatalog({spec, results, pairing, devicesPayload, published, startupPublished, failed, bridge, groupRequests, last, parse, port});
    process.stderr.write(`done; data dir ${DATA_DIR}\n`);
}

function normalise(obj, port) {
    // Replace run-specific values (tmp dir, broker port, this machine's OS) with stable ones.
    let s = JSON.stringify(obj);
    s = s.split(process.env.ZIGBEE2MQTT_DATA).join('/app/data');
    s = s.split(`127.0.0.1:${port}`).join('localhost:1883');
    return JSON.parse(s);
}

function writeCatalog(ctx) {
    const {spec, results, pairing, devicesPayload, failed, bridge, groupRequests, last, parse, port} = ctx;
    const z2mPkg = JSON.parse(fs.readFileSync(path.join(Z2M_PKG, 'package.json'), 'utf8'));
    const versions = {
        zigbee2mqtt: z2mPkg.version,
        'zigbee-herdsman': JSON.parse(fs.readFileSync(require.resolve('zigbee-herdsman/package.json', {paths: [Z2M_PKG]}), 'utf8')).version,
        'zigbee-herdsman-converters': JSON.parse(fs.readFileSync(require.resolve('zigbee-herdsman-converters/package.json', {paths: [Z2M_PKG]}), 'utf8')).version,
    };
    const write = (name, data) => fs.writeFileSync(path.join(OUT_DIR, name), `${JSON.stringify(data, null, 2)}\n`);

    write('devices.json', devicesPayload);

    const byIeee = new Map(devicesPayload.map((d) => [d.ieee_address, d]));
    const coordinatorEntry = devicesPayload.find((d) => d.type === 'Coordinator');
    write('coordinator.json', {
        device: coordinatorEntry,
        states: [],
        notes: 'Coordinator entry of bridge/devices as serialised by zigbee2mqtt/dist/extension/bridge.js publishDevices(): no `definition` key (device.definition is undefined for the coordinator, stringify drops undefined), friendly_name "Coordinator" (model/device.js get name()), supported true (model/device.js isSupported). Endpoints are those registered by the Ember adapter (zigbee-herdsman/dist/adapter/ember/adapter/endpoints.js FIXED_ENDPOINTS).',
    });

    const index = [];
    for (const s of spec.devices) {
        const entry = byIeee.get(s.ieee);
        const r = results[s.slug];
        const states = [];
        const setExamples = [];
        const transcript = [];
        for (const st of r.steps) {
            const own = st.published.filter((p) => p.topic === r.topic);
            for (const p of own) states.push(p.payload);
            transcript.push({input: st.input, published: clean(st.published)});
            if (st.input.mqtt) setExamples.push({topic: st.input.mqtt, payload: st.input.payload, published: own.map((p) => p.payload)});
        }
        const availability = [...ctx.published].reverse().find((x) => x.topic === `${r.topic}/availability`);
        const pairingEvents = (pairing[s.slug] ?? [])
            .filter((x) => x.topic === `${BASE}/bridge/event` || x.topic === `${r.topic}` || x.topic === `${r.topic}/availability`)
            .map((x) => ({topic: x.topic, payload: parse(x.payload), retain: x.retain}));
        const out0 = {
            device: entry,
            topic: r.topic,
            availability: availability ? {topic: availability.topic, payload: parse(availability.payload), retain: availability.retain} : undefined,
            states,
            set_examples: setExamples,
            pairing: pairingEvents,
            transcript,
            notes: notesFor(s, entry, versions),
        };
        const out = normalise(out0, port);
        write(`${s.slug}.json`, out);
        index.push({slug: s.slug, model: entry?.definition?.model, vendor: entry?.definition?.vendor, ieee_address: s.ieee, friendly_name: s.friendly_name, type: entry?.type});
    }
    write('index.json', {versions, devices: index});

    // bridge.json
    const info = parse(last('bridge/info').payload);
    const pickInfo = (i) => ({permit_join: i.permit_join, permit_join_end: i.permit_join_end, '...': 'other keys as in payload'});
    const schemaSize = JSON.stringify(info.config_schema ?? {}).length;
    info.config_schema = `<omitted: JSON schema of configuration.yaml (zigbee2mqtt/dist/util/settings.schema.json), ${schemaSize} bytes>`;
    info.os = {version: 'Linux 6.6.31+rpt-rpi-v8 #1 SMP PREEMPT Debian 1:6.6.31-1+rpt1 (2024-05-29) - 6.6.31+rpt-rpi-v8 - arm64', node_version: 'v22.12.0', cpus: 'Cortex-A72 (x4)', memory_mb: 3796};
    const groups = parse(last('bridge/groups').payload);
    const online = ctx.published.find((x) => x.topic === `${BASE}/bridge/state`);
    const state = {topic: `${BASE}/bridge/state`, payload: parse(online.payload), retain: online.retain, qos: online.qos};
    const logging = ctx.published.filter((x) => x.topic === `${BASE}/bridge/logging`).map((x) => parse(x.payload)).filter((p) => !/^z2m:mqtt: MQTT publish/.test(p.message));
    const mqttPublishLog = ctx.published.filter((x) => x.topic === `${BASE}/bridge/logging`).map((x) => parse(x.payload)).find((p) => /^z2m:mqtt: MQTT publish: topic '[^']*living room\/lamp'/.test(p.message));
    const eventsOf = (seq) => seq.filter((x) => x.topic === `${BASE}/bridge/event`).map((x) => x.payload);
    const bridgeOut = normalise(
        {
            versions,
            base_topic: BASE,
            'bridge/state': {...state, offline_payload: {state: 'offline'}, notes: 'Published retained (qos 1) on connect by zigbee2mqtt/dist/mqtt.js onConnect(); the MQTT last will (and disconnect()) is {"state":"offline"}.'},
            'bridge/info': {topic: `${BASE}/bridge/info`, retain: true, payload: info, while_permit_join: pickInfo(parse(bridge.info_permit_join.payload))},
            'bridge/groups': {topic: `${BASE}/bridge/groups`, retain: true, payload: groups, requests: groupRequests.map((r) => trimReq(r, {keepGroups: true}))},
            'bridge/event': {
                topic: `${BASE}/bridge/event`,
                retain: false,
                device_joined: eventsOf(bridge.join_sequence).find((e) => e.type === 'device_joined'),
                device_interview_started: eventsOf(bridge.join_sequence).find((e) => e.type === 'device_interview' && e.data.status === 'started'),
                device_interview_successful: eventsOf(bridge.join_sequence).find((e) => e.type === 'device_interview' && e.data.status === 'successful'),
                device_interview_failed: eventsOf(bridge.interview_failed_sequence).find((e) => e.type === 'device_interview' && e.data.status === 'failed'),
                device_announce: eventsOf(bridge.announce_sequence).find((e) => e.type === 'device_announce'),
                device_leave: eventsOf(bridge.leave_sequence).find((e) => e.type === 'device_leave'),
                sequences: {
                    join: clean(bridge.join_sequence),
                    announce: clean(bridge.announce_sequence),
                    leave: clean(bridge.leave_sequence),
                    interview_failed: clean(bridge.interview_failed_sequence),
                },
            },
            'bridge/request': {
                permit_join: bridge.permit_join.map(trimReq),
                'device/rename': bridge.rename.map(trimReq),
                'device/remove': bridge.remove.map(trimReq),
                restart: trimReq(bridge.restart),
                health_check: trimReq(bridge.health_check),
            },
            'bridge/logging': {
                topic: `${BASE}/bridge/logging`,
                retain: false,
                failed_set: failed.set.published.filter((p) => p.topic.endsWith('/bridge/logging')).map((p) => p.payload),
                failed_set_attribute_topic: failed.set_attribute_topic.published.filter((p) => p.topic.endsWith('/bridge/logging')).map((p) => p.payload),
                unknown_entity: failed.unknown_entity.published.filter((p) => p.topic.endsWith('/bridge/logging')).map((p) => p.payload),
                no_converter: failed.no_converter.published.filter((p) => p.topic.endsWith('/bridge/logging')).map((p) => p.payload),
                info_mqtt_publish_example: mqttPublishLog,
                all_messages_during_generation_except_mqtt_publish: logging,
            },
            failed_set_requests: {set: trimReq(failed.set), set_attribute_topic: trimReq(failed.set_attribute_topic), unknown_entity: trimReq(failed.unknown_entity), no_converter: trimReq(failed.no_converter)},
            notes: [
                'Generated by test/catalog/gen.js: real Zigbee2MQTT 2.14.1 controller + extensions against a fake zigbee-herdsman adapter and a local MQTT broker; payloads captured from Zigbee2MQTT\'s eventBus onMQTTMessagePublished (exact strings, parsed here).',
                'bridge/* payload shapes: zigbee2mqtt/dist/extension/bridge.js (publishInfo, publishDevices, publishGroups, onDeviceJoined/Interview/Announce/Leave, renameEntity, removeEntity, permitJoin, restart, healthCheck, onMQTTMessage error path); responses built by zigbee2mqtt/dist/util/utils.js getResponse().',
                'All payloads are serialised with zigbee2mqtt/dist/util/stringify.js: object keys are sorted alphabetically and undefined values are dropped.',
                'bridge/logging: extension/bridge.js EventTransport publishes {level, message, namespace} for every non-debug log line (deduplicated against the previous payload). The failed-set message comes from extension/publish.js: `Publish \'${type}\' \'${key}\' to \'${name}\' failed: \'${error}\'` where error is zigbee-herdsman\'s `ZCL command <ieee>/<ep> <cluster>.<command>(<payload>, <options>) failed (<adapter error>)` (controller/model/endpoint.js zclCommand). The adapter error used here is the Ember adapter\'s `Delivery failed for \'<nwk>\'.` (adapter/ember/adapter/oneWaitress.js).',
                'bridge/info.os was replaced by a sample (it describes the host running Z2M); mqtt server/port and data paths were normalised.',
                'Groups: group 1 configured in configuration.yaml, members added with bridge/request/group/members/add (extension/groups.js).',
            ],
        },
        port,
    );
    write('bridge.json', bridgeOut);
}

const SNAPSHOT_TOPICS = ['/bridge/devices', '/bridge/info', '/bridge/groups', '/bridge/definitions'];
function clean(list, {keepGroups = false} = {}) {
    // Drop the noisy info-level "MQTT publish" log lines (bridge/logging echoes every publish at log_level info)
    // and replace full retained snapshots by a placeholder.
    return list
        .filter((x) => !x.topic.endsWith('/bridge/definitions'))
        .filter((x) => !(x.topic.endsWith('/bridge/logging') && typeof x.payload === 'object' && /^z2m:mqtt: MQTT publish/.test(x.payload.message)))
        .map((x) =>
            SNAPSHOT_TOPICS.some((t) => x.topic.endsWith(t)) && !(keepGroups && x.topic.endsWith('/bridge/groups'))
                ? {topic: x.topic, retain: x.retain, payload: '<omitted: full retained snapshot, see devices.json / bridge.json>'}
                : x,
        );
}

function trimReq(r, opts) {
    if (!r) return r;
    return {request: {topic: r.topic, payload: r.payload}, published: clean(r.published, opts)};
}

function notesFor(s, entry, versions) {
    const def = entry?.definition;
    return [
        `Zigbee2MQTT ${versions.zigbee2mqtt} / zigbee-herdsman ${versions['zigbee-herdsman']} / zigbee-herdsman-converters ${versions['zigbee-herdsman-converters']}.`,
        `Device entry = element of the bridge/devices array as serialised by zigbee2mqtt/dist/extension/bridge.js publishDevices() + getDefinitionPayload(); exposes from zigbee2mqtt/dist/model/device.js exposes() (definition exposes + linkquality), JSON via Expose.toJSON() in zigbee-herdsman-converters/dist/lib/exposes.js, keys sorted by zigbee2mqtt/dist/util/stringify.js.`,
        `Definition resolved by zigbee-herdsman-converters findByDevice() from modelID '${s.basic.modelId}' / manufacturerName '${s.basic.manufacturerName}' (definition source: zigbee-herdsman-converters/dist/devices/*.js, model ${def?.model}).`,
        'Interview, endpoints, bindings and configured_reportings are the result of the real zigbee-herdsman interview (controller/model/device.js interviewInternal) and the definition\'s configure() run by zigbee2mqtt/dist/extension/configure.js against the simulated device (test/catalog/devices.spec.js). IEEE/network addresses, firmware strings and sensor values are fake but realistic.',
        'States: payloads published by zigbee2mqtt/dist/controller.js publishEntityState() on <base>/<friendly_name> (cache_state=true: cached state merged with the new values; linkquality from the last received frame; `action` is never cached, see zigbee2mqtt/dist/state.js CACHE_IGNORE_PROPERTIES), produced by the definition\'s fromZigbee converters (zigbee2mqtt/dist/extension/receive.js) or, after a set, by the toZigbee converter result (zigbee2mqtt/dist/extension/publish.js, optimistic).',
        'transcript[] lists each simulated input (Zigbee frame from the device or MQTT set) and everything Zigbee2MQTT published in response (bridge/devices, bridge/info, bridge/definitions omitted).',
    ];
}

main()
    .then(() => process.exit(0)) // Zigbee2MQTT/zigbee-herdsman leave timers behind (availability, request queues)
    .catch((e) => {
        console.error(e);
        process.exit(1);
    });
