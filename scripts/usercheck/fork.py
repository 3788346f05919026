import os, ffitel
ffitel.init_telemetry()
kids = []
for k in range(3):
    pid = os.fork()
    if pid == 0:
        with ffitel.span("child job", attributes={"k": k}) as s:
            s.add_event("child ev", k=k)
            for i in range(500):
                ffitel.info("from child", k=k, i=i)
        os._exit(0)
    kids.append(pid)
for p in kids: os.waitpid(p, 0)
with ffitel.span("parent job"):
    ffitel.info("parent after fork")
ffitel.shutdown(30)
print("parent done")
