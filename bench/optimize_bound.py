#!/usr/bin/env python3
# docs/optimize.md, "Figures": a lower bound for per-layer widths on the jet tagger.
#   cargo build --release && python3 bench/optimize_bound.py      (numpy; about a minute)
# Lower-bound experiment: each activation narrowed alone (the others at the 16-bit start)
# until argmax disagreement with the 16-bit reference exceeds 0.5%; then every site at its
# individual minimum together, compiled (after lossless narrowing) for its cost.
import copy, json, os, subprocess, tempfile
import numpy as np
ROOT=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B=os.path.join(ROOT,'target/release/rtl4ml'); D=tempfile.mkdtemp(prefix='optimize_bound')
base=json.load(open(os.path.join(ROOT,'models/jet_tagger_16b.json')))
calib=os.path.join(ROOT,'models/calib/jet_tagger.npy')
def sim(m, tag):
    p=f'{D}/{tag}.json'; json.dump(m, open(p,'w'))
    subprocess.run(['nice',B,'sim',p,'--input',calib,'--output',f'{D}/{tag}.npy','--raw'],check=True,capture_output=True)
    return np.load(f'{D}/{tag}.npy')
ref=sim(base,'ref').argmax(1)
def build(cfg):
    m=copy.deepcopy(base)
    ly=m['layers']
    xi,xf=cfg['x_q']
    ly.insert(0,{'name':'x_q','kind':'quantize','input':'x','result':f'fixed<{xi+xf+1},{xi+1},TRN,SAT>'})
    ly[1]['input']='x_q'
    for l in ly:
        if l['kind']=='dense' and l['name']!='fc4': l['result']='fixed<40,16>'
        if l['name'] in cfg and l['kind']=='relu':
            i,f=cfg[l['name']]; l['result']=f'ufixed<{i+f},{i},RND,SAT>'
    return m
def dis(cfg,tag='c'):
    return float((sim(build(cfg),tag).argmax(1)!=ref).mean())
start={'x_q':(5,10),'relu1':(5,10),'relu2':(5,10),'relu3':(5,10)}
print('start (exact sums, RND relus):', dis(start))
minima={}
for s in start:
    i,f=start[s]
    while True:
        c=dict(start); c[s]=(i,f-1)
        if dis(c)>0.005: break
        f-=1
    while i>0:
        c=dict(start); c[s]=(i-1,start[s][1])
        if dis(c)>0.005: break
        i-=1
    minima[s]=(i,f); print(s,'alone: int',i,'frac',f, flush=True)
combo=build(minima); p=f'{D}/combo.json'; json.dump(combo,open(p,'w'))
print('combined minima disagreement', dis(minima,'combo'))
subprocess.run(['nice',B,'optimize',p,'--calib',calib,'--lossless-only','-q','-o',f'{D}/combo.opt.json'],check=True)
r=json.load(open(f'{D}/combo.opt.pareto.json'))
print('combined minima cost after lossless narrowing: LUT',r['after']['lut'],'FF',r['after']['ff'],'cycles',r['after']['latency_cycles'])
