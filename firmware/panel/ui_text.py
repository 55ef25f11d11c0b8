# What the cabinet's screen says, in Chinese (the default) and English (config `lang`).
#
# Screen ids and message keys are shared by firmware/panel/resident.py (which decides what to
# show) and firmware/panel/ui.py (which draws it). Refusal messages are keyed by the refusal
# codes of firmware/core/codes.py, so a code from App.start() is its own message key.
# tools/glyphs.py reads every string here and builds lib/glyphs_zh.py with the 16x16
# Unifont glyph of each non-ASCII character: a new character here needs `make glyphs`.
#
# Layout limits (128x64 OLED): a Chinese character is 16 px wide, an ASCII one 8 px, so
# a line holds 8 Chinese characters; "\n" breaks a line, longer lines wrap. A message
# has at most 4 lines in Chinese (16 px rows), 6 in English (10 px rows). "{}" is the
# port number as residents see it (1-based).

# Screen ids
IDLE = "idle"
GRID = "grid"
CHOOSE = "choose"
CONFIRM = "confirm"
AUTH = "auth"
SESSION = "session"
ALARM = "alarm"
MSG = "msg"
QR = "qr"
SCREENS = (IDLE, GRID, CHOOSE, CONFIRM, AUTH, SESSION, ALARM, MSG, QR)

# Message keys besides the refusal codes of codes.py (port_busy, port_locked,
# port_fault, feeder_full, bad_args)
STARTED = "started"
STOPPED = "stopped"
CARD_DENIED = "card_denied"
OFFLINE_UNKNOWN = "offline_unknown"
TIMEOUT = "timeout"
BAD_PORT = "bad_port"
FAILED = "failed"
SWIPE_FIRST = "swipe_first"

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"

ZH = {
    # idle, QR and port grid
    "free_ports": "空闲",
    "swipe_card": "请刷卡充电",
    "scan_qr": "扫码充电\n或刷卡",
    "ports": "端口状态",
    "port_free": "空闲",
    "port_busy": "使用中",
    "port_locked": "已锁定",
    "cell_free": "空",
    "cell_busy": "充",
    "cell_locked": "锁",
    "cell_fault": "坏",
    # the resident flow
    "choose": "请输入端口号",
    "hint": "按#确认 *返回",
    "confirm": "{}号口充电？",
    "checking": "正在验证卡片\n请稍候",
    STARTED: "{}号口已通电\n请插好充电器",
    STOPPED: "{}号口已停止\n请拔下充电器",
    SWIPE_FIRST: "请先刷卡",
    # refusals, in words a resident understands
    "port_busy_msg": "该口正在使用\n请换一个口",
    "port_locked_msg": "该口已锁定\n等待检修\n请换一个口",
    "port_fault_msg": "该口故障\n请换一个口",
    "feeder_full_msg": "柜子用电已满\n请稍后再试",
    "bad_args_msg": "无法开始充电\n请重试",
    CARD_DENIED: "此卡不能使用\n请联系物业",
    OFFLINE_UNKNOWN: "网络不通\n此卡不在离线名单\n请稍后再试",
    TIMEOUT: "操作超时\n请重新刷卡",
    BAD_PORT: "没有这个端口号",
    FAILED: "操作失败\n请重试",
    # session screen
    "port_n": "{}号口",
    "charging": "充电中",
    "full": "已充满",
    "waiting": "等待中",
    "elapsed": "已充",
    "energy": "电量",
    "cost": "费用",
    "limit": "限",
    "yuan": "元",
    "limit_full": "充满",
    # alarm screen; alarm codes of codes.py as "a_" + code
    "alarm": "警告",
    "call_staff": "请联系物业",
    "a_overcurrent": "电流过大",
    "a_overpower": "功率过大",
    "a_port_overtemp": "端口过热",
    "a_cabinet_overtemp": "柜内温度过高",
    "a_smoke": "检测到烟雾\n请远离柜子",
    "a_relay_welded": "继电器故障",
    "a_meter_silent": "电表无响应",
    "a_meter_garbage": "电表数据错误",
    "a_feeder_overload": "总电源过载",
    "a_port_locked": "端口已锁定",
    "a_sensor_fault": "传感器故障",
    "a_config_invalid": "配置错误",
    "a_other": "设备故障",
}

EN = {
    "free_ports": "Free",
    "swipe_card": "Swipe card",
    "scan_qr": "Scan or swipe to charge",
    "ports": "Ports",
    "port_free": "free",
    "port_busy": "in use",
    "port_locked": "locked",
    "cell_free": "",
    "cell_busy": "ON",
    "cell_locked": "LK",
    "cell_fault": "!!",
    "choose": "Enter port:",
    "hint": "#=OK  *=back",
    "confirm": "Charge on port {}?",
    "checking": "Checking card...",
    STARTED: "Port {} is on. Plug in your charger.",
    STOPPED: "Port {} stopped. Unplug your charger.",
    SWIPE_FIRST: "Swipe your card first.",
    "port_busy_msg": "This port is in use. Please choose another.",
    "port_locked_msg": "This port is locked for inspection. Please choose another.",
    "port_fault_msg": "This port is out of order. Please choose another.",
    "feeder_full_msg": "The cabinet is at full power. Please try later.",
    "bad_args_msg": "Could not start. Please try again.",
    CARD_DENIED: "This card cannot be used. Please call the property office.",
    OFFLINE_UNKNOWN: "No network, and this card is not on the offline list.",
    TIMEOUT: "Timed out. Please swipe again.",
    BAD_PORT: "No such port",
    FAILED: "That did not work. Please try again.",
    "port_n": "Port {}",
    "charging": "charging",
    "full": "full",
    "waiting": "waiting",
    "elapsed": "Time",
    "energy": "Energy",
    "cost": "Cost",
    "limit": "Max",
    "yuan": " yuan",
    "limit_full": "full",
    "alarm": "ALARM",
    "call_staff": "Call the office",
    "a_overcurrent": "Overcurrent",
    "a_overpower": "Power too high",
    "a_port_overtemp": "Port overheating",
    "a_cabinet_overtemp": "Cabinet too hot",
    "a_smoke": "Smoke! Keep away from the cabinet",
    "a_relay_welded": "Relay fault",
    "a_meter_silent": "Meter silent",
    "a_meter_garbage": "Meter data error",
    "a_feeder_overload": "Supply overload",
    "a_port_locked": "Port locked",
    "a_sensor_fault": "Sensor fault",
    "a_config_invalid": "Config error",
    "a_other": "Fault",
}

TABLES = {"zh": ZH, "en": EN}


def table(lang):
    """The string table for `lang`; Chinese for an unknown language."""
    return TABLES.get(lang, ZH)


def get(tab, key):
    """tab[key]; the Chinese text when the table lacks it, the key itself as a last resort."""
    s = tab.get(key)
    if s is None:
        s = ZH.get(key, key)
    return s


def message(tab, key):
    """The text of a message key; refusal codes map to their "<code>_msg" entries."""
    s = tab.get(key + "_msg")
    if s is None:
        s = get(tab, key)
    return s
