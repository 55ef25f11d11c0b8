# A file-like sink for the simulator's event log (run.Sim writes JSON lines to it): keeps
# every line parsed, in order. Runs on CPython and on the unix port.
import json


class JsonLines:
    def __init__(self):
        self.events = []

    def write(self, s):
        if s != "\n":
            self.events.append(json.loads(s))
