"""Forward critical alarms to a webhook (a chat-group robot) without blocking the caller.

`submit(alarm_dict)` only puts the alarm on a bounded queue; one worker thread POSTs it
as JSON with bounded retries and exponential backoff. Alarms are de-duplicated by
(cabinet root, alarm id): a duplicate delivery from the broker is sent once. An alarm
that still fails after every retry is forgotten, so a later redelivery tries again.

Body: {"msgtype": "text", "text": {"content": "..."}, "alarm": {...}} - the text shape
WeCom and DingTalk group robots accept; other receivers read `alarm`. A 2xx answer is
success unless its JSON body has a non-zero `errcode` (those robots answer 200 on error).
"""

import json
import queue
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict

from tools import texts

_STOP = object()


class Forwarder:
    def __init__(self, url, attempts=5, backoff_s=0.5, backoff_max_s=10.0, timeout_s=5.0,
                 queue_max=200, remember=5000, sleep=time.sleep, lang=texts.DEFAULT_LANG):
        if not url.startswith(("http://", "https://")):
            raise ValueError("--webhook %r: not an http:// or https:// URL" % url)
        self.url = url
        self.lang = texts.check_lang(lang)
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.timeout_s = timeout_s
        self.remember = remember
        self.sleep = sleep
        self.q = queue.Queue(queue_max)
        self.seen = OrderedDict()  # keys queued or delivered, oldest first
        self.lock = threading.Lock()
        self.sent = 0
        self.failed = 0
        self.dropped = 0  # queue full
        self.duplicates = 0
        self.retries = 0
        self.last_error = None
        self.thread = threading.Thread(target=self._run, name="webhook", daemon=True)
        self.thread.start()

    def submit(self, alarm):
        """Queue one alarm dict (needs `root` and `id`); never blocks. False if skipped."""
        key = "%s#%s" % (alarm.get("root"), alarm.get("id"))
        with self.lock:
            if key in self.seen:
                self.duplicates += 1
                return False
            self.seen[key] = True
            while len(self.seen) > self.remember:
                self.seen.popitem(last=False)
        try:
            self.q.put_nowait((key, alarm))
        except queue.Full:
            with self.lock:
                self.dropped += 1
                self.seen.pop(key, None)
            return False
        return True

    def close(self, timeout_s=2.0):
        """Stop the worker after the alarm in hand (bounded wait)."""
        try:
            self.q.put_nowait(_STOP)
        except queue.Full:
            pass
        self.thread.join(timeout_s)

    def pending(self):
        return self.q.qsize()

    def stats(self):
        return {"sent": self.sent, "failed": self.failed, "dropped": self.dropped,
                "duplicates": self.duplicates, "retries": self.retries,
                "pending": self.pending()}

    # ------------------------------------------------------------ worker
    def _run(self):
        while True:
            item = self.q.get()
            if item is _STOP:
                return
            key, alarm = item
            if self._deliver(alarm):
                self.sent += 1
            else:
                self.failed += 1
                with self.lock:
                    self.seen.pop(key, None)

    def _deliver(self, alarm):
        body = json.dumps(body_for(alarm, self.lang), ensure_ascii=False).encode()
        delay = self.backoff_s
        for attempt in range(self.attempts):
            if attempt:
                self.retries += 1
                self.sleep(delay)
                delay = min(delay * 2, self.backoff_max_s)
            try:
                if self._post(body):
                    return True
            except (OSError, urllib.error.URLError, ValueError) as e:
                self.last_error = str(e)
        return False

    def _post(self, body):
        req = urllib.request.Request(self.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as r:
                answer = r.read(4096)
        except urllib.error.HTTPError as e:
            self.last_error = "HTTP %d" % e.code
            return False
        try:
            doc = json.loads(answer) if answer else None
        except ValueError:
            doc = None
        if isinstance(doc, dict) and doc.get("errcode") not in (None, 0):
            self.last_error = "errcode %s" % doc.get("errcode")
            return False
        return True


def body_for(alarm, lang="en"):
    """The robot text (tools/texts.py catalogue; the level and code stay as on the wire)."""
    port, code, zh = alarm.get("port"), alarm.get("code"), lang == "zh"
    if zh:
        where = "柜体" if port is None else "端口 %d" % (port + 1)
    else:
        where = "cabinet" if port is None else "port %d" % (port + 1)
    name = texts.alarm_name(code, lang)
    text = "[%s] %s %s: %s%s %s" % (str(alarm.get("level", "")).upper(), alarm.get("cabinet"),
                                    where, name, "" if name == code else " (%s)" % code,
                                    alarm.get("state"))
    if alarm.get("value") is not None:
        text += " (value %s)" % alarm["value"]
    todo = texts.alarm_todo(code, lang)
    if todo:
        text += (" 处置: " if zh else " - ") + todo
    return {"msgtype": "text", "text": {"content": text}, "alarm": alarm}
