#!/usr/bin/env python3
"""Fails if the top-level modules (folders and files) of a crate's src/ use each other in a
loop; prints the layers it found: each module above every module it uses.

Usage: scripts/layers.py SRC_DIR...

A module uses another when one of its files names `crate::other` outside comments and outside
its trailing `mod tests`. `lib.rs` and `main.rs` are the crate's facade and are not counted.
"""
import os
import re
import sys


def modules(src):
    """Top-level module name -> its source files."""
    found = {}
    for root, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(root, name)
            parts = os.path.relpath(path, src).split(os.sep)
            top = parts[0][:-3] if len(parts) == 1 else parts[0]
            if top not in ("lib", "main"):
                found.setdefault(top, []).append(path)
    return found


def uses(files, names, me):
    """The other top-level modules these files name."""
    used = set()
    for path in files:
        text = open(path, encoding="utf-8").read()
        text = re.split(r"\n#\[cfg\(test\)\]\s*\nmod tests\b", text)[0]
        text = re.sub(r"//[^\n]*", "", text)
        for match in re.finditer(r"\bcrate::(\w+)", text):
            if match.group(1) in names and match.group(1) != me:
                used.add(match.group(1))
        for group in re.finditer(r"use\s+crate::\{([^;]*)\}", text):
            for name in re.findall(r"(?:^|[,{\s])(\w+)(?:::|\s*[,}])", group.group(1)):
                if name in names and name != me:
                    used.add(name)
    return used


def layers(graph):
    """Modules by layer (0 uses nothing), or None and the modules in loops."""
    level, state = {}, {}

    def visit(module, path):
        if state.get(module) == "done":
            return True
        if state.get(module) == "open":
            path.append(module)
            return False
        state[module] = "open"
        for used in sorted(graph[module]):
            if not visit(used, path):
                if not path or path[0] != path[-1] or len(path) == 1:
                    path.append(module)
                return False
        state[module] = "done"
        level[module] = 1 + max((level[u] for u in graph[module]), default=-1)
        return True

    for module in sorted(graph):
        path = []
        if not visit(module, path):
            return None, path
    by_level = {}
    for module, at in level.items():
        by_level.setdefault(at, []).append(module)
    return [sorted(by_level[i]) for i in sorted(by_level)], []


failed = False
for src in sys.argv[1:]:
    found = modules(src)
    graph = {m: uses(files, found, m) for m, files in found.items()}
    stack, loop = layers(graph)
    if stack is None:
        failed = True
        print(f"{src}: a loop between top-level modules: {' -> '.join(reversed(loop))}")
        continue
    print(f"{src}: {len(found)} top-level modules in {len(stack)} layers, no loop")
    for at in reversed(range(len(stack))):
        print(f"  {at}: {'  '.join(stack[at])}")
sys.exit(1 if failed else 0)
