"""One catalogue of the texts staff and residents read, Chinese first, English by a
setting (`lang` "zh" or "en"): alarm names and what to do, session end reasons, port
states, the cabinet's refusal codes and the hub pages' words. Used by the hub's pages
(tools/hub) and the terminal monitor (tools/monitor)."""

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"

# code: (zh name, en name, zh what to do, en what to do)
ALARMS = {
    "overcurrent": ("过流", "overcurrent", "检查车辆充电器和插头，确认后在值班室解锁端口",
                    "inspect the charger and plug, then unlock the port in the duty room"),
    "overpower": ("功率超限", "overpower", "可能接入了非电动车负载，检查后解锁",
                  "probably not an e-bike charger; inspect, then unlock"),
    "port_overtemp": ("端口过热", "port overheating", "断电检查插座和线缆是否发热变色",
                      "check the socket and cable for heat damage"),
    "cabinet_overtemp": ("柜体过热", "cabinet overheating", "检查风扇和通风口，必要时急停",
                         "check fans and vents; emergency-stop if needed"),
    "smoke": ("烟雾报警", "smoke",
        "立即到场查看，按消防规程处置", "go now; follow the fire procedure"),
    "relay_welded": ("继电器粘连", "relay welded", "端口无法断电，切断柜体总电源并报修",
                     "the port cannot switch off: cut the cabinet's mains, call service"),
    "meter_silent": ("电表无数据", "meter silent",
        "检查电表接线，报修", "check the meter wiring, call service"),
    "meter_garbage": ("电表数据错误", "meter garbage", "检查电表接线，报修",
                      "check the meter wiring, call service"),
    "feeder_overload": ("总线路过载", "feeder overload", "减少同时充电数量", "fewer ports at once"),
    "port_locked": ("端口已锁定", "port locked",
        "检查后在值班室解锁", "inspect, then unlock in the duty room"),
    "plug_swap": ("插头调换", "plug swapped",
        "提醒住户使用自己的端口", "remind residents to keep their port"),
    "mains_voltage": ("电网电压异常", "mains voltage", "联系物业电工", "call the site electrician"),
    "door_open": ("柜门未关", "door open", "关好柜门", "close the cabinet door"),
    "sensor_fault": ("传感器故障", "sensor fault", "报修", "call service"),
    "config_invalid": ("配置无效", "config invalid", "重新下发配置", "send the config again"),
    "storage_fault": ("存储故障", "storage fault", "报修", "call service"),
    "outbox_full": ("离线记录将满", "outbox full", "检查柜体网络", "check the cabinet's network"),
    "safe_mode": ("安全模式", "safe mode", "报修", "call service"),
}

REASONS = {
    "full": ("已充满", "full"), "time_limit": ("到达时长", "time limit reached"),
    "energy_limit": ("到达电量", "energy limit reached"),
    "money_limit": ("到达金额", "money limit reached"),
    "user_stop": ("用户结束", "stopped by user"),
    "remote_stop": ("远程结束", "stopped remotely"), "unplugged": ("已拔出", "unplugged"),
    "no_load": ("未检测到充电", "no charging detected"), "overpower": ("功率超限", "overpower"),
    "overcurrent": ("过流", "overcurrent"), "overtemp": ("过热", "overheating"),
    "smoke": ("烟雾", "smoke"), "meter_fault": ("电表故障", "meter fault"),
    "relay_fault": ("继电器故障", "relay fault"), "estop": ("急停", "emergency stop"),
    "max_duration": ("超过最长时长", "maximum duration"), "power_loss": ("停电", "power loss"),
}

STATES = {
    "idle": ("空闲", "free"), "open": ("等待插入", "waiting for the plug"),
    "charging": ("充电中", "charging"), "float": ("涓流", "topping up"),
    "deferred": ("排队等待", "waiting for room"), "ended": ("已结束", "ended"),
    "fault": ("故障", "fault"), "locked": ("已锁定", "locked"), None: ("未知", "unknown"),
}

# the cabinet's (and the hub's) refusal codes, in words a resident understands
ERRORS = {
    "port_busy": ("该端口正在使用，请换一个端口", "this port is in use; pick another"),
    "port_locked": ("该端口已锁定，请联系物业", "this port is locked; call the property office"),
    "port_fault": ("该端口暂不可用，请换一个端口", "this port is out of order; pick another"),
    "feeder_full": ("当前用电已满，请稍后再试", "the cabinet is at its power limit; try later"),
    "bad_args": ("请求有误，请重试", "the request was not accepted; try again"),
    "expired": ("请求已过期，请重试", "the request expired; try again"),
    "replayed": ("重复的请求", "a repeated request"),
    "bad_signature": ("柜体密钥不匹配，请联系物业",
                      "the cabinet's key does not match; call the office"),
    "bad_token": ("请求格式错误", "malformed request"),
    "unknown_op": ("柜体不支持该操作", "not supported"),
    "too_large": ("请求过大", "request too large"),
    "no_reply": ("柜体未响应（可能离线），已全额退款",
                 "the cabinet did not answer (offline?); refunded"),
    "offline": ("柜体离线，请稍后再试", "the cabinet is offline; try later"),
}

