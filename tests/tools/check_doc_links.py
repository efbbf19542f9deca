#!/usr/bin/env python3
"""Every link and file reference in README.md and docs/*.md names a file inside the repository that
exists: a newcomer's clone has nothing outside it (no ../shared/, no paths of one developer's
machine). Checked: Markdown links [text](target) that are not URLs or anchors, and `code spans`
that look like repository paths (contain a slash and end in a file extension), except those under
build/ (what a build writes).

  check_doc_links.py REPO     exit 1 with one line per broken reference
  check_doc_links.py --self-test
"""
import os
import re
import sys

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE_PATH = re.compile(r"`((?:\.\./|\./)?[\w.-]+(?:/[\w.-]+)+\.[A-Za-z0-9]+)`")


def references(text):
    """(line number, target) of each file reference in one Markdown text."""
    out = []
    in_fence = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        for m in LINK.finditer(line):
            target = m.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # a URL (https:, mailto:) or an anchor in the same page
            out.append((number, target.split("#", 1)[0]))
        for m in CODE_PATH.finditer(line):
            if m.group(1).startswith("build/"):
                continue  # what a build writes (logs, binaries): not in a fresh clone, by design
            out.append((number, m.group(1)))
    return out


def broken(repo, doc_path, text):
    """Messages for the references in `text` (the file at doc_path) that leave the repository or
    name nothing."""
    repo = os.path.realpath(repo)
    base = os.path.dirname(os.path.realpath(doc_path))
    problems = []
    for number, target in references(text):
        # Relative to the document (Markdown links) or to the repository's root (code spans name
        # paths as a reader types them at the root); either may hold.
        candidates = [os.path.realpath(os.path.join(base, target)), os.path.realpath(os.path.join(repo, target))]
        inside = [c for c in candidates if c == repo or c.startswith(repo + os.sep)]
        where = f"{os.path.relpath(doc_path, repo)}:{number}"
        if not inside:
            problems.append(f"{where}: {target} is outside the repository")
        elif not any(os.path.exists(c) for c in inside):
            problems.append(f"{where}: {target} does not exist")
    return problems


def documents(repo):
    yield os.path.join(repo, "README.md")
    docs = os.path.join(repo, "docs")
    for name in sorted(os.listdir(docs)):
        if name.endswith(".md"):
            yield os.path.join(docs, name)


def self_test():
    import tempfile
    with tempfile.TemporaryDirectory() as repo:
        os.makedirs(os.path.join(repo, "docs"))
        open(os.path.join(repo, "docs", "a.md"), "w").close()
        doc = os.path.join(repo, "README.md")
        good = ("[A](docs/a.md) [web](https://example.org/x.md) [top](#top) `docs/a.md` `build/setup.log`\n"
                "```\n`../x/y.md`\n```\n")
        assert broken(repo, doc, good) == [], broken(repo, doc, good)
        bad = "[D](../shared/DESIGN.md)\n`../shared/DESIGN.md`\n[gone](docs/b.md)\n"
        got = broken(repo, doc, bad)
        assert got == ["README.md:1: ../shared/DESIGN.md is outside the repository",
                       "README.md:2: ../shared/DESIGN.md is outside the repository",
                       "README.md:3: docs/b.md does not exist"], got
    print("self-test passed")
    return 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    repo = argv[1]
    problems = []
    for doc in documents(repo):
        with open(doc, encoding="utf-8") as f:
            problems += broken(repo, doc, f.read())
    for p in problems:
        print(p)
    print(f"{len(problems)} broken reference(s) in README.md and docs/")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
