"""The monitor's terminal UI (Textual): cabinets and ports on top, below them the alarm
feed and the event feed (sessions started and ended, cabinets online and offline, the
monitor's own link), stacked, or side by side in a terminal at least WIDE columns wide.

MQTT messages arrive in paho's thread and are posted to the app as `Incoming` messages,
so the model is only touched in the UI thread. Keys: a = acknowledge the selected alarm,
A = acknowledge every shown alarm, f = filter by cabinet glob, Esc = clear the filter,
q = quit.
"""

import json
import time
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import DataTable, Footer, Input, Static

from firmware.core import codes
from tools import texts

from .link import Link
from .model import hms, subscriptions

CAB_COLUMNS = ("Cabinet", "Link", "Port", "State", "W", "Session", "Elapsed", "Wh", "fen",
               "Note")
ALARM_COLUMNS = ("Time", "Cabinet", "Where", "Code", "Level", "State", "Value", "Ack")
EVENT_COLUMNS = ("Time", "Cabinet", "Event")
WIDE = 180  # columns from which the alarm and event feeds sit side by side
STATE_STYLE = {"charging": "green", "float": "green", "open": "cyan", "deferred": "yellow",
               "locked": "bold red", "fault": "bold red", "ended": "blue"}
EVENT_STYLE = {"session_start": "cyan", "session_end": "", "online": "green",
               "offline": "bold red", "retired": "yellow", "link": "italic"}
SAFETY_REASONS = codes.ALERT_REASONS  # session ends shown in red: safety stops and estop


class Incoming(Message):
    """One MQTT message, posted from paho's thread."""

    def __init__(self, topic, payload):
        super().__init__()
        self.topic = topic
        self.payload = payload


class LinkState(Message):
    def __init__(self, text):
        super().__init__()
        self.text = text


_hms = hms


def _clock(epoch, default):
    """HH:MM:SS (local time) of an epoch, else of default when that is a number."""
    t = epoch if isinstance(epoch, (int, float)) else default
    return time.strftime("%H:%M:%S", time.localtime(t)) if isinstance(t, (int, float)) else t


def _num(v, fmt="%s"):
    return "" if v is None else fmt % v


def alarm_style(a):
    # A critical alarm stays red until acknowledged, cleared or not; a warning turns green
    # when its clear arrives (folded into its row, model.py).
    if a.state == "cleared" or (a.cleared and not a.critical):
        style = "green"
    elif a.critical:
        style = "bold white on red" if not a.acked else "red"
    else:
        style = "bold yellow"
    return style + " dim" if a.acked else style


def event_style(e):
    if e.kind == "session_end" and e.reason in SAFETY_REASONS:
        return "red"  # a safety stop (its alarm is in the alarm feed)
    if e.kind == "link" and e.text != "broker connected":
        return "italic yellow"  # the monitor's link down: what it shows may be stale
    return EVENT_STYLE.get(e.kind, "")


def _sig(cell):
    return (cell.plain, str(cell.style)) if isinstance(cell, Text) else (cell, None)


def _fit_columns(table, rows):
    """Widen the auto-width columns to their widest cell at once. DataTable measures new
    and updated cells only when idle, and a frame drawn before that stays cached with the
    old widths until the table's next change (Textual issue #3533): a new event's line, or
    a longer alarm state, would stay cut short on screen."""
    for i, col in enumerate(table.columns.values()):
        if col.auto_width:
            need = max((cell_len(_sig(cells[i])[0]) for _, cells in rows if i < len(cells)),
                       default=0)
            if need > col.content_width:
                col.content_width = need


