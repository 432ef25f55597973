'use strict';
/*
 * Simulated Zigbee devices used by gen.js.
 *
 * Each entry describes what a real device answers during the Zigbee interview
 * (node descriptor, active endpoints, simple descriptors, genBasic attributes)
 * and which Zigbee frames it sends afterwards (`script`).  gen.js feeds these
 * to the real Zigbee2MQTT 2.14.1 / zigbee-herdsman / zigbee-herdsman-converters
 * code through a fake adapter, so every MQTT payload in the catalog is produced
 * by Zigbee2MQTT itself.
 *
 * Cluster IDs are numeric (as in a simple descriptor).  Values in `attrs`/`basic` are raw
 * ZCL attribute values (what the device would answer to a read); null = attribute not supported
 * (the read fails with UNSUPPORTED_ATTRIBUTE, as real devices do).
 * The IEEE addresses are fake but use OUIs that the vendors really use.
 *
 * Script steps:
 *   ['report', ep, cluster, {attr: value}, {manufCode}]  device -> coordinator attribute report
 *   ['cmd', ep, cluster, command, payload, {dstEp}]       device -> coordinator cluster command
 *   ['raw', ep, clusterId, 'hex zcl frame']                device -> coordinator raw ZCL frame
 *   ['tuya', [{dp, type, value}]]                         Tuya dataReport (cluster 0xEF00)
 *   ['ota', {imageType, manufacturerCode, fileVersion}]   genOta queryNextImageRequest (triggers Z2M OTA check)
 *   ['set', {..}] / ['set', {..}, 'l1']                    MQTT publish on <base>/<name>[/<endpoint>]/set
 *   ['get', {..}]                                          MQTT publish on <base>/<name>/get
 */

const BASIC_ROUTER = {zclVersion: 3, powerSource: 1};
const BASIC_BATTERY = {zclVersion: 3, powerSource: 3};

// Little helpers for Xiaomi (LUMI) "heartbeat" frames: genBasic attribute 0xFF01 (CHAR_STR parsed as MI struct).
function lumiStruct(entries) {
    // entries: [[index, dataType, valueBuffer], ...]
    const body = Buffer.concat(entries.map(([i, t, b]) => Buffer.concat([Buffer.from([i, t]), b])));
    // frame control 0x1c: global, manufacturer specific, server->client, disable default response; manuf code 0x115f
    const header = Buffer.from([0x1c, 0x5f, 0x11, 0x00, 0x0a, 0x01, 0xff, 0x42, body.length]);
    return Buffer.concat([header, body]).toString('hex');
}
const u8 = (v) => Buffer.from([v]);
const u16 = (v) => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    return b;
};
const i16 = (v) => {
    const b = Buffer.alloc(2);
    b.writeInt16LE(v);
    return b;
};
const i32 = (v) => {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    return b;
};
const u40 = (v) => {
    const b = Buffer.alloc(5);
    b.writeUIntLE(v, 0, 5);
    return b;
};

const coordinator = {
    ieee: '0x9035eafffe6c1a2b', // Silicon Labs OUI (EmberZNet adapter, e.g. SkyConnect / ZBDongle-E)
    nwk: 0,
    type: 'Coordinator',
    manufCode: 0x1049, // SILICON_LABORATORIES
    // zigbee-herdsman/dist/adapter/ember/adapter/endpoints.js FIXED_ENDPOINTS
    endpoints: [
        {id: 1, profile: 260, deviceId: 0x65, in: [0, 3, 6, 8, 10, 25, 768], out: [0, 3, 4, 5, 6, 8, 32, 768, 1024, 1026, 1029, 1030, 1280, 1794, 2817, 2819, 2820, 4096]},
        {id: 242, profile: 41440, deviceId: 0x66, in: [33], out: [33]},
    ],
};

