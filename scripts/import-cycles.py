#!/usr/bin/env python3
"""Fails if the files of a crate import each other in a cycle, or if a source file is over 500
lines. Usage: scripts/import-cycles.py SRC_DIR...

An edge A -> B is a `use` in file A (outside its `mod tests`) of an item defined in file B
(crate::, super::, self:: and child-module paths, resolved to the longest module prefix that
is a file). Facade modules (`mod.rs` that only declare and re-export) are fine as long as no
child imports from its facade.
"""
import os,re,sys
def modfiles(root):
    m={}
    for dp,dn,fn in os.walk(root):
        for f in fn:
            if not f.endswith('.rs'): continue
            p=os.path.join(dp,f); rel=os.path.relpath(p,root)[:-3].split(os.sep)
            if rel[-1] in ('mod','lib','main'): rel=rel[:-1]
            m[tuple(rel)]=p
    return m
def resolve(mods, path):
    # longest prefix that is a module
    for i in range(len(path),-1,-1):
        if tuple(path[:i]) in mods: return tuple(path[:i])
    return None
failed=False
for root in sys.argv[1:]:
    mods=modfiles(root); edges={k:set() for k in mods}
    for mod,p in mods.items():
        src=open(p).read()
        src=re.split(r'#\[cfg\((?:all\()?test[^\n]*\n(?:#\[[^\n]*\n)*mod tests', src)[0]
        for m in re.finditer(r'^\s*(?:pub(?:\([^)]*\))?\s+)?use\s+(\w+(?:::\w+)*)(?:::\{([^;]*)\})?',src,re.M):
            base=m.group(1).split('::'); items=[]
            if base[0] not in ('crate','super','self'):
                if tuple(list(mod)+[base[0]]) in mods: base=['self']+base
                else: continue
            if m.group(2): items=[x.strip().split('::')[0].split(' ')[0] for x in m.group(2).split(',') if x.strip()]
            def absol(parts):
                cur=list(mod)
                if parts[0]=='crate': return parts[1:]
                out=list(mod) if p.endswith(('mod.rs','lib.rs')) else list(mod)
                res=list(mod)
                for x in parts:
                    if x=='super': res=res[:-1]
                    elif x=='self': pass
                    else: res.append(x)
                return res
            targets=[absol(base+[i]) for i in items] if items else [absol(base)]
            for t in targets:
                r=resolve(mods,t)
                if r is not None and r!=mod and not (len(r)<len(mod) and mod[:len(r)]==r and False):
                    edges[mod].add(r)
    # find cycles via Tarjan
    idx={};low={};st=[];on=set();res=[];c=[0]
    def sc(v):
        idx[v]=low[v]=c[0];c[0]+=1;st.append(v);on.add(v)
        for w in edges[v]:
            if w not in idx: sc(w);low[v]=min(low[v],low[w])
            elif w in on: low[v]=min(low[v],idx[w])
        if low[v]==idx[v]:
            comp=[]
            while True:
                w=st.pop();on.discard(w);comp.append(w)
                if w==v: break
            if len(comp)>1: res.append(comp)
    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in idx: sc(v)
    cycles=[['::'.join(x) or 'lib' for x in comp] for comp in res]
    long=[(p, n) for p in mods.values() for n in [sum(1 for _ in open(p))] if n > 500]
    print(f"{root}: {len(mods)} files, {len(cycles)} import cycles, {len(long)} files over 500 lines")
    for c in cycles: print('  cycle:', ' <-> '.join(c))
    for p, n in long: print(f'  {p}: {n} lines')
    failed = failed or bool(cycles) or bool(long)

sys.exit(1 if failed else 0)
