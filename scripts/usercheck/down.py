import time, ffitel
ffitel.init_telemetry()
for i in range(5000): ffitel.info("down", i=i)
for i in range(500):
    with ffitel.span("down span"): pass
t=time.time(); ffitel.shutdown(); d=time.time()-t
st=ffitel.stats()["pipeline"]
print("shutdown %.2fs" % d, st["logs"], st["spans"])
