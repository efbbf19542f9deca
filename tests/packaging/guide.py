"""The steps docs/admin.md marks for its test (test_admin_guide.py), in the guide's order.

The guide marks what a person does on which machine; this module reads those marks and nothing
else, so the test runs the guide's own text:

  <!-- guide-test machines: db=db.example.org,portico.example.org broker1=broker1.example.org -->
      the machines and the names each answers to (the guide asks for them in DNS or /etc/hosts)
  ```sh {machine=broker1,broker2 prints=VAR}
      a block of commands, run as root in a shell on each machine named (`all`: every machine);
      prints=VAR: its output has lines `NAME: VALUE`, the value of VAR for machine NAME
  <!-- guide-test copy: SOURCE -> m1,m2:/dir/ -->
      a file the guide tells the person to copy (scp): SOURCE is `build:GLOB` (a package the
      build made), `source:PATH` (the checkout) or `machine:PATH`

In a block, a line `VAR=<what to put here>` is a value the person fills in: the test fills it the
same way, from its own settings or from what an earlier `prints=VAR` block printed for the
machine. Variables a block sets stay set for the later blocks on that machine, as in one shell.
"""

import re
from dataclasses import dataclass, field

MACHINES = re.compile(r"^<!-- guide-test machines: (.+?) -->$")
COPY = re.compile(r"^<!-- guide-test copy: (\S+) -> ([\w,-]+):(\S+) -->$")
FENCE = re.compile(r"^```sh \{(.*)\}\s*$")
PLACEHOLDER = re.compile(r"^([A-Z_][A-Z0-9_]*)=<[^<>]+>$")
ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


@dataclass
class Run:
    machines: list
    script: str
    prints: str = None
    line: int = 0  # where the block is in the guide, for messages


@dataclass
class Copy:
    source: str
    machines: list
    destination: str
    line: int = 0


@dataclass
class Guide:
    names: dict = field(default_factory=dict)  # machine -> the names it answers to
    steps: list = field(default_factory=list)

    def placeholders(self):
        return {m.group(1) for step in self.steps if isinstance(step, Run)
                for line in step.script.splitlines() if (m := PLACEHOLDER.match(line.strip()))}


def _tags(text, line):
    tags = {}
    for item in text.split():
        key, sep, value = item.partition("=")
        if not sep or key not in ("machine", "prints"):
            raise ValueError(f"docs/admin.md:{line}: unknown tag {item!r} (machine=..., prints=VAR)")
        tags[key] = value
    if "machine" not in tags:
        raise ValueError(f"docs/admin.md:{line}: a tagged block names no machine")
    return tags


def parse(text):
    guide = Guide()
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if m := MACHINES.match(line):
            for item in m.group(1).split():
                name, _, names = item.partition("=")
                guide.names[name] = names.split(",")
        elif m := COPY.match(line):
            guide.steps.append(Copy(m.group(1), m.group(2).split(","), m.group(3), i + 1))
        elif m := FENCE.match(line):
            tags = _tags(m.group(1), i + 1)
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
            if end is None:
                raise ValueError(f"docs/admin.md:{i + 1}: the block never ends")
            guide.steps.append(Run(tags["machine"].split(","), "\n".join(lines[i + 1:end]) + "\n",
                                   tags.get("prints"), i + 1))
            i = end
        i += 1
    for step in guide.steps:
        unknown = [m for m in step.machines if m != "all" and m not in guide.names]
        if unknown:
            raise ValueError(f"docs/admin.md:{step.line}: machine {unknown} is not in the guide-test machines line")
    return guide


def printed_values(output):
    """machine -> value from the `NAME: VALUE` lines of a prints=VAR block's output."""
    return {m.group(1): m.group(2) for m in re.finditer(r"^([\w.-]+): (\S+)$", output, re.M)}


class Shells:
    """What each machine's shell knows: the values filled into placeholders and the variables the
    blocks set (their assignment lines, replayed before each later block on that machine)."""

    def __init__(self, settings):
        self.settings = dict(settings)  # VAR -> value for every machine
        self.printed = {}               # VAR -> {machine: value}
        self.assignments = {}           # machine -> [lines]

    def script(self, run, machine):
        body = []
        for line in run.script.splitlines():
            if m := PLACEHOLDER.match(line.strip()):
                var = m.group(1)
                value = self.settings.get(var, self.printed.get(var, {}).get(machine))
                if value is None:
                    raise AssertionError(f"docs/admin.md:{run.line}: nothing printed {var} for {machine}")
                line = f"{var}='{value}'"
            body.append(line)
        known = self.assignments.setdefault(machine, [])
        script = "set -e\n" + "".join(a + "\n" for a in known) + "\n".join(body) + "\n"
        known += [line for line in body if ASSIGNMENT.match(line)]
        return script

    def record(self, run, output):
        if run.prints:
            values = printed_values(output)
            if not values:
                raise AssertionError(f"docs/admin.md:{run.line}: prints={run.prints} but printed no `NAME: VALUE`")
            self.printed.setdefault(run.prints, {}).update(values)