def _sync(table, rows):
    """Show rows [(key, cells)] in order: update changed cells in place when the row keys
    are unchanged (no flicker, scroll kept), else rebuild the table."""
    keys = [k for k, _ in rows]
    old = getattr(table, "_mon_rows", None)
    changed = False
    if old is not None and [k for k, _ in old] == keys:
        columns = list(table.columns)
        for (key, cells), (_, was) in zip(rows, old):
            for col, cell, prev in zip(columns, cells, was):
                if _sig(cell) != _sig(prev):
                    table.update_cell(key, col, cell, update_width=True)
                    changed = True
    else:
        row = table.cursor_row
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))
        changed = True
    if changed:
        _fit_columns(table, rows)
    table._mon_rows = rows


class MonitorApp(App):
    TITLE = "e-bike cabinets"
    # The ports table takes what it needs up to 45% of the screen, the feeds the rest:
    # stacked, the alarms what they need up to half of it (at least 5 lines: title,
    # header, rows), the events the remainder (80x24: 8 rows of ports, 3 of alarms, 4 of
    # events); side by side from WIDE columns, both as tall as the space.
    CSS = """
    #banner { height: 1; background: $panel; }
    #banner.alert { background: red; color: white; text-style: bold; }
    #cabinets { height: auto; max-height: 45%; }
    #feeds { height: 1fr; layout: vertical; }
    Screen.-wide #feeds { layout: horizontal; }
    #alarms { height: auto; min-height: 5; max-height: 50%; border-top: solid red; }
    #events { height: 1fr; max-height: 100%; border-top: solid $accent; }
    Screen.-wide #alarms { height: 1fr; max-height: 100%; width: 3fr; }
    Screen.-wide #events { width: 2fr; border-left: vkey $accent; }
    #filter { display: none; }
    #filter.shown { display: block; }
    """
    HORIZONTAL_BREAKPOINTS: ClassVar = [(0, "-narrow"), (WIDE, "-wide")]
    BINDINGS: ClassVar = [
        Binding("a", "ack", "Ack alarm"),
        Binding("A", "ack_all", "Ack all shown"),
        Binding("f", "filter", "Filter site"),
        Binding("escape", "clear_filter", "Clear filter"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, model, broker, forwarder=None, publish_acks=False, link_options=None,
                 refresh_s=0.25, lang="en"):
        super().__init__()
        # "zh": alarm names, levels, states, end reasons and what to do from tools/texts.py
        # (the command line's default); "en" keeps the wire words
        self.lang = texts.check_lang(lang)
        self.model = model
        self.broker = broker
        self.forwarder = forwarder
        self.publish_acks = publish_acks
        self.link_options = link_options or {}
        self.refresh_s = refresh_s
        self.link = None
        self.link_state = "starting"
        self.dirty = True
        self.drawn_at = 0.0
        self.shown_alarms = []  # alarm keys in table order
        self.alarm_shown_at = {}  # alarm key -> monotonic time its row was drawn

    def compose(self) -> ComposeResult:
        yield Static("", id="banner")
        yield DataTable(id="cabinets", cursor_type="row", zebra_stripes=True)
        with Container(id="feeds"):
            yield DataTable(id="alarms", cursor_type="row")
            yield DataTable(id="events", cursor_type="none")
        yield Input(placeholder="cabinet glob, e.g. garden-*  (Enter applies, Esc cancels)",
                    id="filter")
        yield Footer()

    def on_mount(self):
        zh = self.lang == "zh"
        self.query_one("#cabinets", DataTable).add_columns(*(
            [self._col(c) for c in CAB_COLUMNS] if zh else CAB_COLUMNS))
        alarms = self.query_one("#alarms", DataTable)
        alarms.add_columns(*([self._col(c) for c in ALARM_COLUMNS] + [texts.ui("col_todo")]
                             if zh else ALARM_COLUMNS))
        alarms.border_title = texts.ui("pane_alarms", self.lang)
        events = self.query_one("#events", DataTable)
        events.add_columns(*([self._col(c) for c in EVENT_COLUMNS] if zh else EVENT_COLUMNS))
        events.border_title = texts.ui("pane_events", self.lang)
        alarms.focus()
        self.set_interval(self.refresh_s, self._tick)
        host, port = self.broker
        self.link = Link(host, port, subscriptions(self.model.prefix_glob),
                         on_message=lambda t, p: self.post_message(Incoming(t, p)),
                         on_state=lambda s: self.post_message(LinkState(s)),
                         **self.link_options)
        self.link.start()
        self._draw()

    def on_unmount(self):
        if self.link is not None:
            self.link.stop()
        if self.forwarder is not None:
            self.forwarder.close()

    # ------------------------------------------------------------ input from MQTT
    def on_incoming(self, msg: Incoming):
        alarm = self.model.handle(msg.topic, msg.payload)
        self.dirty = True
        if alarm is not None:
            if self.forwarder is not None and alarm.critical:
                self.forwarder.submit(alarm.as_dict())  # queue only: never blocks
            self._draw()  # alarms are shown at once, not at the next tick
        elif msg.topic.endswith(("/status", "/event")):
            self._draw()  # so are a cabinet going online or offline and session records

    def on_link_state(self, msg: LinkState):
        self.link_state = msg.text
        self.model.link_event(msg.text)
        self.dirty = True

    def _tick(self):
        # Elapsed and last-seen ages move with time: redraw at least once a second.
        if self.dirty or time.monotonic() - self.drawn_at >= 1.0:
            self._draw()

    # ------------------------------------------------------------ drawing
    def _draw(self):
        self.dirty = False
        self.drawn_at = time.monotonic()
        try:
            self._draw_banner()
            self._draw_cabinets()
            self._draw_alarms()
            self._draw_events()
        except NoMatches:  # a redraw racing the screen's mount or teardown: next tick
            self.dirty = True

    def _draw_banner(self):
        m = self.model
        crit = len(m.unacked_critical())
        text = "broker %s:%d %s | site %s/%s | view %s | %d cabinets" % (
            self.broker[0], self.broker[1], self.link_state, m.prefix_glob, m.cabinet_glob,
            m.view_glob, len(m.visible_cabinets()))
        if crit:
            text = "%d UNACKNOWLEDGED CRITICAL | " % crit + text
        if self.forwarder is not None:
            st = self.forwarder.stats()
            text += " | webhook sent %d failed %d queued %d" % (st["sent"], st["failed"],
                                                                st["pending"])
        banner = self.query_one("#banner", Static)
        banner.update(text)
        banner.set_class(crit > 0, "alert")

    def _col(self, name):
        return texts.ui("col_" + name.lower(), self.lang)

    def _draw_cabinets(self):
        now, wall = self.model.clock(), self.model.wall()
        rows = []
        for c in self.model.visible_cabinets():
            if c.online is None:
                link = Text("?", style="yellow")
            else:
                link = Text(texts.ui("online" if c.online else "offline", self.lang),
                            style="green" if c.online else "bold white on red")
            active = len(self.model.active_alarms(c.root))
            age = "" if c.last_seen is None else "seen %ds ago" % (now - c.last_seen)
            note = "fw %s  %s" % (c.fw or "?", age)
            if active:
                note = "%d active alarm(s)  " % active + note
            rows.append((c.root, (Text(c.id, style="bold"), link, "", "", "", "", "", "", "",
                                  note)))
            stale = " dim" if c.online is False else ""  # last known, cabinet is offline
            cab_now = c.clock_estimate(wall)  # a session's start is on the cabinet's clock
            for p in c.port_list():
                st = Text(p.state or "?" if self.lang == "en" else texts.state(p.state, "zh"),
                          style=STATE_STYLE.get(p.state, "") + stale)
                end = "" if not p.last_end else "last: %s" % (
                    p.last_end[0] if self.lang == "en" else texts.reason(p.last_end[0], "zh"))
                rows.append(("%s:%d" % (c.root, p.p), (
                    "", "", str(p.p + 1), st, _num(p.w, "%.0f"), (p.sid or "")[-12:],
                    _hms(p.elapsed(cab_now)) if p.sid or p.el else "", _num(p.wh, "%.1f"),
                    _num(p.fen), end)))
        _sync(self.query_one("#cabinets", DataTable), rows)

    def _draw_alarms(self):
        table = self.query_one("#alarms", DataTable)
        # At the top, the cursor stays on the newest alarm; moved down, it follows its alarm.
        keep = self.selected_alarm() if table.cursor_row > 0 else None
        rows = []
        for a in self.model.visible_alarms():
            style = alarm_style(a)
            t = _clock(a.t, a.received)
            # A clear is folded into its alarm's row (model.py): the row tells when.
            state = a.state + (" -> cleared %s" % _clock(a.cleared_t, "?") if a.cleared else "")
            cells = (t, a.cabinet, a.where(), a.code, a.level, state,
                     _num(a.value), "ack" if a.acked else "")
            if self.lang == "zh":
                where = "柜体" if a.port is None else "端口 %d" % (a.port + 1)
                lvl = "level_" + str(a.level)
                state = texts.ui("state_cleared") if a.cleared or a.state == "cleared" else \
                    texts.ui("state_raised")
                cells = (t, a.cabinet, where, "%s %s" % (texts.alarm_name(a.code), a.code),
                         texts.ui(lvl) if lvl in texts.UI else a.level, state, _num(a.value),
                         texts.ui("acked") if a.acked else "", texts.alarm_todo(a.code))
            rows.append((a.key, tuple(Text(str(x), style=style) for x in cells)))
        _sync(table, rows)
        self.shown_alarms = [k for k, _ in rows]
        now = time.monotonic()
        for k in self.shown_alarms:
            self.alarm_shown_at.setdefault(k, now)
        if keep in self.shown_alarms:
            table.move_cursor(row=self.shown_alarms.index(keep))
        elif keep is None and rows:
            table.move_cursor(row=0)

    def _draw_events(self):
        rows = []
        for e in self.model.visible_events():
            style = event_style(e)
            text = e.text
            if self.lang == "zh" and e.reason:
                text = text.replace(": %s" % e.reason, ": %s" % texts.reason(e.reason), 1)
            cells = (_clock(e.t, e.received), e.who(), text)
            rows.append((e.key, tuple(Text(str(x), style=style) for x in cells)))
        _sync(self.query_one("#events", DataTable), rows)

    def selected_alarm(self):
        table = self.query_one("#alarms", DataTable)
        if not self.shown_alarms or table.row_count == 0:
            return None
        return self.shown_alarms[min(table.cursor_row, len(self.shown_alarms) - 1)]

    # ------------------------------------------------------------ actions
    def action_ack(self):
        key = self.selected_alarm()
        a = self.model.ack(key) if key else None
        if a is not None:
            self._publish_ack([a])
            self._draw()

    def action_ack_all(self):
        self._publish_ack(self.model.ack_all())
        self._draw()

    def _publish_ack(self, alarms):
        if not self.publish_acks or self.link is None:
            return
        for a in alarms:
            self.link.publish(a.root + "/ack", json.dumps(
                {"id": a.id, "code": a.code, "port": a.port, "by": "monitor",
                 "t": int(time.time())}))

    def action_filter(self):
        box = self.query_one("#filter", Input)
        box.value = "" if self.model.view_glob == "*" else self.model.view_glob
        box.add_class("shown")
        box.focus()

    def action_clear_filter(self):
        box = self.query_one("#filter", Input)
        if box.has_class("shown"):
            box.remove_class("shown")
        else:
            self.model.set_view("*")
        self.query_one("#alarms", DataTable).focus()
        self._draw()

    def on_input_submitted(self, event: Input.Submitted):
        self.model.set_view(event.value.strip() or "*")
        event.input.remove_class("shown")
        self.query_one("#alarms", DataTable).focus()
        self._draw()
