"""Install the pinned MicroPython packages into lib/ (CPython host tool).

The packages are old-style sdists pip cannot install, so this reads the package index's
JSON API by project name, downloads the pinned release, checks its sha256 against
tools/deps.lock and unpacks only the module files into lib/.

    python tools/fetch_deps.py [--lock tools/deps.lock] [--lib lib]

The JSON API base comes from pip's own default index (override: PIP_JSON_API).
Exit status 0 when lib/ holds every pinned module, 2 with a message naming the
package otherwise.
"""

import argparse
import hashlib
import io
import json
import os
import sys
import tarfile
import urllib.error
import urllib.request

TIMEOUT_S = 60


def json_api_base():
    base = os.environ.get("PIP_JSON_API")
    if base:
        return base.rstrip("/")
    from pip._internal.models.index import PyPI  # pip's default index, not named here

    return PyPI.pypi_url.rstrip("/")


def read_lock(path):
    pins = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 4:
                raise SystemExit("%s:%d: want 'name version sha256 member', got %r"
                                 % (path, n, line))
            pins.append(tuple(parts))
    return pins


def stamp_path(lib, name):
    return os.path.join(lib, ".%s.sha256" % name)


def installed(lib, name, sha, member):
    try:
        with open(stamp_path(lib, name)) as f:
            ok = f.read().strip() == sha
    except OSError:
        return False
    return ok and os.path.exists(os.path.join(lib, member))


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as r:
            return r.read()
    except (urllib.error.URLError, OSError) as e:
        raise RuntimeError("cannot download %s: %s (is the package index reachable?)"
                           % (url, e)) from e


def release_url(base, name, version):
    meta = json.loads(fetch("%s/%s/json" % (base, name)))
    files = meta.get("releases", {}).get(version)
    if not files:
        raise RuntimeError("%s has no release %s on the index (has: %s)"
                           % (name, version, ", ".join(sorted(meta.get("releases", {})))))
    for f in files:
        if f.get("packagetype") == "sdist" or f["filename"].endswith(".tar.gz"):
            return f["url"]
    raise RuntimeError("%s %s has no sdist" % (name, version))


def install(base, lib, name, version, sha, member):
    blob = fetch(release_url(base, name, version))
    got = hashlib.sha256(blob).hexdigest()
    if got != sha:
        raise RuntimeError("%s %s: sha256 mismatch: want %s, got %s (refusing to install)"
                           % (name, version, sha, got))
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        wanted = [m for m in tar.getmembers() if m.isfile() and m.name.split("/", 1)[-1] == member]
        if not wanted:
            raise RuntimeError("%s %s: archive has no %s" % (name, version, member))
        f = tar.extractfile(wanted[0])
        if f is None:
            raise RuntimeError("%s %s: %s is not a regular file" % (name, version, member))
        data = f.read()
    dest = os.path.join(lib, member)
    os.makedirs(os.path.dirname(dest) or lib, exist_ok=True)
    tmp = dest + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, dest)
    with open(stamp_path(lib, name), "w") as f:
        f.write(sha + "\n")
    print("deps: installed %s %s -> %s" % (name, version, dest))


def main(argv=None):
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--lock", default=os.path.join(here, "deps.lock"))
    ap.add_argument("--lib", default=os.path.join(os.path.dirname(here), "lib"))
    a = ap.parse_args(argv)
    pins = read_lock(a.lock)
    todo = [p for p in pins if not installed(a.lib, p[0], p[2], p[3])]
    if not todo:
        return 0
    base = json_api_base()
    try:
        for name, version, sha, member in todo:
            install(base, a.lib, name, version, sha, member)
    except RuntimeError as e:
        print("deps: error: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
