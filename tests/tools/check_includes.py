#!/usr/bin/python3
"""Fails when a source file includes (C++) or imports (JavaScript) across an edge the architecture
does not allow (docs/architecture.md, "Allowed edges"; DESIGN's list plus the two the code taught
us: the native client uses the capture primitives, the admin console imports the web client's
shared modules).

    tests/tools/check_includes.py [ROOT]        exit 1 and one line per forbidden edge
    tests/tools/check_includes.py --self-test   proves the check fails on a forbidden include

Run by ctest (include_edges, include_edges_self_test; label unit). Tests and benchmarks are tops
that may use any module, so tests/ and bench/ are not checked; the build folders are skipped.
"""

import os
import re
import sys
import tempfile

# Module of a path: the longest matching folder prefix.
MODULES = {
    "common/": "common",
    "protocol/": "protocol",
    "x11/": "x11",
    "capture/x11/": "capture/x11",
    "capture/": "capture",
    "codec/": "codec",
    "session-host/": "session-host",
    "broker/console/": "console",
    "broker/": "broker",
    "client/native/": "client/native",
    "client/web/": "client/web",
    "packager/": "packager",
}

# What each module may include besides itself. Nothing includes broker/ or session-host/.
ALLOWED = {
    "common": set(),
    "protocol": {"common"},
    "capture": set(),  # the frame primitives are the base
    "capture/x11": {"capture"},  # the X11 back-ends; only the session host uses them
    "x11": set(),  # the X selection protocol: the host's and the native client's clipboards
    "codec": {"capture"},
    "session-host": {"capture", "capture/x11", "x11", "codec", "protocol", "common"},
    "broker": {"protocol", "common"},
    "client/native": {"protocol", "codec", "common", "capture", "x11"},
    "packager": {"common"},
    "client/web": set(),
    "console": {"client/web"},  # the web client's shared modules, served beside the console
}

CPP_EXT = (".cpp", ".hpp", ".h", ".cc", ".c")
JS_EXT = (".js", ".mjs")
CPP_INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)
JS_IMPORT = re.compile(r'''^\s*(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]''', re.M)
SKIP_DIRS = {"tests", "bench", "node_modules", ".git", "third_party"}


def module_of(rel):
    best = None
    for prefix, name in MODULES.items():
        if rel.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, name)
    return best[1] if best else None


def resolve_cpp(root, rel_file, target):
    """The repository path an #include "target" names: from the root (the project's style), else
    beside the including file. None for a header outside the repository."""
    for candidate in (target, os.path.normpath(os.path.join(os.path.dirname(rel_file), target))):
        if os.path.isfile(os.path.join(root, candidate)):
            return candidate
    return None


# Where the broker serves each folder's files (broker/http_session.cpp): /console/ is the admin
# console, everything else under / the web client.
SERVED = [("/console/", "broker/console/"), ("/", "client/web/")]


def resolve_js(rel_file, target):
    """The repository path a JS import names: a server path by where the broker serves it, a
    relative one beside the importing file; None for a package name (not ours)."""
    if target.startswith("/"):
        for url, folder in SERVED:
            if target.startswith(url):
                return os.path.normpath(folder + target[len(url):])
    if target.startswith("."):
        return os.path.normpath(os.path.join(os.path.dirname(rel_file), target))
    return None


def violations(root, counts=None):
    """Forbidden edges under root, one line each; counts (a dict) gets files and edges checked."""
    found = []
    counts = {} if counts is None else counts
    counts.update(files=0, edges=0)
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames[:] = sorted(d for d in dirnames
                             if d not in SKIP_DIRS and not d.startswith("build") and not d.startswith("."))
        for name in sorted(filenames):
            rel = os.path.normpath(os.path.join(rel_dir, name))
            module = module_of(rel)
            if module is None or not name.endswith(CPP_EXT + JS_EXT):
                continue
            with open(os.path.join(dirpath, name), encoding="utf-8", errors="replace") as f:
                text = f.read()
            if name.endswith(CPP_EXT):
                targets = [(m.group(1), resolve_cpp(root, rel, m.group(1))) for m in CPP_INCLUDE.finditer(text)]
            else:
                targets = [(t, resolve_js(rel, t))
                           for m in JS_IMPORT.finditer(text) for t in [m.group(1) or m.group(2)]]
            counts["files"] += 1
            for written, path in targets:
                if path is None:
                    continue
                target_module = module_of(path)
                if target_module is None or target_module == module:
                    continue
                counts["edges"] += 1
                if target_module not in ALLOWED[module]:
                    line = text[:text.find(written)].count("\n") + 1
                    found.append(f"{rel}:{line}: {module} may not include {target_module} ({written})")
    return found


def self_test():
    """A tree with one allowed and one forbidden edge of each language: the check must report
    exactly the forbidden ones."""
    with tempfile.TemporaryDirectory() as root:
        files = {
            "common/log.hpp": "#pragma once\n",
            "protocol/display.hpp": '#include "common/log.hpp"\n',
            "broker/core.hpp": "#pragma once\n",
            "codec/png_tile.cpp": '#include "common/log.hpp"\n#include "codec/png_tile.hpp"\n',
            "codec/png_tile.hpp": "#pragma once\n",
            "client/native/headless.cpp": '#include "broker/core.hpp"\n#include "protocol/display.hpp"\n',
            "client/web/rest.js": "export const api = 1;\n",
            "client/web/app.js": "import { c } from '/console/console.js';\nimport { api } from './rest.js';\n",
            "broker/console/console.js": "export const c = 1;\nimport { api } from '/rest.js';\n",
        }
        for rel, text in files.items():
            os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
            with open(os.path.join(root, rel), "w") as f:
                f.write(text)
        got = sorted(v.split(": ", 1)[1] for v in violations(root))
        want = sorted(["client/native may not include broker (broker/core.hpp)",
                       "codec may not include common (common/log.hpp)",
                       "client/web may not include console (/console/console.js)"])
        if got != want:
            print("self-test FAILED: expected", want, "got", got)
            return 1
        print("self-test passed: the check reports exactly the 3 forbidden edges of the sample tree")
        return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
    counts = {}
    found = violations(root, counts)
    for v in found:
        print(v)
    print(f"{counts['files']} files, {counts['edges']} includes across modules: " +
          (f"{len(found)} forbidden" if found else "every one follows the allowed edges"))
    if counts["edges"] == 0:  # looked in the wrong place: nothing was checked
        print("no include across modules found: is ROOT the repository?")
        return 1
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