const devices = [
    {
        slug: 'ikea_led1545g12',
        model: 'LED1545G12',
        ieee: '0x000d6ffffe4b5c6d',
        nwk: 0x3a1f,
        friendly_name: 'living room/lamp',
        type: 'Router',
        manufCode: 4476,
        lqi: 120,
        endpoints: [
            {id: 1, profile: 260, deviceId: 0x010c, in: [0, 3, 4, 5, 6, 8, 768, 2821, 4096, 64636], out: [5, 25, 32, 4096]},
            {id: 242, profile: 41440, deviceId: 0x0061, in: [], out: [33]},
        ],
        basic: {...BASIC_ROUTER, zclVersion: 8, appVersion: 35, stackVersion: 0, hwVersion: 1, manufacturerName: 'IKEA of Sweden', modelId: 'TRADFRI bulb E27 WS opal 980lm', dateCode: '20210525', swBuildId: '2.3.094'},
        attrs: {
            1: {
                genOnOff: {onOff: 1, startUpOnOff: 255},
                genLevelCtrl: {currentLevel: 254, onLevel: 255, startUpCurrentLevel: 255},
                lightingColorCtrl: {colorTemperature: 370, colorMode: 2, colorCapabilities: 16, colorTempPhysicalMin: 250, colorTempPhysicalMax: 454, startUpColorTemperature: 65535, options: 0},
            },
        },
        script: [
            ['ota', {manufacturerCode: 4476, imageType: 0x2201, fileVersion: 587765297}],
            ['report', 1, 'genOnOff', {onOff: 1}],
            ['report', 1, 'genLevelCtrl', {currentLevel: 254}],
            ['report', 1, 'lightingColorCtrl', {colorTemperature: 370, colorMode: 2}],
            ['set', {state: 'OFF'}],
            ['set', {state: 'ON', brightness: 128}],
            ['set', {color_temp: 250}],
            ['set', {state: 'TOGGLE'}],
        ],
    },
    {
        slug: 'ikea_e1743',
        model: 'E1743',
        ieee: '0x680ae2fffe7d8e9f',
        nwk: 0x5b21,
        friendly_name: 'living room/switch',
        type: 'EndDevice',
        manufCode: 4476,
        lqi: 87,
        endpoints: [{id: 1, profile: 260, deviceId: 0x0820, in: [0, 1, 3, 9, 32, 4096, 64636], out: [3, 4, 6, 8, 25, 258, 4096]}],
        basic: {...BASIC_BATTERY, appVersion: 33, stackVersion: 98, hwVersion: 1, manufacturerName: 'IKEA of Sweden', modelId: 'TRADFRI on/off switch', dateCode: '20221020', swBuildId: '24.4.5'},
        attrs: {1: {genPowerCfg: {batteryPercentageRemaining: 174, batteryVoltage: 29}, genPollCtrl: {checkinInterval: 172800}}},
        script: [
            ['report', 1, 'genPowerCfg', {batteryPercentageRemaining: 174}],
            ['cmd', 1, 'genOnOff', 'on', {}],
            ['cmd', 1, 'genOnOff', 'off', {}],
            ['cmd', 1, 'genLevelCtrl', 'moveWithOnOff', {movemode: 0, rate: 83}],
            ['cmd', 1, 'genLevelCtrl', 'stopWithOnOff', {}],
        ],
    },
    {
        slug: 'ikea_e1524_e1810',
        model: 'E1524/E1810',
        ieee: '0x90fd9ffffe0a1b2c',
        nwk: 0x9c44,
        friendly_name: 'bedroom/remote',
        type: 'EndDevice',
        manufCode: 4476,
        lqi: 102,
        endpoints: [{id: 1, profile: 260, deviceId: 0x0810, in: [0, 1, 3, 9, 2821, 4096], out: [3, 4, 5, 6, 8, 25, 4096]}],
        basic: {...BASIC_BATTERY, appVersion: 33, stackVersion: 98, hwVersion: 1, manufacturerName: 'IKEA of Sweden', modelId: 'TRADFRI remote control', dateCode: '20190308', swBuildId: '2.3.075'},
        attrs: {1: {genPowerCfg: {batteryPercentageRemaining: 74, batteryVoltage: 29}}},
        script: [
            ['report', 1, 'genPowerCfg', {batteryPercentageRemaining: 74}],
            ['cmd', 1, 'genOnOff', 'toggle', {}],
            ['cmd', 1, 'genLevelCtrl', 'stepWithOnOff', {stepmode: 0, stepsize: 43, transtime: 5}],
            ['cmd', 1, 'genLevelCtrl', 'step', {stepmode: 1, stepsize: 43, transtime: 5, optionsMask: 0, optionsOverride: 0}],
            ['cmd', 1, 'genScenes', 'tradfriArrowSingle', {value: 257, value2: 13}],
        ],
    },
    {
        slug: 'ikea_e1757',
        model: 'E1757',
        ieee: '0xccccccfffe3d4e5f',
        nwk: 0x1d7e,
        friendly_name: 'bedroom/blind',
        type: 'EndDevice',
        manufCode: 4476,
        lqi: 94,
        endpoints: [{id: 1, profile: 260, deviceId: 0x0202, in: [0, 1, 3, 4, 5, 32, 258, 4096, 64636], out: [25, 4096]}],
        basic: {...BASIC_BATTERY, appVersion: 36, stackVersion: 98, hwVersion: 1, manufacturerName: 'IKEA of Sweden', modelId: 'FYRTUR block-out roller blind', dateCode: '20200929', swBuildId: '2.3.088'},
        attrs: {1: {genPowerCfg: {batteryPercentageRemaining: 86, batteryVoltage: 0}, closuresWindowCovering: {currentPositionLiftPercentage: 0, windowCoveringType: 0}}},
        script: [
            ['report', 1, 'genPowerCfg', {batteryPercentageRemaining: 86}],
            ['report', 1, 'closuresWindowCovering', {currentPositionLiftPercentage: 0}],
            ['set', {position: 40}],
            ['report', 1, 'closuresWindowCovering', {currentPositionLiftPercentage: 60}],
            ['set', {state: 'CLOSE'}],
            ['report', 1, 'closuresWindowCovering', {currentPositionLiftPercentage: 100}],
        ],
    },
    {
        slug: 'philips_9290012573a',
        model: '9290012573A',
        ieee: '0x0017880102a3b4c5',
        nwk: 0x6e02,
        friendly_name: 'kitchen/ceiling',
        type: 'Router',
        manufCode: 4107,
        lqi: 145,
        endpoints: [
            {id: 11, profile: 260, deviceId: 0x0210, in: [0, 3, 4, 5, 6, 8, 768, 4096, 64513], out: [25]},
            {id: 242, profile: 41440, deviceId: 0x0061, in: [], out: [33]},
        ],
        basic: {...BASIC_ROUTER, zclVersion: 1, appVersion: 2, stackVersion: 1, hwVersion: 1, manufacturerName: 'Signify Netherlands B.V.', modelId: 'LCT015', dateCode: '20191218', swBuildId: '1.50.2_r30933'},
        attrs: {
            11: {
                genOnOff: {onOff: 1},
                genLevelCtrl: {currentLevel: 200},
                lightingColorCtrl: {currentX: 30138, currentY: 26909, currentHue: 31, currentSaturation: 140, enhancedCurrentHue: 8000, colorTemperature: 366, colorMode: 1, enhancedColorMode: 1, colorCapabilities: 31, colorTempPhysicalMin: 153, colorTempPhysicalMax: 500},
            },
        },
        script: [
            ['ota', {manufacturerCode: 4107, imageType: 0x0110, fileVersion: 16785664}],
            ['report', 11, 'genOnOff', {onOff: 1}],
            ['report', 11, 'genLevelCtrl', {currentLevel: 200}],
            ['report', 11, 'lightingColorCtrl', {currentX: 30138, currentY: 26909, colorMode: 1}],
            ['set', {color: {hex: '#ff0000'}}],
            ['set', {color: {x: 0.1355, y: 0.0399}, brightness: 254}],
            ['set', {color_temp: 300, transition: 2}],
            ['set', {state: 'OFF'}],
        ],
    },
    {
        slug: 'philips_324131092621',
        model: '324131092621',
        ieee: '0x0017880109c8d7e6',
        nwk: 0x2f31,
        friendly_name: 'hallway/dimmer',
        type: 'EndDevice',
        manufCode: 4107,
        lqi: 78,
        endpoints: [
            {id: 1, profile: 49246, deviceId: 0x0830, in: [0], out: [0, 3, 4, 6, 8, 5]},
            {id: 2, profile: 260, deviceId: 0x000c, in: [0, 1, 3, 15, 64512], out: [25]},
        ],
        basic: {...BASIC_BATTERY, zclVersion: 1, appVersion: 2, stackVersion: 1, hwVersion: 1, manufacturerName: 'Philips', modelId: 'RWL021', dateCode: '20160302', swBuildId: '5.45.1.17846'},
        attrs: {2: {genPowerCfg: {batteryPercentageRemaining: 200, batteryVoltage: 30}}},
        script: [
            ['report', 2, 'genPowerCfg', {batteryPercentageRemaining: 200, batteryVoltage: 30}],
            ['cmd', 2, 'manuSpecificPhilips', 'hueNotification', {button: 1, unknown1: 3145728, type: 0, unknown2: 0, time: 0, unknown3: 0}, {manufCode: 4107, direction: 1}],
            ['cmd', 2, 'manuSpecificPhilips', 'hueNotification', {button: 1, unknown1: 3145728, type: 2, unknown2: 0, time: 1, unknown3: 0}, {manufCode: 4107, direction: 1}],
            ['cmd', 2, 'manuSpecificPhilips', 'hueNotification', {button: 2, unknown1: 3145728, type: 1, unknown2: 0, time: 8, unknown3: 0}, {manufCode: 4107, direction: 1}],
        ],
    },
    {
        slug: 'philips_9290012607',
        model: '9290012607',
        ieee: '0x00178801034f5e6d',
        nwk: 0x7d55,
        friendly_name: 'hallway/motion',
        type: 'EndDevice',
        manufCode: 4107,
        lqi: 65,
        endpoints: [
            {id: 1, profile: 49246, deviceId: 0x0850, in: [0], out: [0, 3, 4, 6, 8, 768, 5]},
            {id: 2, profile: 260, deviceId: 0x0107, in: [0, 1, 3, 1030, 1024, 1026], out: [25]},
        ],
        basic: {...BASIC_BATTERY, zclVersion: 1, appVersion: 2, stackVersion: 1, hwVersion: 1, manufacturerName: 'Philips', modelId: 'SML001', dateCode: '20191219', swBuildId: '6.1.1.27575'},
        attrs: {
            2: {
                genPowerCfg: {batteryPercentageRemaining: 200, batteryVoltage: 30},
                msOccupancySensing: {occupancy: 0, pirOToUDelay: 0},
                msIlluminanceMeasurement: {measuredValue: 11000},
                msTemperatureMeasurement: {measuredValue: 2143},
            },
        },
        script: [
            ['report', 2, 'genPowerCfg', {batteryPercentageRemaining: 200}],
            ['report', 2, 'msTemperatureMeasurement', {measuredValue: 2143}],
            ['report', 2, 'msIlluminanceMeasurement', {measuredValue: 11000}],
            ['report', 2, 'msOccupancySensing', {occupancy: 1}],
            ['report', 2, 'msOccupancySensing', {occupancy: 0}],
        ],
    },
    {
        slug: 'aqara_wsdcgq11lm',
        model: 'WSDCGQ11LM',
        ieee: '0x00158d0004a1b2c3',
        nwk: 0x4c1d,
        friendly_name: 'bathroom/climate',
        type: 'EndDevice',
        manufCode: 4151,
        lqi: 58,
        endpoints: [{id: 1, profile: 260, deviceId: 0x5f01, in: [0, 3, 65535, 1026, 1027, 1029], out: [0, 4, 65535]}],
        basic: {...BASIC_BATTERY, zclVersion: 1, appVersion: 3, stackVersion: 2, hwVersion: 30, manufacturerName: 'LUMI', modelId: 'lumi.weather', dateCode: '20191205', swBuildId: '3000-0001'},
        attrs: {},
        script: [
            ['raw', 1, 0, lumiStruct([[1, 0x21, u16(3005)], [4, 0x21, u16(5032)], [5, 0x21, u16(47)], [6, 0x24, u40(2)], [10, 0x21, u16(0)], [100, 0x29, i16(2151)], [101, 0x21, u16(4820)], [102, 0x2b, i32(100431)]])],
            ['report', 1, 'msTemperatureMeasurement', {measuredValue: 2186}],
            ['report', 1, 'msRelativeHumidity', {measuredValue: 5523}],
            ['report', 1, 'msPressureMeasurement', {measuredValue: 1004, scaledValue: 10043, scale: -1}],
        ],
    },
    {
        slug: 'xiaomi_mccgq11lm',
        model: 'MCCGQ11LM',
        ieee: '0x00158d00054d6e7f',
        nwk: 0xa2b1,
        friendly_name: 'front door/contact',
        type: 'EndDevice',
        manufCode: 4151,
        lqi: 72,
        endpoints: [{id: 1, profile: 260, deviceId: 0x5f01, in: [0, 3, 65535, 6], out: [0, 4, 65535]}],
        basic: {...BASIC_BATTERY, zclVersion: 1, appVersion: 10, stackVersion: 2, hwVersion: 1, manufacturerName: 'LUMI', modelId: 'lumi.sensor_magnet.aq2', dateCode: '20161128', swBuildId: '3000-0001'},
        attrs: {},
        script: [
            ['raw', 1, 0, lumiStruct([[1, 0x21, u16(3015)], [3, 0x28, u8(24)], [4, 0x21, u16(5032)], [5, 0x21, u16(17)], [6, 0x24, u40(13)], [10, 0x21, u16(0)], [100, 0x10, u8(0)]])],
            ['report', 1, 'genOnOff', {onOff: 1}],
            ['report', 1, 'genOnOff', {onOff: 0}],
        ],
    },
    {
        slug: 'xiaomi_sjcgq11lm',
        model: 'SJCGQ11LM',
        ieee: '0x00158d0003c2d1e0',
        nwk: 0xb7c3,
        friendly_name: 'kitchen/leak',
        type: 'EndDevice',
        manufCode: 4151,
        lqi: 81,
        endpoints: [{id: 1, profile: 260, deviceId: 0x0402, in: [0, 3, 1, 1280], out: [25]}],
        basic: {...BASIC_BATTERY, zclVersion: 1, appVersion: 2, stackVersion: 2, hwVersion: 1, manufacturerName: 'LUMI', modelId: 'lumi.sensor_wleak.aq1', dateCode: '20170721', swBuildId: '3000-0001'},
        attrs: {1: {ssIasZone: {zoneState: 0, zoneType: 0x002a, zoneStatus: 0}}},
        script: [
            ['raw', 1, 0, lumiStruct([[1, 0x21, u16(3025)], [3, 0x28, u8(26)], [4, 0x21, u16(5032)], [5, 0x21, u16(9)], [6, 0x24, u40(1)], [10, 0x21, u16(0)], [100, 0x10, u8(0)]])],
            ['cmd', 1, 'ssIasZone', 'statusChangeNotification', {zonestatus: 1, extendedstatus: 0, zoneID: 23, delay: 0}, {direction: 1}],
            ['cmd', 1, 'ssIasZone', 'statusChangeNotification', {zonestatus: 0, extendedstatus: 0, zoneID: 23, delay: 0}, {direction: 1}],
        ],
    },
    {
        slug: 'xiaomi_wxkg11lm',
        model: 'WXKG11LM',
        ieee: '0x00158d0002e5f4a3',
        nwk: 0xc4d9,
        friendly_name: 'office/button',
        type: 'EndDevice',
        manufCode: 4151,
        lqi: 66,
        endpoints: [{id: 1, profile: 260, deviceId: 0x5f01, in: [0, 3, 65535, 6], out: [0, 4, 65535]}],
        basic: {...BASIC_BATTERY, zclVersion: 1, appVersion: 2, stackVersion: 2, hwVersion: 11, manufacturerName: 'LUMI', modelId: 'lumi.sensor_switch.aq2', dateCode: '20160516', swBuildId: '3000-0001'},
        attrs: {},
        script: [
            ['raw', 1, 0, lumiStruct([[1, 0x21, u16(3035)], [3, 0x28, u8(23)], [4, 0x21, u16(5032)], [5, 0x21, u16(31)], [6, 0x24, u40(0)], [10, 0x21, u16(0)]])],
            ['report', 1, 'genOnOff', {onOff: 1}],
            ['report', 1, 'genOnOff', {32768: {value: 2, type: 0x20}}],
            ['report', 1, 'genOnOff', {32768: {value: 3, type: 0x20}}],
        ],
    },
    {
        slug: 'aqara_sp_euc01',
        model: 'SP-EUC01',
        ieee: '0x54ef441000a1b2c3',
        nwk: 0xd8e2,
        friendly_name: 'office/desk plug',
        type: 'Router',
        manufCode: 4447,
        lqi: 150,
        endpoints: [
            {id: 1, profile: 260, deviceId: 0x0051, in: [0, 2, 3, 4, 5, 6, 9, 1794, 2820, 64704], out: [10, 25]},
            {id: 242, profile: 41440, deviceId: 0x0061, in: [], out: [33]},
        ],
        basic: {...BASIC_ROUTER, zclVersion: 3, appVersion: 32, stackVersion: 2, hwVersion: 1, manufacturerName: 'LUMI', modelId: 'lumi.plug.maeu01', dateCode: '09-06-2022', swBuildId: '0.0.0_0032'},
        attrs: {
            1: {
                genOnOff: {onOff: 1},
                seMetering: {currentSummDelivered: 1732, multiplier: 1, divisor: 1000},
                haElectricalMeasurement: {activePower: 24, rmsVoltage: 231, rmsCurrent: 104, acPowerMultiplier: 1, acPowerDivisor: 1, acVoltageMultiplier: 1, acVoltageDivisor: 1, acCurrentMultiplier: 1, acCurrentDivisor: 1000},
                genDeviceTempCfg: {currentTemperature: 32},
            },
        },
        script: [
            ['report', 1, 'genOnOff', {onOff: 1}],
            ['report', 1, 'haElectricalMeasurement', {activePower: 24}],
            ['report', 1, 'seMetering', {currentSummDelivered: 1732}],
            ['report', 1, 'genDeviceTempCfg', {currentTemperature: 32}],
            ['set', {state: 'OFF'}],
            ['set', {state: 'ON'}],
        ],
    },
    {
        slug: 'tuya_ts011f_plug_1',
        model: 'TS011F_plug_1',
        ieee: '0xa4c1382b9c0d1e2f',
        nwk: 0xe1f4,
        friendly_name: 'garage/freezer plug',
        type: 'Router',
        manufCode: 4417,
        lqi: 134,
        endpoints: [{id: 1, profile: 260, deviceId: 0x0051, in: [0, 3, 4, 5, 6, 1794, 2820, 57344, 57345], out: [10, 25]}],
        basic: {...BASIC_ROUTER, zclVersion: 3, appVersion: 77, stackVersion: 0, hwVersion: 1, manufacturerName: '_TZ3000_w0qqde0g', modelId: 'TS011F', dateCode: null, swBuildId: '0122052017'},
        attrs: {
            1: {
                genOnOff: {onOff: 1, moesStartUpOnOff: 2, tuyaBacklightMode: 1},
                seMetering: {currentSummDelivered: 5123, multiplier: 1, divisor: 100},
                haElectricalMeasurement: {activePower: 87, rmsVoltage: 229, rmsCurrent: 412, acPowerMultiplier: 1, acPowerDivisor: 1, acVoltageMultiplier: 1, acVoltageDivisor: 1, acCurrentMultiplier: 1, acCurrentDivisor: 1000},
            },
        },
        script: [
            ['report', 1, 'genOnOff', {onOff: 1}],
            ['report', 1, 'haElectricalMeasurement', {rmsVoltage: 229, rmsCurrent: 412, activePower: 87}],
            ['report', 1, 'seMetering', {currentSummDelivered: 5123}],
            ['set', {state: 'OFF'}],
            ['set', {state: 'ON'}],
        ],
    },
    {
        slug: 'tuya_ts0601_thermostat',
        model: 'TS0601_thermostat',
        ieee: '0xa4c138d2e3f4a5b6',
        nwk: 0x0c8a,
        friendly_name: 'bedroom/radiator',
        type: 'EndDevice',
        manufCode: 4098,
        lqi: 92,
        endpoints: [{id: 1, profile: 260, deviceId: 0x0051, in: [0, 4, 5, 61184], out: [25, 10]}],
        basic: {...BASIC_BATTERY, zclVersion: 3, appVersion: 85, stackVersion: 0, hwVersion: 1, manufacturerName: '_TZE200_ckud7u2l', modelId: 'TS0601', dateCode: null, swBuildId: null},
        attrs: {},
        script: [
            ['tuya', [{dp: 3, type: 2, value: 205}]],
            ['tuya', [{dp: 2, type: 2, value: 210}]],
            ['tuya', [{dp: 4, type: 4, value: 2}]],
            ['tuya', [{dp: 109, type: 2, value: 35}]],
            ['tuya', [{dp: 21, type: 2, value: 87}]],
            ['tuya', [{dp: 7, type: 1, value: 0}]],
            ['set', {current_heating_setpoint: 22.5}],
            ['set', {preset: 'comfort'}],
        ],
    },
    {
        slug: 'sonoff_snzb_02',
        model: 'SNZB-02',
        ieee: '0x00124b0022a3b4c5',
        nwk: 0x61e7,
        friendly_name: 'living room/climate',
        type: 'EndDevice',
        manufCode: 0,
        lqi: 110,
        endpoints: [{id: 1, profile: 260, deviceId: 770, in: [0, 3, 1026, 1029, 1], out: [3]}],
        basic: {...BASIC_BATTERY, zclVersion: 1, appVersion: 5, stackVersion: 2, hwVersion: 0, manufacturerName: 'eWeLink', modelId: 'TH01', dateCode: '20201026', swBuildId: null},
        attrs: {1: {genPowerCfg: {batteryPercentageRemaining: 200, batteryVoltage: 31}}},
        script: [
            ['report', 1, 'msTemperatureMeasurement', {measuredValue: 2147}],
            ['report', 1, 'msRelativeHumidity', {measuredValue: 4561}],
            ['report', 1, 'genPowerCfg', {batteryPercentageRemaining: 200, batteryVoltage: 31}],
        ],
    },
    {
        slug: 'sonoff_basiczbr3',
        model: 'BASICZBR3',
        ieee: '0x00124b001f6e7d8c',
        nwk: 0x8f12,
        friendly_name: 'garden/pump',
        type: 'Router',
        manufCode: 0,
        lqi: 99,
        endpoints: [{id: 1, profile: 260, deviceId: 0x0002, in: [0, 6], out: []}],
        basic: {...BASIC_ROUTER, zclVersion: 1, appVersion: 1, stackVersion: 2, hwVersion: 0, manufacturerName: 'SONOFF', modelId: 'BASICZBR3', dateCode: '20180817', swBuildId: null},
        attrs: {1: {genOnOff: {onOff: 0}}},
        script: [
            ['report', 1, 'genOnOff', {onOff: 0}],
            ['set', {state: 'ON'}],
            ['set', {state: 'OFF'}],
        ],
    },
    {
        slug: 'sonoff_snzb_03',
        model: 'SNZB-03',
        ieee: '0x00124b0024c5d6e7',
        nwk: 0x3e90,
        friendly_name: 'garage/motion',
        type: 'EndDevice',
        manufCode: 0,
        lqi: 84,
        endpoints: [{id: 1, profile: 260, deviceId: 1026, in: [0, 3, 1280, 1], out: [3]}],
        basic: {...BASIC_BATTERY, zclVersion: 1, appVersion: 5, stackVersion: 2, hwVersion: 0, manufacturerName: 'eWeLink', modelId: 'MS01', dateCode: '20201026', swBuildId: null},
        attrs: {1: {genPowerCfg: {batteryPercentageRemaining: 200, batteryVoltage: 30}, ssIasZone: {zoneState: 0, zoneType: 0x000d, zoneStatus: 0}}},
        script: [
            ['report', 1, 'genPowerCfg', {batteryPercentageRemaining: 200, batteryVoltage: 30}],
            ['cmd', 1, 'ssIasZone', 'statusChangeNotification', {zonestatus: 1, extendedstatus: 0, zoneID: 23, delay: 0}, {direction: 1}],
            ['cmd', 1, 'ssIasZone', 'statusChangeNotification', {zonestatus: 0, extendedstatus: 0, zoneID: 23, delay: 0}, {direction: 1}],
        ],
    },
    {
        slug: 'yale_yrd226ha2619',
        model: 'YRD226HA2619',
        ieee: '0x000d6f000c1d2e3f',
        nwk: 0x5a6b,
        friendly_name: 'front door/lock',
        type: 'EndDevice',
        manufCode: 4125,
        lqi: 76,
        endpoints: [{id: 1, profile: 260, deviceId: 0x000a, in: [0, 1, 3, 9, 10, 32, 257], out: [10, 25]}],
        basic: {...BASIC_BATTERY, zclVersion: 8, appVersion: 17, stackVersion: 2, hwVersion: 1, manufacturerName: 'Yale', modelId: 'YRD226 TSDB', dateCode: '20180829', swBuildId: null},
        attrs: {1: {genPowerCfg: {batteryPercentageRemaining: 180, batteryVoltage: 56}, closuresDoorLock: {lockState: 1, lockType: 0, actuatorEnabled: 1, autoRelockTime: 0, soundVolume: 1, operatingMode: 0}, genPollCtrl: {checkinInterval: 14400}}},
        script: [
            ['report', 1, 'genPowerCfg', {batteryPercentageRemaining: 180}],
            ['report', 1, 'closuresDoorLock', {lockState: 1}],
            ['set', {state: 'UNLOCK'}],
            ['report', 1, 'closuresDoorLock', {lockState: 2}],
            ['cmd', 1, 'closuresDoorLock', 'operationEventNotification', {opereventsrc: 1, opereventcode: 2, userid: 3, pin: Buffer.from([]), zigbeelocaltime: 0, data: ''}, {direction: 1}],
            ['set', {state: 'LOCK'}],
            ['report', 1, 'closuresDoorLock', {lockState: 1}],
        ],
    },
    {
        slug: 'tuya_ts0012',
        model: 'TS0012',
        ieee: '0xa4c138f0e1d2c3b4',
        nwk: 0x9e3d,
        friendly_name: 'hallway/wall switch',
        type: 'Router',
        manufCode: 4417,
        lqi: 127,
        endpoints: [
            {id: 1, profile: 260, deviceId: 0x0100, in: [0, 3, 4, 5, 6, 57344, 57345], out: [10, 25]},
            {id: 2, profile: 260, deviceId: 0x0100, in: [4, 5, 6, 57345], out: []},
        ],
        basic: {...BASIC_ROUTER, zclVersion: 3, appVersion: 66, stackVersion: 0, hwVersion: 1, manufacturerName: '_TZ3000_fvh3pjaz', modelId: 'TS0012', dateCode: null, swBuildId: null},
        attrs: {1: {genOnOff: {onOff: 0}}, 2: {genOnOff: {onOff: 0}}},
        script: [
            ['report', 1, 'genOnOff', {onOff: 1}],
            ['report', 2, 'genOnOff', {onOff: 0}],
            ['set', {state_right: 'ON'}],
            ['set', {state: 'OFF'}, 'left'],
            ['set', {state_left: 'ON', state_right: 'OFF'}],
        ],
    },
    {
        slug: 'tuya_ts0002',
        model: 'TS0002_basic',
        ieee: '0xa4c1385e6f7a8b9c',
        nwk: 0x1b5c,
        friendly_name: 'garage/lights relay',
        type: 'Router',
        manufCode: 4417,
        lqi: 118,
        endpoints: [
            {id: 1, profile: 260, deviceId: 0x0100, in: [0, 3, 4, 5, 6, 57344, 57345], out: [10, 25]},
            {id: 2, profile: 260, deviceId: 0x0100, in: [4, 5, 6, 57345], out: []},
        ],
        basic: {...BASIC_ROUTER, zclVersion: 3, appVersion: 66, stackVersion: 0, hwVersion: 1, manufacturerName: '_TZ3000_01gpyda5', modelId: 'TS0002', dateCode: null, swBuildId: null},
        attrs: {1: {genOnOff: {onOff: 0, moesStartUpOnOff: 2}}, 2: {genOnOff: {onOff: 0, moesStartUpOnOff: 2}}},
        script: [
            ['report', 1, 'genOnOff', {onOff: 1}],
            ['report', 2, 'genOnOff', {onOff: 0}],
            ['set', {state_l2: 'ON'}],
            ['set', {state: 'OFF'}, 'l1'],
            ['set', {state_l1: 'ON', state_l2: 'OFF'}],
        ],
    },
    {
        slug: 'aqara_qbkg12lm',
        model: 'QBKG12LM',
        ieee: '0x00158d00023a4b5c',
        nwk: 0x2b7f,
        friendly_name: 'kitchen/wall switch',
        type: 'Router',
        manufCode: 4151,
        lqi: 141,
        // zigbee-herdsman-converters lumi.js QBKG12LM: endpoint() => {left: 1, right: 2}; buttons (decoupled) on 4/5/6
        endpoints: [
            {id: 1, profile: 260, deviceId: 0x0051, in: [0, 3, 4, 5, 1, 2, 10, 6, 16, 2820, 12], out: [10, 25]},
            {id: 2, profile: 260, deviceId: 0x0051, in: [6, 16, 4, 5], out: []},
            {id: 3, profile: 260, deviceId: 0x0100, in: [12], out: []},
            {id: 4, profile: 260, deviceId: 0x0100, in: [18, 6], out: []},
            {id: 5, profile: 260, deviceId: 0x0100, in: [18, 6], out: []},
            {id: 6, profile: 260, deviceId: 0x0100, in: [18, 6], out: []},
        ],
        basic: {...BASIC_ROUTER, zclVersion: 1, appVersion: 2, stackVersion: 2, hwVersion: 1, manufacturerName: 'LUMI', modelId: 'lumi.ctrl_ln2.aq1', dateCode: '20170915', swBuildId: '3000-0001'},
        attrs: {1: {genOnOff: {onOff: 0}}, 2: {genOnOff: {onOff: 0}}},
        // the relays send attribute 0xF000 (61440) together with onOff; lumi_action ignores such reports
        autoReportExtra: {genOnOff: {61440: {value: 0x1a0e0100, type: 0x23}}},
        script: [
            ['report', 1, 'genOnOff', {onOff: 1, 61440: {value: 0x1a0e0100, type: 0x23}}],
            ['report', 2, 'genOnOff', {onOff: 0, 61440: {value: 0x1a0e0100, type: 0x23}}],
            ['set', {state_right: 'ON'}],
            ['set', {state_left: 'OFF'}],
            ['report', 4, 'genOnOff', {onOff: 1}],
            ['report', 6, 'genOnOff', {onOff: 0}],
        ],
    },
];