UI = {
    "title": ("电动车充电", "E-bike charging"),
    "cabinet": ("充电柜", "Cabinet"), "port": ("端口", "Port"),
    "tariff": ("电费 %s 元/度 + 服务费 %s 元/度", "electricity %s + service %s CNY/kWh"),
    "limit": ("充电方式", "Charge until"), "minutes": ("按时长（分钟）", "time (minutes)"),
    "wh": ("按电量（Wh）", "energy (Wh)"), "fen": ("按金额（分）", "money (fen)"),
    "full": ("充满自停", "full"), "pay": ("支付并开始", "Pay and start"),
    "test_pay": ("测试支付（不扣真实款项）", "TEST payment provider (no real money)"),
    "prepay": ("预付", "prepaid"), "stop": ("结束充电", "Stop"),
    "power": ("功率", "power"), "energy": ("电量", "energy"), "cost": ("费用", "cost"),
    "time": ("时长", "time"), "bill": ("账单", "Bill"), "energy_fee": ("电费", "electricity"),
    "service_fee": ("服务费", "service fee"), "total": ("合计", "total"),
    "refund": ("退款", "refunded"),
    "state_sent": ("已下发，等待柜体", "sent, waiting for the cabinet"),
    "state_started": ("充电已开始", "charging started"),
    "state_refused": ("未能开始", "not started"),
    "state_ended": ("充电已结束", "charging ended"), "reason": ("结束原因", "ended because"),
    "duty": ("值班室", "Duty room"), "login": ("登录", "Log in"), "logout": ("退出", "Log out"),
    "user": ("用户名", "user"), "password": ("密码", "password"),
    "bad_login": ("用户名或密码错误", "wrong user or password"),
    "alarms": ("报警", "Alarms"), "ack": ("确认", "Acknowledge"), "note": ("备注", "Note"),
    "why": ("原因", "why"), "estop": ("急停", "Emergency stop"), "unlock": ("解锁", "Unlock"),
    "online": ("在线", "online"), "offline": ("离线", "OFFLINE"), "acked": ("已确认", "acked"),
    "what_to_do": ("处置", "what to do"), "commands": ("操作记录", "Commands"),
    "level_critical": ("严重", "critical"), "level_warning": ("警告", "warning"),
    "state_raised": ("发生", "raised"), "state_cleared": ("已恢复", "cleared"),
    "lang_other": ("English", "中文"),
    # the terminal monitor's columns and panes (tools/monitor/app.py)
    "col_cabinet": ("柜", "Cabinet"), "col_link": ("连接", "Link"), "col_port": ("端口", "Port"),
    "col_state": ("状态", "State"), "col_w": ("W", "W"), "col_session": ("会话", "Session"),
    "col_elapsed": ("时长", "Elapsed"), "col_wh": ("Wh", "Wh"), "col_fen": ("分", "fen"),
    "col_note": ("备注", "Note"), "col_time": ("时间", "Time"), "col_where": ("位置", "Where"),
    "col_code": ("报警", "Code"), "col_level": ("级别", "Level"),
    "col_value": ("数值", "Value"), "col_ack": ("确认", "Ack"), "col_todo": ("处置", "What to do"),
    "col_event": ("事件", "Event"), "pane_alarms": ("报警（最新在上）", "Alarms (newest first)"),
    "pane_events": ("事件（最新在上）", "Events (newest first)"),
}


def _pick(pair, lang, i=0):
    return pair[i + (1 if lang == "en" else 0)]


def alarm_name(code, lang=DEFAULT_LANG):
    e = ALARMS.get(code)
    return code if e is None else _pick(e, lang)


def alarm_todo(code, lang=DEFAULT_LANG):
    e = ALARMS.get(code)
    return "" if e is None else _pick(e, lang, 2)


def reason(code, lang=DEFAULT_LANG):
    e = REASONS.get(code)
    return code or "" if e is None else _pick(e, lang)


def state(s, lang=DEFAULT_LANG):
    e = STATES.get(s)
    return str(s) if e is None else _pick(e, lang)


def error(code, lang=DEFAULT_LANG):
    e = ERRORS.get(code)
    return str(code) if e is None else _pick(e, lang)


def ui(key, lang=DEFAULT_LANG):
    return _pick(UI[key], lang)


def table(lang=DEFAULT_LANG):
    """Every text in one language, for the pages' scripts."""
    out = {"ui": {k: ui(k, lang) for k in UI}, "reasons": {k: reason(k, lang) for k in REASONS},
           "states": {str(k): state(k, lang) for k in STATES},
           "errors": {k: error(k, lang) for k in ERRORS},
           "alarms": {k: alarm_name(k, lang) for k in ALARMS}}
    return out


def check_lang(lang):
    if lang not in LANGS:
        raise ValueError("lang %r: one of %s" % (lang, ", ".join(LANGS)))
    return lang
