import torch, math
from pgjets.nn import SinusoidalPositionalEncoding
from pgjets.nn.positional import sinusoidal_encoding, local_positions
def ref(P, d):
    pe=torch.zeros(len(P), d, dtype=torch.float64)
    for a,p in enumerate(P):
        for j in range(d):
            i=j//2
            ang=p/10000**(2*i/d)
            pe[a,j]=math.sin(ang) if j%2==0 else math.cos(ang)
    return pe
P=torch.arange(0,50,dtype=torch.float64)
for d in (1,2,5,8,16):
    print(d, torch.allclose(sinusoidal_encoding(P,d).double(), ref(P.tolist(),d), atol=1e-6))
# fractional / negative
print("frac", torch.allclose(sinusoidal_encoding(torch.tensor([0.5,-3.2],dtype=torch.float64),6), ref([0.5,-3.2],6)))
# integer input dtype
print("int input dtype", sinusoidal_encoding(torch.arange(3),4).dtype)
# module
m=SinusoidalPositionalEncoding(8,max_len=100)
x=torch.zeros(7,8); b=torch.tensor([0,0,0,1,1,2,2])
out=m(x,b)
print("local pos", local_positions(b).tolist())
print("module matches", torch.allclose(out.double(), ref([0,1,2,0,1,0,1],8),atol=1e-6))
bu=torch.tensor([1,0,1,0,2,0,2])
print("unsorted local", local_positions(bu).tolist())
print("ptr", local_positions(b, torch.tensor([0,3,5,7])).tolist())
print("no batch", torch.allclose(m(x).double(), ref(list(range(7)),8),atol=1e-6))
print("position arg", torch.allclose(m(x,position=torch.tensor([0.,1,2,0,1,0,1])).double(), ref([0,1,2,0,1,0,1],8),atol=1e-6))
# float64 x: table precision
xd=torch.zeros(3,8,dtype=torch.float64)
try:
    o=m(xd,position=None); print("f64 table err", (o-ref([0,1,2],8)).abs().max().item())
except Exception as e: print("f64:", type(e).__name__, e)
m64=SinusoidalPositionalEncoding(8,max_len=100).double()
print("after .double() err", (m64(xd,torch.tensor([0,0,0]))-ref([0,0,0],8)).abs().max().item(), (m64(torch.zeros(99,8,dtype=torch.float64))-ref(list(range(99)),8)).abs().max().item())
# max_len
try: m(torch.zeros(101,8))
except Exception as e: print("max_len:", type(e).__module__, type(e).__name__, e)
for name,f in [("wrong ch", lambda: m(torch.zeros(3,4))),("batch len", lambda: m(x,b[:3])),("pos len",lambda: m(x,position=torch.zeros(3))),
               ("neg batch", lambda: m(x,b-1)),("nan pos", lambda: m(x,position=torch.full((7,),float('nan')))),
               ("nan x", lambda: m(x*float('nan'),b)),("empty", lambda: m(torch.zeros(0,8),torch.zeros(0,dtype=torch.long))),
               ("int x", lambda: m(torch.zeros(3,8,dtype=torch.long))),("ch 0", lambda: SinusoidalPositionalEncoding(0)),
               ("float batch", lambda: m(x,b.float())), ("2d batch", lambda: m(x,b.view(7,1)))]:
    try: r=f(); print(name,"OK", r.shape if hasattr(r,'shape') else r, "nan?" , r.isnan().any().item() if hasattr(r,'isnan') else '')
    except Exception as e: print(name, type(e).__module__, type(e).__name__, str(e)[:100])
# state dict
sd=m.state_dict(); print("state keys", list(sd.keys()))