// Devices that only take part in the pairing / rename / remove / leave scenario (not in devices.json).
const extras = {
    joiner: {
        slug: 'extra_joiner',
        model: 'SNZB-02',
        ieee: '0x00124b0029f1e2d3',
        nwk: 0x4711,
        type: 'EndDevice',
        manufCode: 0,
        lqi: 115,
        endpoints: [{id: 1, profile: 260, deviceId: 770, in: [0, 3, 1026, 1029, 1], out: [3]}],
        basic: {...BASIC_BATTERY, zclVersion: 1, appVersion: 5, stackVersion: 2, hwVersion: 0, manufacturerName: 'eWeLink', modelId: 'TH01', dateCode: '20201026', swBuildId: null},
        attrs: {1: {genPowerCfg: {batteryPercentageRemaining: 200, batteryVoltage: 31}}},
        script: [],
    },
    leaver: {
        slug: 'extra_leaver',
        model: 'E1743',
        ieee: '0x14b457fffe5a6b7c',
        nwk: 0x6c2a,
        type: 'EndDevice',
        manufCode: 4476,
        lqi: 90,
        endpoints: [{id: 1, profile: 260, deviceId: 0x0820, in: [0, 1, 3, 9, 32, 4096, 64636], out: [3, 4, 6, 8, 25, 258, 4096]}],
        basic: {...BASIC_BATTERY, appVersion: 33, stackVersion: 98, hwVersion: 1, manufacturerName: 'IKEA of Sweden', modelId: 'TRADFRI on/off switch', dateCode: '20221020', swBuildId: '24.4.5'},
        attrs: {1: {genPowerCfg: {batteryPercentageRemaining: 200, batteryVoltage: 30}}},
        script: [],
    },
};

module.exports = {coordinator, devices, extras};
