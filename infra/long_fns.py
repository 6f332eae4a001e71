#!/usr/bin/env python3
"""Lists production Rust functions longer than a limit (default 80 lines).

Usage: infra/long_fns.py [--limit N] [--top K] DIR...

A function's length runs from the line of its `fn` keyword to the line of its closing
brace. Test code is left out: `#[cfg(test)]` items (inline `mod tests { ... }` and
`mod x;` files they declare), and files under `tests/` or `benches/`. Exits 1 when a
function is over the limit, so it can gate a check.
"""

import argparse
import os
import re
import sys

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def tokens(src):
    """Yields (kind, text, line) for identifiers, punctuation and attributes, skipping
    comments, strings and character literals (so braces inside them do not count)."""
    i, line, n = 0, 1, len(src)
    while i < n:
        c = src[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if src.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif src.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    line += src[i] == "\n"
                    i += 1
        elif c == "r" and re.match(r'r#*"', src[i:i + 258]) and not (i and (src[i - 1].isalnum() or src[i - 1] == "_")):
            m = re.match(r'r(#*)"', src[i:])
            end = src.find('"' + m.group(1), i + len(m.group(0)))
            end = n if end < 0 else end + 1 + len(m.group(1))
            line += src.count("\n", i, end)
            i = end
        elif c == "b" and i + 1 < n and src[i + 1] in "\"'" and not (i and (src[i - 1].isalnum() or src[i - 1] == "_")):
            i += 1
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            line += src.count("\n", i, j)
            i = j + 1
        elif c == "'":
            # A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", src[i:])
            if m:
                i += len(m.group(0))
            else:
                i += 1
        elif c == "#" and src.startswith("#[", i):
            depth, j = 0, i + 1
            while j < n:
                if src[j] == "[":
                    depth += 1
                elif src[j] == "]":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            yield ("attr", re.sub(r"\s+", "", src[i:j + 1]), line)
            line += src.count("\n", i, j)
            i = j + 1
        elif c.isalpha() or c == "_":
            m = IDENT.match(src, i)
            yield ("ident", m.group(0), line)
            i = m.end()
        else:
            yield ("punct", c, line)
            i += 1


def functions(path):
    """(name, first line, last line) of every non-test fn in a file, and the names of
    modules it declares under `#[cfg(test)]`."""
    toks = list(tokens(open(path, encoding="utf-8").read()))
    out, test_mods = [], []
    depth, skip_below = 0, None
    open_fns = []  # (name, line, depth at its body's opening brace)
    pending_test = False
    k = 0
    while k < len(toks):
        kind, text, line = toks[k]
        if kind == "attr":
            if text in ("#[cfg(test)]",):
                pending_test = True
        elif kind == "ident" and text == "mod" and pending_test and k + 2 < len(toks):
            name = toks[k + 1][1]
            if toks[k + 2][1] == ";":
                test_mods.append(name)
                pending_test = False
            elif toks[k + 2][1] == "{" and skip_below is None:
                skip_below = depth
        elif kind == "ident" and text == "fn" and k + 1 < len(toks) and toks[k + 1][0] == "ident":
            # The body starts at the first `{` at this nesting level before a `;`.
            j, paren = k + 2, 0
            while j < len(toks):
                t = toks[j][1]
                if t in "([<":
                    paren += 1
                elif t in ")]>":
                    paren -= 1
                elif t == ";" and paren <= 0:
                    j = None
                    break
                elif t == "{" and paren <= 0:
                    break
                j += 1
            if j is not None and skip_below is None and not pending_test:
                open_fns.append((toks[k + 1][1], line, depth, j))
            pending_test = False
        elif kind == "punct" and text == "{":
            depth += 1
        elif kind == "punct" and text == "}":
            depth -= 1
            if open_fns and depth == open_fns[-1][2]:
                name, first, _, _ = open_fns.pop()
                out.append((name, first, line))
            if skip_below is not None and depth == skip_below:
                skip_below = None
                pending_test = False
        elif kind == "punct" and text in ";}":
            pending_test = False
        k += 1
    return out, test_mods


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=80)
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("dirs", nargs="+")
    args = ap.parse_args()
    found = []
    for d in args.dirs:
        skipped = set()
        for root, dirs, files in sorted(os.walk(d)):
            dirs[:] = sorted(x for x in dirs if x not in ("tests", "benches", "target"))
            for f in sorted(files):
                if not f.endswith(".rs"):
                    continue
                path = os.path.join(root, f)
                fns, test_mods = functions(path)
                for m in test_mods:
                    skipped.add(os.path.join(root, m + ".rs"))
                    skipped.add(os.path.join(root, m, "mod.rs"))
                found.extend((last - first + 1, path, name, first) for name, first, last in fns)
        found = [x for x in found if x[1] not in skipped]
    found.sort(reverse=True)
    over = [x for x in found if x[0] > args.limit]
    for n, path, name, first in over or found[: args.top]:
        print(f"{n:5} {path}:{first} {name}")
    if over:
        print(f"{len(over)} function(s) over {args.limit} lines", file=sys.stderr)
        return 1
    print(f"no function over {args.limit} lines ({len(found)} checked)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
