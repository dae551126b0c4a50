#!/usr/bin/env python3
"""Counts the public names of a crate (its root and its public modules), from the item list
rustdoc writes (`all.html`), and fails above a ceiling: the API may shrink, never grow
unnoticed. Names re-exported in two places count once.

Usage: scripts/public-names.py DOC_DIR/CRATE CEILING
"""
import collections
import re
import sys

crate_docs, ceiling = sys.argv[1], int(sys.argv[2])
listing = open(f"{crate_docs}/all.html", encoding="utf-8").read()
items = re.findall(r'<li><a href="([^"]+)\.html">([^<]+)</a></li>', listing)
kinds = collections.Counter(href.rsplit("/", 1)[-1].split(".")[0] for href, _ in items)
print(f"{crate_docs}: {len(items)} public names (ceiling {ceiling}): "
      + ", ".join(f"{n} {kind}s" for kind, n in kinds.most_common()))
sys.exit(0 if len(items) <= ceiling else 1)
