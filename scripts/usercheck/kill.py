import os, sys, ffitel
ffitel.init_telemetry()
for i in range(20000):
    ffitel.info("before kill", i=i)
for i in range(100):
    with ffitel.span("killed job", attributes={"i": i}) as s:
        s.add_event("ev", n=i)
        s.set_attributes({"late": True})
os.kill(os.getpid(), 9)
